//! etcd-load: write a reshifter stream into etcd.

use std::process::ExitCode;

use clap::Parser;
use reshifter_cli::{self as cli};
use reshifter_etcd::load::{self, LoadOptions};

const EXAMPLES: &str = "\
Examples:
  etcd-load --endpoints 127.0.0.1:2379 < backup.ndjson
  archive-unpack backup.zip | etcd-load --endpoints https://new:2379 --cacert ca.crt
  etcd-load --mode sync --dry-run backup.ndjson | jq -r 'select(.action == \"delete\") | .key'
  etcd-dump --endpoints old:2379 | etcd-load --endpoints new:2379 --mode create-only
  etcd-load --mode sync --plan backup.ndjson                # per resource and namespace, writes nothing
  etcd-load --mode sync --bump-revision --mark-compacted backup.ndjson   # a cluster's own restore

Modes: overwrite writes every key (keys already equal are left untouched); create-only
writes only keys that do not exist; sync also deletes keys under the stream's prefixes
that the stream does not hold — only after the whole stream was read, verified and
written, and only for a stream whose header claims, under its digest, to hold every key
under its prefixes (etcd-dump's do; filtered streams do not). --dry-run prints each
create/update/delete as NDJSON on stdout and writes nothing.
A stream without its trailer, or with a wrong digest, ends the load with a non-zero exit
that says exactly how many keys were written: a partial restore never looks like success.
To resume a failed load, run the same command again: keys already written are unchanged.
Keys whose lease expired (before the dump ended, or during the restore) are skipped and
counted, never an error.
Kubernetes: restoring a cluster's own state into a fresh etcd would make resourceVersions go
backwards (revisions restart near 1), and clients that watch from what they saw would miss
changes silently. --bump-revision raises the revision above the stream's plus a margin first
(filler writes: ~24,000 revisions/s), --mark-compacted then compacts there so every older
watch is told \"compacted\" and relists. Not for copying keys into a new cluster.";

/// Restore a reshifter stream into etcd with batched, guarded transactions.
#[derive(Parser, Debug)]
#[command(name = "etcd-load", version, after_help = EXAMPLES)]
struct Args {
    #[command(flatten)]
    opts: LoadOptions,
}

/// The tool's `main`, given its command line (argument 0 is the tool's name).
pub fn main(args: Vec<std::ffi::OsString>) -> ExitCode {
    cli::main("etcd-load", args, |a: Args| load::run(a.opts))
}
