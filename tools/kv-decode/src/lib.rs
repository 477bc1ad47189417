//! kv-decode: Kubernetes objects in a stream as JSON, for jq.

use std::process::ExitCode;

use clap::Parser;
use reshifter_cli as cli;
use reshifter_kv::decode::{self, DecodeOptions};

const EXAMPLES: &str = "\
Examples:
  etcd-dump | kv-decode | jq -c 'select(.object.metadata.labels.app == \"web\") | .key'
  kv-decode b.ndjson | jq -r '.object | select(.kind == \"Deployment\") | .metadata.name'
  kv-decode --encryption-config enc.yaml b.ndjson | jq -c '.object | select(.kind == \"Secret\")'
  kv-decode b.ndjson | jq -c 'if .object.kind == \"Deployment\"
      then .object.spec.replicas = 0 else . end' | kv-encode | etcd-load --dry-run

Each record whose value is a Kubernetes object (protobuf `k8s\\0`, JSON, or CBOR) gets an
`object` field: the object as the API server serves it (`kubectl get -o json`), apiVersion and
kind included and metadata.resourceVersion filled from the key's mod_revision. Other records
(leases, IP ranges, values of other programs) pass unchanged; so do values that cannot be decoded,
counted in the summary, the first five named on stderr (--strict makes them an error). Records,
header claims and digests stay as they were: `object` is derived. Only jq and kv-encode read such a
stream; every other tool refuses it and says to run kv-encode, so an edit is never lost.

Fields Go writes even when zero appear with their zero values (\"\" or 0), as the protobuf holds
them: in jq, test `.object.spec.nodeName // \"\" | length > 0` rather than its truthiness.";

/// Add each Kubernetes object, decoded as JSON, to its record (for jq).
#[derive(Parser, Debug)]
#[command(name = "kv-decode", version, after_help = EXAMPLES)]
struct Args {
    #[command(flatten)]
    opts: DecodeOptions,
}

/// The tool's `main`, given its command line (argument 0 is the tool's name).
pub fn main(args: Vec<std::ffi::OsString>) -> ExitCode {
    cli::main("kv-decode", args, |a: Args| decode::run(a.opts))
}
