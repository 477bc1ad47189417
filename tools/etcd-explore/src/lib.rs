//! etcd-explore: probe an etcd endpoint.

use std::process::ExitCode;

use clap::Parser;
use reshifter_cli as cli;
use reshifter_etcd::EtcdArgs;

const EXAMPLES: &str = "\
Examples:
  etcd-explore --endpoints 127.0.0.1:2379
  etcd-explore --endpoints https://10.0.0.1:2379 --cacert ca.crt --cert c.crt --key c.key --json | jq .distribution
  ETCDCTL_USER=root ETCDCTL_PASSWORD_FILE=pw etcd-explore

Reports etcd version, cluster and member ids, leader and members, database size, current and
compacted revision, whether TLS and auth are on, which Kubernetes distribution keeps its state
there (/registry, /kubernetes.io, /openshift.io) and whether the v2 API answers.";

/// Probe an etcd endpoint: version, cluster, members, sizes, revisions, TLS, auth, Kubernetes.
#[derive(Parser, Debug)]
#[command(name = "etcd-explore", version, after_help = EXAMPLES)]
struct Args {
    #[command(flatten)]
    etcd: EtcdArgs,

    /// JSON instead of a table
    #[arg(long)]
    json: bool,
}

/// The tool's `main`, given its command line (argument 0 is the tool's name).
pub fn main(args: Vec<std::ffi::OsString>) -> ExitCode {
    cli::main("etcd-explore", args, |a: Args| reshifter_etcd::explore::run(a.etcd, a.json))
}
