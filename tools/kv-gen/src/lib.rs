//! kv-gen: write a synthetic, realistic Kubernetes keyspace as a reshifter stream.

use std::process::ExitCode;

use clap::Parser;
use reshifter_cli as cli;
use reshifter_kv::kvgen::{self, GenOptions};

const EXAMPLES: &str = "\
Examples:
  kv-gen --objects 100000 --seed 1 | etcd-load --endpoints 127.0.0.1:2379
  kv-gen --objects 1000 | kv-stats
  kv-gen --objects 1000000 --small -o scale.ndjson

Keys follow kube-apiserver's layout under /registry/. Built-in objects (Pods, ReplicaSets,
Deployments, Services, Endpoints, EndpointSlices, ConfigMaps, Secrets, Events, ServiceAccounts,
Roles and bindings, Nodes, Namespaces, Leases, Jobs, ...) are protobuf in the k8s\\0 envelope;
CRDs and custom resources are JSON; half the Secrets are encrypted at rest (k8s:enc:aescbc:v1:);
Events are attached to leases. The same --objects and --seed always give the same stream.";

/// Write a synthetic but realistic Kubernetes keyspace as a reshifter stream.
#[derive(Parser, Debug)]
#[command(name = "kv-gen", version, after_help = EXAMPLES)]
struct Args {
    #[command(flatten)]
    opts: GenOptions,
}

/// The tool's `main`, given its command line (argument 0 is the tool's name).
pub fn main(args: Vec<std::ffi::OsString>) -> ExitCode {
    cli::main("kv-gen", args, |a: Args| kvgen::run(a.opts))
}
