//! etcd-dump: write an etcd v3 keyspace, read at one revision, as a reshifter stream.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use reshifter::cli::{self, parse_size};
use reshifter::dump::{self, DumpOptions};
use reshifter::etcd::EtcdArgs;

const EXAMPLES: &str = "\
Examples:
  etcd-dump > backup.ndjson
  etcd-dump --endpoints https://10.0.0.1:2379 --cacert ca.crt --cert client.crt --key client.key \\
      | archive-pack -o backup.zip
  etcd-dump --prefix /registry/ --prefix /openshift.io/ -o backup.ndjson
  ETCDCTL_USER=root ETCDCTL_PASSWORD_FILE=/run/secrets/etcd etcd-dump | kv-stats
  etcd-dump --rev 123456 | jq -c 'select(.type or (.key // \"\" | startswith(\"/registry/pods/\")))'

The stream is NDJSON: a header line, one line per key, a trailer line (docs/FORMAT.md).
Every page is read at the same revision: writes made during the dump never appear.
A failed dump writes no trailer, so no consumer mistakes it for a complete backup.";

/// Dump an etcd v3 keyspace, at one revision, as a reshifter NDJSON stream on stdout.
#[derive(Parser, Debug)]
#[command(name = "etcd-dump", version, after_help = EXAMPLES)]
struct Args {
    #[command(flatten)]
    etcd: EtcdArgs,

    /// Dump only keys starting with PREFIX (repeatable; default: the whole keyspace)
    #[arg(long = "prefix", value_name = "PREFIX")]
    prefixes: Vec<String>,

    /// Read at this revision instead of the current one (must not be compacted)
    #[arg(long, value_name = "REVISION")]
    rev: Option<i64>,

    /// Most keys per range request (etcd 3.4 walks its index from a page's first key to the end
    /// of the range on every request, so fewer, larger pages are much faster on big keyspaces)
    #[arg(long, default_value_t = 65536, value_name = "N")]
    page_keys: usize,

    /// Target size of a range response; pages shrink or grow to it (KiB/MiB = 1024-based,
    /// kB/MB = 1000-based)
    #[arg(long, default_value = "4MiB", value_parser = parse_size, value_name = "SIZE")]
    page_bytes: usize,

    /// Write to FILE (mode 0600, renamed into place when complete) instead of stdout
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,

    /// No summary on stderr
    #[arg(short, long)]
    quiet: bool,
}

/// The tool's `main`, given its command line (argument 0 is the tool's name).
pub fn main(args: Vec<std::ffi::OsString>) -> ExitCode {
    cli::main("etcd-dump", args, |a: Args| {
        dump::run(DumpOptions {
            etcd: a.etcd,
            prefixes: a.prefixes,
            revision: a.rev,
            page_keys: a.page_keys,
            page_bytes: a.page_bytes,
            output: a.output,
            quiet: a.quiet,
        })
    })
}
