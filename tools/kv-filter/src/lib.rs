//! kv-filter: select records of a reshifter stream by key or by Kubernetes resource, namespace
//! and name; rewrite key prefixes.

use std::process::ExitCode;

use clap::Parser;
use reshifter_cli as cli;
use reshifter_kv::filter::{self, FilterOptions};

const EXAMPLES: &str = "\
Examples:
  etcd-dump | kv-filter --exclude-resource events | archive-pack > backup.zip
  archive-unpack b.zip | kv-filter --namespace prod | etcd-load --mode create-only
  kv-filter --resource deployments,services --namespace prod backup.ndjson
  kv-filter --strategy filter:deployment,service backup.ndjson      # ReShifter's strategy
  kv-filter --prefix /registry/configmaps/ --exclude-glob '/registry/configmaps/kube-*/**'
  kv-filter --name '^web-' --resource po
  kv-filter --rewrite-prefix /registry/=/kubernetes.io/ < old.ndjson | etcd-load

Key patterns (--prefix, --glob, --regex, --strategy) keep a key that matches any of them;
Kubernetes selectors (--resource, --namespace, --name) must each match; any --exclude-*
drops the key (excludes win). --namespace also keeps the Namespace object itself.
Resources: plural, singular or short names (po, svc, deploy, cm, crd ...), custom resources as
plural.group or group/plural. Globs: * stays within one path segment, ** crosses them.
The output is a valid stream: its header records the filter, its trailer is recomputed.
A stream filtered by anything but --prefix lists no prefixes, so etcd-load --mode sync refuses
it rather than delete what the filter left out.";

/// Filter a reshifter stream: Kubernetes-aware selection and prefix rewriting.
#[derive(Parser, Debug)]
#[command(name = "kv-filter", version, after_help = EXAMPLES)]
struct Args {
    #[command(flatten)]
    opts: FilterOptions,
}

/// The tool's `main`, given its command line (argument 0 is the tool's name).
pub fn main(args: Vec<std::ffi::OsString>) -> ExitCode {
    let invocation = std::iter::once("kv-filter".to_string())
        .chain(
            args.iter()
                .skip(1)
                .map(|a| a.to_string_lossy().into_owned())
                .map(|a| if a.contains(' ') { format!("'{a}'") } else { a }),
        )
        .collect::<Vec<_>>()
        .join(" ");
    cli::main("kv-filter", args, |a: Args| filter::run(FilterOptions { invocation, ..a.opts }))
}
