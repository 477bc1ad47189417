//! kv-filter: select records of a reshifter stream by key or by Kubernetes resource, namespace
//! and name; rewrite key prefixes.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use reshifter::cli;
use reshifter::filter::{self, FilterOptions};

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
    /// Stream to read (default: stdin)
    #[arg(value_name = "INPUT")]
    input: Option<PathBuf>,

    /// Write to FILE (renamed into place when complete) instead of stdout
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,

    /// Keep keys starting with PREFIX (repeatable)
    #[arg(long = "prefix", value_name = "PREFIX", help_heading = "Keys")]
    prefixes: Vec<String>,
    /// Drop keys starting with PREFIX (repeatable)
    #[arg(long = "exclude-prefix", value_name = "PREFIX", help_heading = "Keys")]
    exclude_prefixes: Vec<String>,
    /// Keep keys matching the glob (repeatable)
    #[arg(long = "glob", value_name = "GLOB", help_heading = "Keys")]
    globs: Vec<String>,
    /// Drop keys matching the glob (repeatable)
    #[arg(long = "exclude-glob", value_name = "GLOB", help_heading = "Keys")]
    exclude_globs: Vec<String>,
    /// Keep keys matching the regex (repeatable)
    #[arg(long = "regex", value_name = "REGEX", help_heading = "Keys")]
    regexes: Vec<String>,
    /// Drop keys matching the regex (repeatable)
    #[arg(long = "exclude-regex", value_name = "REGEX", help_heading = "Keys")]
    exclude_regexes: Vec<String>,
    /// ReShifter's backup strategy: raw, or filter:a,b (keys containing a or b)
    #[arg(long, value_name = "STRATEGY", env = "RS_BACKUP_STRATEGY", help_heading = "Keys")]
    strategy: Option<String>,

    /// Keep these resources (repeatable, comma-separated)
    #[arg(long = "resource", value_name = "RESOURCE", help_heading = "Kubernetes")]
    resources: Vec<String>,
    /// Drop these resources (repeatable, comma-separated)
    #[arg(long = "exclude-resource", value_name = "RESOURCE", help_heading = "Kubernetes")]
    exclude_resources: Vec<String>,
    /// Keep objects in these namespaces (repeatable, comma-separated)
    #[arg(long = "namespace", short = 'n', value_name = "NAMESPACE", help_heading = "Kubernetes")]
    namespaces: Vec<String>,
    /// Drop objects in these namespaces (repeatable, comma-separated)
    #[arg(long = "exclude-namespace", value_name = "NAMESPACE", help_heading = "Kubernetes")]
    exclude_namespaces: Vec<String>,
    /// Keep objects whose name matches the regex
    #[arg(long, value_name = "REGEX", help_heading = "Kubernetes")]
    name: Option<String>,

    /// Rewrite keys starting with OLD to start with NEW instead (repeatable; first match wins)
    #[arg(long = "rewrite-prefix", value_name = "OLD=NEW")]
    rewrites: Vec<String>,

    /// No summary on stderr
    #[arg(short, long)]
    quiet: bool,
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
    cli::main("kv-filter", args, |a: Args| {
        filter::run(FilterOptions {
            input: a.input,
            output: a.output,
            prefixes: a.prefixes,
            exclude_prefixes: a.exclude_prefixes,
            globs: a.globs,
            exclude_globs: a.exclude_globs,
            regexes: a.regexes,
            exclude_regexes: a.exclude_regexes,
            resources: a.resources,
            exclude_resources: a.exclude_resources,
            namespaces: a.namespaces,
            exclude_namespaces: a.exclude_namespaces,
            name: a.name,
            strategy: a.strategy,
            rewrites: a.rewrites,
            invocation,
            quiet: a.quiet,
        })
    })
}
