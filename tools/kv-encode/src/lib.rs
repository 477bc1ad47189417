//! kv-encode: objects edited in a kv-decode stream, written back into their values.

use std::process::ExitCode;

use clap::Parser;
use reshifter_cli as cli;
use reshifter_kv::encode::{self, EncodeOptions};

const EXAMPLES: &str = "\
Examples:
  kv-decode b.ndjson | jq -c 'if .object.kind == \"Deployment\"
      then .object.spec.replicas = 0 else . end' | kv-encode | etcd-load --endpoints new:2379
  kv-decode b.ndjson | jq -c 'del(.object.metadata.annotations[
      \"kubectl.kubernetes.io/last-applied-configuration\"]?)' | kv-encode -o slim.ndjson

Each record's `object` goes back into its value in the value's own encoding (protobuf, JSON or
CBOR; encrypted again with the key it was encrypted with, given --encryption-config), and the
field is removed. An object that was not changed keeps its value byte for byte; with no change
at all the output is the stream as it was before kv-decode. metadata.resourceVersion is dropped,
as the API server does not store it. An edit that cannot be written is an error naming the key
and the field: a field the Kubernetes schema (1.33 to 1.36) does not have, a value of the wrong
type, or an object whose stored value has fields newer than that schema.";

/// Write the objects of a kv-decode stream, edited or not, back into their values.
#[derive(Parser, Debug)]
#[command(name = "kv-encode", version, after_help = EXAMPLES)]
struct Args {
    #[command(flatten)]
    opts: EncodeOptions,
}

/// The tool's `main`, given its command line (argument 0 is the tool's name).
pub fn main(args: Vec<std::ffi::OsString>) -> ExitCode {
    cli::main("kv-encode", args, |a: Args| encode::run(a.opts))
}
