//! etcd-watch: every change after a revision, as delta streams cut into segments.

use std::path::Path;
use std::process::ExitCode;

use clap::Parser;
use reshifter_cli as cli;
use reshifter_etcd::watch::{self, WatchOptions, segment};
use reshifter_format::error::{Error, Kind, Result};
use reshifter_s3::{S3Args, S3Uri};

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
etcd-watch exits 7: take a new full dump and watch from its revision. A failed filter stops the
watch with the filter's exit code; its segment is kept in --spool.";

/// Stream every change of an etcd v3 keyspace after a revision, as reshifter delta streams.
#[derive(Parser, Debug)]
#[command(name = "etcd-watch", version, after_help = EXAMPLES)]
struct Args {
    #[command(flatten)]
    opts: WatchOptions,

    #[command(flatten)]
    s3: S3Args,
}

/// Where `--resume` says to continue: after the newest complete segment in a directory or
/// under an S3 prefix.
fn resume_point(a: &Args) -> Result<Option<i64>> {
    let Some(at) = &a.opts.resume else { return Ok(None) };
    if at.starts_with("s3://") {
        let uri: S3Uri = at.parse().map_err(|e: String| Error::new(Kind::Usage, e))?;
        return reshifter_s3::newest_segment_end(&a.s3, &uri);
    }
    match segment::newest_in_dir(Path::new(at))? {
        Some((header, end)) => {
            let asked = if a.opts.prefixes.is_empty() { vec![String::new()] } else { a.opts.prefixes.clone() };
            if header.bounds() != asked {
                return Err(Error::new(
                    Kind::Usage,
                    format!("the segments in {at} watch the prefixes {:?}, not {asked:?}", header.bounds()),
                ));
            }
            Ok(Some(end))
        }
        None => Ok(None),
    }
}

/// The tool's `main`, given its command line (argument 0 is the tool's name).
pub fn main(args: Vec<std::ffi::OsString>) -> ExitCode {
    cli::main("etcd-watch", args, |a: Args| {
        let resume = resume_point(&a)?;
        watch::run(a.opts, resume)
    })
}
