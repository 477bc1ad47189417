//! archive-unpack: a ZIP archive in, a verified reshifter stream out.

use std::process::ExitCode;

use clap::Parser;
use reshifter_archive::unpack::{self, UnpackOptions};
use reshifter_cli as cli;

const EXAMPLES: &str = "\
Examples:
  archive-unpack < backup.zip | etcd-load --endpoints https://new:2379 --cacert ca.crt
  s3-pull s3://backups/prod/latest.zip | archive-unpack | etcd-load
  archive-unpack --verify backup.zip
  archive-unpack --list backup.zip | jq -r 'select(.size > 100000) | .key'
  archive-unpack --prefix /registry/configmaps/ backup.zip | etcd-load --mode create-only
  archive-unpack --identity-file key.txt backup.zip.age | etcd-load
  archive-unpack 1499588813-aws-kops-1.6.zip | etcd-load    # a ReShifter backup

Every entry is checked (CRC-32, SHA-256, the manifest, the trailer digests). A corrupt,
truncated or incomplete archive ends with a non-zero exit and a stream without trailer,
which etcd-load refuses. Archives written by archive-pack stream from a pipe in bounded
memory; others (ReShifter's) are spooled to a temporary file when read from a pipe.";

/// Unpack a ZIP archive (reshifter's or ReShifter's) into a verified reshifter stream.
#[derive(Parser, Debug)]
#[command(name = "archive-unpack", version, after_help = EXAMPLES)]
struct Args {
    #[command(flatten)]
    opts: UnpackOptions,
}

/// The tool's `main`, given its command line (argument 0 is the tool's name).
pub fn main(args: Vec<std::ffi::OsString>) -> ExitCode {
    cli::main("archive-unpack", args, |a: Args| unpack::unpack(a.opts))
}
