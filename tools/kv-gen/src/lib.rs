//! kv-gen: write a synthetic, realistic Kubernetes keyspace as a reshifter stream.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use reshifter::cli;
use reshifter::io::Output;
use reshifter::kvgen::{GenOptions, generate};

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
    /// Number of objects (keys) to generate
    #[arg(long, default_value_t = 1000, value_name = "N")]
    objects: u64,

    /// Seed: the same seed gives the same keyspace
    #[arg(long, default_value_t = 1)]
    seed: u64,

    /// Minimal objects (metadata only, a few hundred bytes) for scale runs
    #[arg(long)]
    small: bool,

    /// Share of Secrets encrypted at rest, 0..1
    #[arg(long, default_value_t = 0.5, value_name = "SHARE")]
    encrypted_share: f64,

    /// Write to FILE (renamed into place when complete) instead of stdout
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

/// The tool's `main`, given its command line (argument 0 is the tool's name).
pub fn main(args: Vec<std::ffi::OsString>) -> ExitCode {
    cli::main("kv-gen", args, |a: Args| {
        let opts = GenOptions { objects: a.objects, seed: a.seed, small: a.small, encrypted_share: a.encrypted_share };
        let out = Output::create(a.output.as_deref())?;
        let (mut out, _) = generate(&opts, out)?;
        out.flush()?;
        out.finish()?;
        Ok(())
    })
}
