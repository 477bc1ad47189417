//! archive-unpack: a ZIP archive in, a verified reshifter stream out.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use reshifter::archive::crypt::KeyArgs;
use reshifter::archive::unpack::{self, Mode, UnpackOptions};
use reshifter::cli;

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
    /// Archive to read (default: stdin)
    #[arg(value_name = "INPUT")]
    input: Option<PathBuf>,

    /// Write to FILE (renamed into place when complete) instead of stdout
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,

    /// List keys, paths, sizes, checksums and revisions as NDJSON, without values
    #[arg(long, conflicts_with = "verify")]
    list: bool,

    /// Check everything and output nothing
    #[arg(long)]
    verify: bool,

    /// Only keys starting with PREFIX (repeatable); the whole archive is still verified
    #[arg(long = "prefix", value_name = "PREFIX")]
    prefixes: Vec<String>,

    /// Passphrase of an encrypted archive, in FILE (or set RESHIFTER_PASSPHRASE)
    #[arg(long, value_name = "FILE", help_heading = "Decryption (age)")]
    passphrase_file: Option<PathBuf>,

    /// age identity (private key) file for an encrypted archive (or set RESHIFTER_IDENTITY_FILE)
    #[arg(long, value_name = "FILE", help_heading = "Decryption (age)")]
    identity_file: Vec<PathBuf>,

    /// No summary on stderr
    #[arg(short, long)]
    quiet: bool,
}

/// The tool's `main`, given its command line (argument 0 is the tool's name).
pub fn main(args: Vec<std::ffi::OsString>) -> ExitCode {
    cli::main("archive-unpack", args, |a: Args| {
        let mode = if a.list {
            Mode::List
        } else if a.verify {
            Mode::Verify
        } else {
            Mode::Stream
        };
        let keys =
            KeyArgs { passphrase_file: a.passphrase_file, identity_files: a.identity_file, ..Default::default() };
        unpack::unpack(UnpackOptions {
            input: a.input,
            output: a.output,
            mode,
            prefixes: a.prefixes,
            keys,
            quiet: a.quiet,
        })
    })
}
