//! s3-pull: an S3 object to stdout (or a file), fetched as ranges in parallel and written in
//! order, its SHA-256 checked against the checksum object that names it.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use aws_sdk_s3::Client;
use bytes::Buf;
use futures::StreamExt;
use sha2::{Digest, Sha256};

use super::{CHECKSUM_SUFFIX, Checksum, S3Args, S3Uri, check_all, list, s3_error, stored_checksum};
use reshifter_format::error::{Error, Kind, Result};
use reshifter_format::io::Output;
use reshifter_format::report::{human_bytes, secs};

/// Bytes per ranged GET of a pull, and how many run at once (memory: their product).
const PULL_RANGE: u64 = 8 << 20;
const PULL_PARALLEL: usize = 6;

/// Options of s3-pull.
/// s3-pull's command-line options.
#[derive(Debug, Clone, clap::Args)]
pub struct PullOptions {
    /// Where progress, warnings and the summary go (stderr, under the tool's name, unless the
    /// caller names itself or takes the lines).
    #[arg(skip)]
    pub report: reshifter_format::report::Reporter,

    /// Source, s3://bucket/key (with --latest: s3://bucket/prefix/)
    #[arg(value_name = "S3_URI")]
    pub uri: S3Uri,

    /// Pull the newest object under the prefix
    #[arg(long)]
    pub latest: bool,

    /// Write to FILE (renamed into place when complete and verified) instead of stdout
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Do not require and check the stored SHA-256
    #[arg(long)]
    pub no_verify: bool,

    /// native: backups are objects with a checksum object naming them; reshifter: ReShifter's
    /// <backup id>.zip objects (--latest: the highest id; no checksum to check: archive-unpack
    /// verifies the archive)
    #[arg(long, value_enum, default_value = "native")]
    pub layout: super::S3Layout,

    #[command(flatten)]
    pub s3: S3Args,

    /// No summary on stderr
    #[arg(short, long)]
    pub quiet: bool,
}

impl PullOptions {
    /// A pull of `uri` to stdout as a library caller builds it: checksum verified, native
    /// layout, quiet; set the fields that differ.
    pub fn new(uri: S3Uri, s3: S3Args) -> Self {
        PullOptions {
            uri,
            latest: false,
            output: None,
            no_verify: false,
            layout: super::S3Layout::Native,
            s3,
            quiet: true,
            report: Default::default(),
        }
    }
}

/// Run s3-pull.
pub fn pull(o: PullOptions) -> Result<()> {
    // One thread for the requests (they wait on the network; hashing and writing have a thread
    // of their own): on two workers the ranges' wake-ups went back and forth between them (a pull
    // of 247 MB from a local server: 0.55-0.65 -> 0.40-0.45 CPU-seconds, the server's 1.0-1.3 ->
    // 0.8).
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let started = Instant::now();
    rt.block_on(pull_async(&o, started))?;
    Ok(())
}

/// The newest backup under a directory prefix whose checksum names it.
async fn latest(c: &Client, o: &PullOptions) -> Result<S3Uri> {
    let dir = o.uri.dir();
    if o.layout == super::S3Layout::Reshifter {
        let all = super::reshifter_backups(c, &o.s3, &o.uri.bucket, &dir).await?;
        let newest = all.last().ok_or_else(|| {
            Error::new(
                Kind::Usage,
                format!("no <backup id>.zip under s3://{}/{dir} (ReShifter's layout)", o.uri.bucket),
            )
        })?;
        return Ok(S3Uri { bucket: o.uri.bucket.clone(), key: newest.key.clone() });
    }
    let mut all = list(c, &o.s3, &o.uri.bucket, &dir).await?;
    check_all(c, &o.s3, &o.uri.bucket, &mut all).await?;
    let newest = all.iter().rev().find(|i| i.verified == Some(true)).ok_or_else(|| {
        let unchecked = all.iter().filter(|i| i.complete == Some(true)).count();
        let why = if unchecked > 0 {
            format!(
                "{unchecked} complete but unchecked: uploaded by an older s3-push, or not a stream or archive; pull \
                 one by name, archive-unpack --verify checks it"
            )
        } else {
            "none with a checksum that names it".to_string()
        };
        Error::new(
            Kind::Usage,
            format!("no verified backup under s3://{}/{dir} ({} objects, {why})", o.uri.bucket, all.len()),
        )
    })?;
    Ok(S3Uri { bucket: o.uri.bucket.clone(), key: newest.key.clone() })
}

/// The checksum to compare with, after making sure it belongs to this very object.
async fn expected(c: &Client, o: &PullOptions, uri: &S3Uri, etag: &str) -> Result<Option<Checksum>> {
    if o.no_verify || o.layout == super::S3Layout::Reshifter {
        return Ok(None);
    }
    let sum = stored_checksum(c, &o.s3, &uri.bucket, &uri.key).await?.ok_or_else(|| {
        Error::new(
            Kind::Integrity,
            format!(
                "{uri} has no checksum ({CHECKSUM_SUFFIX}): it was not pushed by s3-push or its push did not finish \
                 (--no-verify pulls it anyway)"
            ),
        )
    })?;
    if let Some(e) = &sum.etag
        && e != etag
    {
        return Err(Error::new(
            Kind::Integrity,
            format!(
                "{uri}: its checksum was written for another version of the object (a push replaced it and failed \
                 before its checksum): it is not a complete backup (--no-verify pulls it anyway)"
            ),
        ));
    }
    Ok(Some(sum))
}

async fn pull_async(o: &PullOptions, started: Instant) -> Result<()> {
    let c = o.s3.client().await;
    let uri = if o.latest { latest(&c, o).await? } else { o.uri.clone() };
    let head = match c.head_object().bucket(&uri.bucket).key(&uri.key).send().await {
        Ok(h) => h,
        Err(e) if e.raw_response().map(|r| r.status().as_u16()) == Some(404) => {
            // Say which is missing: the bucket or the object.
            let bucket = c.head_bucket().bucket(&uri.bucket).send().await;
            let what = match bucket {
                Err(b) if b.raw_response().map(|r| r.status().as_u16()) == Some(404) => {
                    "NoSuchBucket: the bucket does not exist"
                }
                _ => "NoSuchKey: no such object (s3-ls lists the backups)",
            };
            return Err(Error::new(Kind::Usage, format!("cannot get {uri}: {what}")));
        }
        Err(e) => return Err(s3_error(&o.s3, &format!("cannot get {uri}"), e)),
    };
    let want = expected(&c, o, &uri, &super::etag(head.e_tag().unwrap_or_default())).await?;
    let total = head.content_length().unwrap_or(0).max(0) as u64;
    let out = Output::create(o.output.as_deref())?;
    let mut progress = o.report.or_name("s3-pull").progress();
    // Ranges fetched several at a time, handed in order to a thread that hashes and writes them:
    // memory is PULL_RANGE × (PULL_PARALLEL + 2); the runtime's workers never block on the output.
    let ranges: Vec<(u64, u64)> =
        (0..total.div_ceil(PULL_RANGE)).map(|i| (i * PULL_RANGE, ((i + 1) * PULL_RANGE).min(total) - 1)).collect();
    let mut chunks = futures::stream::iter(ranges)
        .map(|(from, to)| fetch_range(c.clone(), o.s3.clone(), uri.clone(), from, to))
        .buffered(PULL_PARALLEL);
    let (tx, rx) = tokio::sync::mpsc::channel::<Vec<bytes::Bytes>>(1);
    let writer = std::thread::spawn(move || write_ranges(rx, out));
    let mut fetched: u64 = 0;
    let mut failed = None;
    while let Some(chunk) = chunks.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                failed = Some(e);
                break;
            }
        };
        fetched += chunk.iter().map(|p| p.len() as u64).sum::<u64>();
        // A writer that stopped has its error to tell, below.
        if tx.send(chunk).await.is_err() {
            break;
        }
        progress.update(|| format!("{} of {}", human_bytes(fetched), human_bytes(total)));
    }
    drop(tx);
    progress.clear();
    let joined = tokio::task::spawn_blocking(move || writer.join()).await;
    let written =
        joined.ok().and_then(|j| j.ok()).ok_or_else(|| Error::new(Kind::Failure, "the output thread failed"))?;
    if let Some(e) = failed {
        return Err(e);
    }
    let (hasher, size, out) = written?;
    let sha = hex::encode(hasher.finalize());
    if let Some(w) = &want
        && w.sha256 != sha
    {
        return Err(Error::new(
            Kind::Integrity,
            format!(
                "{uri}: SHA-256 mismatch: the object is {sha}, its checksum says {}: the download or the object is corrupt",
                w.sha256
            ),
        ));
    }
    out.finish()?;
    if !o.quiet {
        let verified = if !o.no_verify && o.layout == super::S3Layout::Native { " (verified)" } else { "" };
        o.report.or_name("s3-pull").say(format_args!(
            "{uri} {} sha256 {sha}{verified} in {}",
            human_bytes(size),
            secs(started.elapsed())
        ));
    }
    Ok(())
}

/// Hash and write the ranges in the order they come; the hash, the size and the output back.
fn write_ranges(
    mut rx: tokio::sync::mpsc::Receiver<Vec<bytes::Bytes>>,
    mut out: Output,
) -> Result<(Sha256, u64, Output)> {
    let (mut hasher, mut size) = (Sha256::new(), 0u64);
    while let Some(chunk) = rx.blocking_recv() {
        for piece in &chunk {
            hasher.update(piece);
            size += piece.len() as u64;
            out.write_all(piece)?;
        }
    }
    Ok((hasher, size, out))
}

/// Times a range is read again when its body broke off after the response began: the SDK
/// retries requests (its RetryConfig, see `S3Args::client`), not bodies it has handed over.
const BODY_RETRIES: usize = 3;

/// One range of the object, as the response's pieces (no copy). A failed request is the SDK's to
/// retry; a body cut short is fetched again, with jittered exponential delays (backon).
async fn fetch_range(c: Client, s3: S3Args, uri: S3Uri, from: u64, to: u64) -> Result<Vec<bytes::Bytes>> {
    use backon::BackoffBuilder;
    let mut delays = backon::ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(200))
        .with_max_delay(Duration::from_secs(5))
        .with_jitter()
        .with_max_times(BODY_RETRIES)
        .build();
    loop {
        let resp = c
            .get_object()
            .bucket(&uri.bucket)
            .key(&uri.key)
            .range(format!("bytes={from}-{to}"))
            .send()
            .await
            .map_err(|e| s3_error(&s3, &format!("cannot get {uri} (bytes {from}-{to})"), e))?;
        let err = match resp.body.collect().await {
            Ok(b) if b.remaining() as u64 == to - from + 1 => return Ok(b.into_segments().collect()),
            Ok(b) => format!("{} bytes instead of {}", b.remaining(), to - from + 1),
            Err(e) => e.to_string(),
        };
        match delays.next() {
            Some(d) => tokio::time::sleep(d).await,
            None => {
                return Err(Error::new(
                    Kind::Unavailable,
                    format!("downloading {uri} (bytes {from}-{to}) failed {} times: {err}", BODY_RETRIES + 1),
                ));
            }
        }
    }
}
