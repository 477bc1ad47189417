//! etcd-load: write a reshifter stream into etcd.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use reshifter::cli::{self, parse_size};
use reshifter::etcd::EtcdArgs;
use reshifter::load::{self, LeaseMode, LoadOptions, Mode};

const EXAMPLES: &str = "\
Examples:
  etcd-load --endpoints 127.0.0.1:2379 < backup.ndjson
  archive-unpack backup.zip | etcd-load --endpoints https://new:2379 --cacert ca.crt
  etcd-load --mode sync --dry-run backup.ndjson | jq -r 'select(.action == \"delete\") | .key'
  etcd-dump --endpoints old:2379 | etcd-load --endpoints new:2379 --mode create-only

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
counted, never an error.";

/// Restore a reshifter stream into etcd with batched, guarded transactions.
#[derive(Parser, Debug)]
#[command(name = "etcd-load", version, after_help = EXAMPLES)]
struct Args {
    /// Stream to read (default: stdin)
    #[arg(value_name = "INPUT")]
    input: Option<PathBuf>,

    #[command(flatten)]
    etcd: EtcdArgs,

    /// What to do with keys that already exist
    #[arg(long, value_enum, default_value = "overwrite")]
    mode: Mode,

    /// Keys that had a lease: regrant a lease with the TTL left at dump time, or drop the lease
    #[arg(long, value_enum, default_value = "regrant")]
    leases: LeaseMode,

    /// Report what would change (NDJSON on stdout) and write nothing
    #[arg(long)]
    dry_run: bool,

    /// Most operations per transaction (etcd's --max-txn-ops)
    #[arg(long, default_value_t = 128, value_name = "N")]
    max_txn_ops: usize,

    /// Largest transaction request (etcd's --max-request-bytes; KiB/MiB = 1024-based, kB/MB =
    /// 1000-based)
    #[arg(long, default_value = "1.5MiB", value_parser = parse_size, value_name = "SIZE")]
    max_request_bytes: usize,

    /// With --mode sync on a format-1 stream (no digest covers its header): take its prefixes
    /// as complete
    #[arg(long)]
    assume_complete: bool,

    /// Transactions in flight at once
    #[arg(long, default_value_t = 8, value_name = "N")]
    concurrency: usize,

    /// No summary on stderr
    #[arg(short, long)]
    quiet: bool,
}

/// The tool's `main`, given its command line (argument 0 is the tool's name).
pub fn main(args: Vec<std::ffi::OsString>) -> ExitCode {
    cli::main("etcd-load", args, |a: Args| {
        load::run(LoadOptions {
            etcd: a.etcd,
            input: a.input,
            mode: a.mode,
            leases: a.leases,
            dry_run: a.dry_run,
            max_txn_ops: a.max_txn_ops,
            max_request_bytes: a.max_request_bytes,
            concurrency: a.concurrency,
            assume_complete: a.assume_complete,
            quiet: a.quiet,
        })
    })
}
