//! s3-pull: stream an S3 object to stdout and verify its checksum.

use std::process::ExitCode;

use clap::Parser;
use reshifter_cli as cli;
use reshifter_s3::{self as s3, PullOptions};

const EXAMPLES: &str = "\
Examples:
  s3-pull s3://backups/prod/20261123T180000.zip | archive-unpack | etcd-load --endpoints new:2379
  s3-pull --latest s3://backups/prod/ | archive-unpack --verify
  s3-pull --endpoint http://127.0.0.1:9000 s3://backups/b.zip -o b.zip

The object is fetched as ranges, six at a time, and written in order (memory: 6 × 8 MiB);
a failed range is retried. The SHA-256 is computed while streaming and compared with
<key>.sha256 at the end: a mismatch, a missing checksum, or a checksum written for another
version of the object ends with a non-zero exit, and -o FILE is then not created.
--latest takes the URI as a directory (s3://b/prod means prod/, never prod-staging/) and
pulls its newest complete backup.";

/// Download an S3 object to stdout (or a file), streaming, verifying its checksum.
#[derive(Parser, Debug)]
#[command(name = "s3-pull", version, after_help = EXAMPLES)]
struct Args {
    #[command(flatten)]
    opts: PullOptions,
}

/// The tool's `main`, given its command line (argument 0 is the tool's name).
pub fn main(args: Vec<std::ffi::OsString>) -> ExitCode {
    cli::main("s3-pull", args, |a: Args| s3::pull(a.opts))
}
