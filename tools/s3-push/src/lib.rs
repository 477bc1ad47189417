//! s3-push: stream stdin to an S3 object with a multipart upload.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use reshifter::cli::{self, parse_size};
use reshifter::s3::{self, PushOptions, S3Args, S3Uri};

const EXAMPLES: &str = "\
Examples:
  etcd-dump | archive-pack | s3-push s3://backups/prod/$(date +%Y%m%dT%H%M%S).zip
  archive-pack < b.ndjson | s3-push --endpoint http://127.0.0.1:9000 --create-bucket s3://backups/b.zip
  s3-push --input backup.zip --sse AES256 --json s3://backups/prod/backup.zip | jq .sha256

Credentials: the AWS chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, ~/.aws, SSO,
instance roles) or ReShifter's ACCESS_KEY_ID/SECRET_ACCESS_KEY. Never on the command line.
The object's SHA-256 is stored beside it as <key>.sha256 (sha256sum format) and checked by s3-pull.
The checksum is written after the object and names it (by ETag): an object whose push failed
is never listed as a backup. If the input is a reshifter stream without its trailer, a ZIP
without its central directory, or an age file without the end record archive-pack writes
after it into a pipe (the producer failed), nothing is uploaded; the end record itself is
checked and left out, so the object is a plain age file. Any failure, or SIGINT/SIGTERM,
aborts the upload: no object appears.";

/// Upload stdin (or a file) to S3, streaming, with a checksum stored beside the object.
#[derive(Parser, Debug)]
#[command(name = "s3-push", version, after_help = EXAMPLES)]
struct Args {
    /// Destination, s3://bucket/key
    #[arg(value_name = "S3_URI")]
    uri: S3Uri,

    /// Read this file instead of stdin
    #[arg(short, long, value_name = "FILE")]
    input: Option<PathBuf>,

    #[command(flatten)]
    s3: S3Args,

    /// Size of each part of a multipart upload, at least 5MiB (memory: part size ×
    /// (concurrency + 1); KiB/MiB = 1024-based, kB/MB = 1000-based)
    #[arg(long, default_value = "16MiB", value_parser = parse_size, value_name = "SIZE")]
    part_size: usize,

    /// Parts uploaded at once
    #[arg(long, default_value_t = 4, value_name = "N")]
    concurrency: usize,

    /// Create the bucket if it does not exist
    #[arg(long)]
    create_bucket: bool,

    /// Server-side encryption: AES256 or aws:kms
    #[arg(long, value_name = "ALGORITHM")]
    sse: Option<String>,

    /// KMS key for --sse aws:kms
    #[arg(long, value_name = "KEY_ID")]
    sse_kms_key_id: Option<String>,

    /// Upload a stream or archive even if it looks cut short
    #[arg(long)]
    allow_incomplete: bool,

    /// Print the result as JSON on stdout
    #[arg(long)]
    json: bool,

    /// No summary on stderr
    #[arg(short, long)]
    quiet: bool,
}

/// The tool's `main`, given its command line (argument 0 is the tool's name).
pub fn main(args: Vec<std::ffi::OsString>) -> ExitCode {
    cli::main("s3-push", args, |a: Args| {
        s3::push(PushOptions {
            s3: a.s3,
            uri: a.uri,
            input: a.input,
            part_size: a.part_size,
            concurrency: a.concurrency,
            create_bucket: a.create_bucket,
            sse: a.sse,
            sse_kms_key_id: a.sse_kms_key_id,
            allow_incomplete: a.allow_incomplete,
            json: a.json,
            quiet: a.quiet,
        })
    })
}
