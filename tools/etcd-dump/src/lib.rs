//! etcd-dump: write an etcd v3 keyspace, read at one revision, as a reshifter stream.

use std::process::ExitCode;

use clap::Parser;
use reshifter_cli::{self as cli};
use reshifter_etcd::dump::{self, DumpOptions};

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
    opts: DumpOptions,
}

/// The tool's `main`, given its command line (argument 0 is the tool's name).
pub fn main(args: Vec<std::ffi::OsString>) -> ExitCode {
    cli::main("etcd-dump", args, |a: Args| dump::run(a.opts))
}
