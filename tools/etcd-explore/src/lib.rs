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
  etcd-explore --etcd-prefix /tenant-a        # an API server started with --etcd-prefix /tenant-a

Reports etcd version, cluster and member ids, leader and members, database size, current and
compacted revision, whether TLS and auth are on, which Kubernetes distribution keeps its state
there (/registry, /kubernetes.io, /openshift.io, --etcd-prefix) and whether the v2 API answers.
Roots nobody named that hold a Kubernetes keyspace (<root>/namespaces/kube-system), at the top
level or one level under a known root, are named with the --etcd-prefix that reads them.";

/// Probe an etcd endpoint: version, cluster, members, sizes, revisions, TLS, auth, Kubernetes.
#[derive(Parser, Debug)]
#[command(name = "etcd-explore", version, after_help = EXAMPLES)]
struct Args {
    #[command(flatten)]
    etcd: EtcdArgs,

    #[command(flatten)]
    etcd_prefix: reshifter_k8s::EtcdPrefix,

    /// JSON instead of a table
    #[arg(long)]
    json: bool,
}

/// The tool's `main`, given its command line (argument 0 is the tool's name).
pub fn main(args: Vec<std::ffi::OsString>) -> ExitCode {
    cli::main("etcd-explore", args, |a: Args| reshifter_etcd::explore::run(a.etcd, a.json, &a.etcd_prefix.roots()))
}
