//! kv-apply: a base dump and its deltas, brought to one revision, as a stream.

use std::process::ExitCode;

use clap::Parser;
use reshifter_cli as cli;
use reshifter_kv::apply::{self, ApplyOptions};

const EXAMPLES: &str = "\
Examples:
  kv-apply --to-rev 123456 base.ndjson deltas/*.ndjson | etcd-load --endpoints https://new:2379
  kv-apply base.ndjson deltas/*.ndjson -o latest.ndjson        # as far as the deltas reach
  kv-apply --to-rev R <(archive-unpack base.zip) <(s3-pull s3://b/prod/deltas/delta-...zip | archive-unpack)
  kv-apply --to-rev R base.ndjson deltas/*.ndjson | kv-diff - <(etcd-dump --rev R)   # check it

The base is a keyspace stream at revision B (etcd-dump); the deltas (etcd-watch segments) may
come in any order but must hold every revision from B to R: a missing segment is refused,
naming the revisions, and so are two segments that disagree about a revision they share. The
output is the keyspace as it was at revision R, in key order, with a trailer: the same records
etcd-dump --rev R writes. Memory stays bounded: the changes are sorted on disk.";

/// Bring a base dump to any revision its deltas reach: a full reshifter stream.
#[derive(Parser, Debug)]
#[command(name = "kv-apply", version, after_help = EXAMPLES)]
struct Args {
    #[command(flatten)]
    opts: ApplyOptions,
}

/// The tool's `main`, given its command line (argument 0 is the tool's name).
pub fn main(args: Vec<std::ffi::OsString>) -> ExitCode {
    cli::main("kv-apply", args, |a: Args| apply::run(a.opts))
}
