//! node-dump: a control-plane node's files (CAs, keys, kubeconfigs, static pods, encryption
//! config) as a files stream.

use std::process::ExitCode;

use clap::Parser;
use reshifter_cli as cli;
use reshifter_node::dump::{self, DumpOptions};

const EXAMPLES: &str = "\
Examples:
  node-dump | archive-pack --recipient age1... -o node-$(hostname).zip.age
  node-dump --root /mnt/cp1-disk --layout kubeadm -o cp1.files.ndjson
  node-dump --layout none --include 'etc/kubernetes/**' --include 'var/lib/kubelet/config.yaml' | node-stats
  ssh cp1 sudo node-dump | archive-pack --recipients-file team.txt | s3-push s3://backups/prod/node-cp1.zip.age

Layouts (found by looking under --root, named in the header):
  kubeadm  etc/kubernetes/{pki/**, *.conf, manifests/*}, and every file the static pods' flags
           (--encryption-provider-config, --audit-policy-file, ...) and the kubeconfigs name
  k3s      var/lib/rancher/k3s/server/{token, agent-token, tls/**, cred/**, manifests/**},
           etc/rancher/k3s/config.yaml{,.d/*}, and files their *-arg entries name
  rke2     as k3s under rke2, and var/lib/rancher/rke2/agent/pod-manifests/*

The stream holds private keys: node-dump refuses to write it to a terminal. Encrypt it
(archive-pack --recipient) before it leaves the node.";

/// Write a control-plane node's files as a files stream.
#[derive(Parser, Debug)]
#[command(name = "node-dump", version, after_help = EXAMPLES)]
struct Args {
    #[command(flatten)]
    opts: DumpOptions,
}

/// The tool's `main`, given its command line (argument 0 is the tool's name).
pub fn main(args: Vec<std::ffi::OsString>) -> ExitCode {
    cli::main("node-dump", args, |a: Args| dump::dump(a.opts).map(|_| ()))
}
