//! kv-stats: keys and bytes per root, resource and namespace; largest keys; encodings; leases.

use std::process::ExitCode;

use clap::Parser;
use reshifter_cli as cli;
use reshifter_kv::stats::{self, StatsOptions};

const EXAMPLES: &str = "\
Examples:
  etcd-dump | kv-stats
  archive-unpack < backup.zip | kv-stats --json | jq '.resources | to_entries | sort_by(-.value.bytes) | .[:5]'
  kv-gen --objects 10000 | kv-stats --top 5

By default values are checked to be well-formed and the trailer's key count and byte total
are checked, but values are not decoded or hashed: --verify also checks the digests.";

/// Report on a reshifter stream: the picture of a cluster's keyspace.
#[derive(Parser, Debug)]
#[command(name = "kv-stats", version, after_help = EXAMPLES)]
struct Args {
    #[command(flatten)]
    opts: StatsOptions,
}

/// The tool's `main`, given its command line (argument 0 is the tool's name).
pub fn main(args: Vec<std::ffi::OsString>) -> ExitCode {
    cli::main("kv-stats", args, |a: Args| stats::run(a.opts))
}
