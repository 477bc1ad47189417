//! s3-push: stream stdin to an S3 object with a multipart upload.

use std::process::ExitCode;

use clap::Parser;
use reshifter_cli::{self as cli};
use reshifter_s3::{self as s3, PushOptions};

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
    #[command(flatten)]
    opts: PushOptions,
}

/// The tool's `main`, given its command line (argument 0 is the tool's name).
pub fn main(args: Vec<std::ffi::OsString>) -> ExitCode {
    cli::main("s3-push", args, |a: Args| s3::push(a.opts))
}
