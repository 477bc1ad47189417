//! s3-ls: list backups under an S3 prefix.

use std::process::ExitCode;

use clap::Parser;
use reshifter_cli as cli;
use reshifter_s3::{self as s3, S3Args, S3Uri};

const EXAMPLES: &str = "\
Examples:
  s3-ls s3://backups/prod/
  s3-ls s3://backups/prod/ | jq -r 'select(.size > 1000000) | .uri'
  s3-ls --no-checksums s3://backups/

NDJSON (uri, key, size, time, sha256, verified), oldest first; a table when stdout is a
terminal. A prefix is a directory: s3://b/prod lists prod/, never prod-staging/. Checksum
objects (<key>.sha256) are not listed: their content is the sha256 field. verified is true
for a complete backup, whose checksum object names this very object; false for an object a
failed push left (or another tool uploaded): --latest and s3-prune never count those.";

/// List the backups under an S3 prefix.
#[derive(Parser, Debug)]
#[command(name = "s3-ls", version, after_help = EXAMPLES)]
struct Args {
    /// s3://bucket/prefix/
    #[arg(value_name = "S3_URI")]
    uri: S3Uri,

    /// Do not read each object's stored checksum
    #[arg(long)]
    no_checksums: bool,

    /// A table even when stdout is not a terminal
    #[arg(long, conflicts_with = "json")]
    table: bool,

    /// NDJSON even on a terminal
    #[arg(long)]
    json: bool,

    /// native: every object, checksums checked; reshifter: ReShifter's <backup id>.zip objects
    /// (with their backup_id), as ReShifter lists them
    #[arg(long, value_enum, default_value = "native")]
    layout: s3::S3Layout,

    #[command(flatten)]
    s3: S3Args,
}

/// The tool's `main`, given its command line (argument 0 is the tool's name).
pub fn main(args: Vec<std::ffi::OsString>) -> ExitCode {
    cli::main("s3-ls", args, |a: Args| {
        let table = if a.table {
            Some(true)
        } else if a.json {
            Some(false)
        } else {
            None
        };
        s3::ls(a.s3, a.uri, !a.no_checksums, table, a.layout)
    })
}
