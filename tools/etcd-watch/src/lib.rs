//! etcd-watch: every change after a revision, as delta streams cut into segments.

use std::path::Path;
use std::process::ExitCode;

use clap::Parser;
use reshifter_cli as cli;
use std::path::PathBuf;

use reshifter_archive::unpack::UnpackOptions;
use reshifter_etcd::watch::segment::{self, Resumed};
use reshifter_etcd::watch::{self, WatchOptions};
use reshifter_format::error::{Error, Kind, Result};
use reshifter_s3::{PullOptions, S3Args, S3Uri};

const EXAMPLES: &str = "\
Examples:
  etcd-dump -o base.ndjson                     # a full dump: its header has \"revision\":R
  etcd-watch --from-rev R -o deltas/ --segment-seconds 60
  etcd-watch --from-rev R --segment-seconds 60 \\
      --filter 'archive-pack | s3-push s3://backups/prod/deltas/$FILE.zip'
  etcd-watch --resume deltas/ --from-rev R -o deltas/ --segment-seconds 60   # restartable
  etcd-watch --resume s3://backups/prod/deltas/ --segment-seconds 60 --filter '...'
  etcd-watch --from-rev R --until-rev S > changes.ndjson   # one delta stream on stdout
  kv-apply --to-rev T base.ndjson deltas/*.ndjson | etcd-load --endpoints https://new:2379

A segment holds every change of revisions first..last under the prefixes and appears (renamed
into DIR as delta-<first>-<last>.ndjson, or handed to the filter with $FILE=delta-<first>-<last>)
only once complete. A lost connection is resumed after the last revision received: no gap, no
duplicate. SIGTERM or SIGINT stops it cleanly: the open segment is closed at the last revision
it has whole (a second signal aborts). If etcd compacted the revisions the watch needs,
etcd-watch exits 7: take a new full dump and watch from its revision. --resume first proves the
etcd is the one the segments watched: the same cluster (else exit 2), and the same history (the
last segment's anchor, a key as etcd answered it at a revision, reads back the same; an etcd
rebuilt with the same cluster id does not: exit 7). A failed filter stops the
watch with the filter's exit code; its segment is kept in --spool.";

/// Stream every change of an etcd v3 keyspace after a revision, as reshifter delta streams.
#[derive(Parser, Debug)]
#[command(name = "etcd-watch", version, after_help = EXAMPLES)]
struct Args {
    #[command(flatten)]
    opts: WatchOptions,

    #[command(flatten)]
    s3: S3Args,

    /// With --resume s3://...: the passphrase of encrypted segments, in FILE (or set
    /// RESHIFTER_PASSPHRASE)
    #[arg(long, value_name = "FILE", help_heading = "Resuming from encrypted segments (age)")]
    passphrase_file: Option<PathBuf>,

    /// With --resume s3://...: age identity file that opens encrypted segments (or set
    /// RESHIFTER_IDENTITY_FILE)
    #[arg(long, value_name = "FILE", help_heading = "Resuming from encrypted segments (age)")]
    identity_file: Vec<PathBuf>,
}

/// The newest complete segment under an S3 prefix, pulled (checksum verified) and read
/// through: as etcd-watch wrote it, packed by archive-pack, or packed and encrypted.
fn newest_in_s3(a: &Args, uri: &S3Uri) -> Result<Option<Resumed>> {
    let Some((object, _)) = reshifter_s3::newest_segment(&a.s3, uri)? else { return Ok(None) };
    let dir = tempfile::Builder::new()
        .prefix(".etcd-watch-resume-")
        .tempdir()
        .map_err(|e| Error::with_source(Kind::Failure, "cannot make a temporary directory", e))?;
    let pulled = dir.path().join("segment");
    reshifter_s3::pull(PullOptions { output: Some(pulled.clone()), ..PullOptions::new(object.clone(), a.s3.clone()) })?;
    let mut head = [0u8; 64];
    let n = std::fs::File::open(&pulled).and_then(|mut f| std::io::Read::read(&mut f, &mut head)).unwrap_or(0);
    let stream = if reshifter_archive::unpack::is_archive(&head[..n]) {
        let out = dir.path().join("segment.ndjson");
        reshifter_archive::unpack::unpack(UnpackOptions {
            input: Some(pulled),
            output: Some(out.clone()),
            list: false,
            verify: false,
            prefixes: Vec::new(),
            passphrase_file: a.passphrase_file.clone(),
            identity_file: a.identity_file.clone(),
            encryption_config: None,
            node_files: false,
            etcd_prefix: Default::default(),
            quiet: true,
            report: Default::default(),
        })?;
        out
    } else {
        pulled
    };
    let source = format!("s3://{}/{}", object.bucket, object.key);
    segment::read_segment(reshifter_format::io::open_input(Some(&stream))?, &source).map(Some)
}

/// Where `--resume` says to continue: after the newest complete segment in a directory or
/// under an S3 prefix, watching the same prefixes.
fn resume_point(a: &Args) -> Result<Option<Resumed>> {
    let Some(at) = &a.opts.resume else { return Ok(None) };
    let found = if at.starts_with("s3://") {
        let uri: S3Uri = at.parse().map_err(|e: String| Error::new(Kind::Usage, e))?;
        newest_in_s3(a, &uri)?
    } else {
        segment::newest_in_dir(Path::new(at))?
    };
    if let Some(r) = &found {
        let asked = if a.opts.prefixes.is_empty() { vec![String::new()] } else { a.opts.prefixes.clone() };
        if r.header.bounds() != asked {
            return Err(Error::new(
                Kind::Usage,
                format!("the segments in {at} watch the prefixes {:?}, not {asked:?}", r.header.bounds()),
            ));
        }
    }
    Ok(found)
}

/// The tool's `main`, given its command line (argument 0 is the tool's name).
pub fn main(args: Vec<std::ffi::OsString>) -> ExitCode {
    cli::main("etcd-watch", args, |a: Args| {
        let resume = resume_point(&a)?;
        watch::run(a.opts, resume)
    })
}
