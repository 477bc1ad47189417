//! node-stats: the certificates, keys and kubeconfigs of a files stream, at a glance.

use std::process::ExitCode;

use clap::Parser;
use reshifter_cli as cli;
use reshifter_node::stats::{self, StatsOptions};

const EXAMPLES: &str = "\
Examples:
  node-dump | node-stats
  archive-unpack -i key.txt node-cp1.zip.age | node-stats --warn-days 90
  node-stats --json cp1.files.ndjson | jq -r '.certificates[] | select(.days_left < 60) | .path'
  node-stats --at 2027-06-01T00:00:00Z cp1.files.ndjson     # what will have expired by then

For each certificate: subject, issuer and the CA in the stream whose key signed it, SANs,
not-after and days left, the private key that matches it. For each key: which certificate (or,
for sa.key, which public key) it pairs with. For each kubeconfig: its servers and users, with
their client certificates' expiry. Warnings: expired or expiring within --warn-days, signed by
no certificate in the stream, keys without their other half.";

/// Report on the certificates, keys and kubeconfigs of a files stream (node-dump).
#[derive(Parser, Debug)]
#[command(name = "node-stats", version, after_help = EXAMPLES)]
struct Args {
    #[command(flatten)]
    opts: StatsOptions,
}

/// The tool's `main`, given its command line (argument 0 is the tool's name).
pub fn main(args: Vec<std::ffi::OsString>) -> ExitCode {
    cli::main("node-stats", args, |a: Args| {
        let mut out = reshifter_format::io::stdout();
        stats::stats(a.opts, &mut out).map(|_| ())
    })
}
