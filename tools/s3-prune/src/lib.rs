//! s3-prune: garbage-collect backups by count and age.

use std::process::ExitCode;

use clap::Parser;
use reshifter_cli as cli;

use reshifter_s3::{self as s3, PruneOptions};

const EXAMPLES: &str = "\
Examples:
  s3-prune s3://backups/prod/ --keep-last 7 --dry-run
  s3-prune s3://backups/prod/ --keep-last 3 --keep-within 7d

A backup is kept if it is among the newest --keep-last, or younger than --keep-within;
every other backup under the prefix is deleted with its checksum object. A prefix is a
directory: s3://b/prod prunes prod/, never prod-staging/. Only complete backups (a checksum
object naming the object) count and are deleted; anything else is left alone and reported.
Prints one NDJSON line per object (keep / delete / would-delete / skip, with the reason).";

/// Delete old backups under an S3 prefix: keep the newest N and those younger than a duration.
#[derive(Parser, Debug)]
#[command(name = "s3-prune", version, after_help = EXAMPLES)]
struct Args {
    #[command(flatten)]
    opts: PruneOptions,
}

/// The tool's `main`, given its command line (argument 0 is the tool's name).
pub fn main(args: Vec<std::ffi::OsString>) -> ExitCode {
    cli::main("s3-prune", args, |a: Args| s3::prune(a.opts))
}
