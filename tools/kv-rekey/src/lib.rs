//! kv-rekey: re-encrypt a stream's values encrypted at rest for another EncryptionConfiguration.

use std::process::ExitCode;

use clap::Parser;
use reshifter_cli as cli;
use reshifter_kv::rekey::{self, RekeyOptions};

const EXAMPLES: &str = "\
Examples:
  archive-unpack b.zip | kv-rekey --from old-cluster.yaml --to new-cluster.yaml | etcd-load
  kv-rekey --from enc.yaml --to rotated.yaml backup.ndjson -o rotated.ndjson      # offline rotation
  kv-rekey --from enc.yaml --to enc.yaml --encrypt-identity b.ndjson -o b2.ndjson   # encrypt the rest

The files are the API servers' EncryptionConfiguration (apiserver.config.k8s.io/v1) with their
keys: aescbc, aesgcm and secretbox are opened and written here; kms values (v1, and v2 with
apiVersion: v2) are opened through the plugin at the provider's endpoint (RESHIFTER_KMS_SOCKET
overrides it), and written with one data key or seed the plugin wraps for the run. Every value is written as the API server with --to
writes it: with the first provider --to gives its resource (identity: in plaintext). A value
whose key neither file holds is an error naming the etcd key and the key name, never the value.
Keep the output as secret as the files: it may hold values --to writes in plaintext.";

/// Re-encrypt values encrypted at rest from one EncryptionConfiguration to another.
#[derive(Parser, Debug)]
#[command(name = "kv-rekey", version, after_help = EXAMPLES)]
struct Args {
    #[command(flatten)]
    opts: RekeyOptions,
}

/// The tool's `main`, given its command line (argument 0 is the tool's name).
pub fn main(args: Vec<std::ffi::OsString>) -> ExitCode {
    cli::main("kv-rekey", args, |a: Args| rekey::run(a.opts))
}
