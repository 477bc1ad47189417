//! s3-push: stdin to an S3 object, streaming, with its checksum object written last.
//!
//! The input is read a part at a time, always keeping the last [`END_MAX`] bytes back, so that
//! what ends the input — a stream's trailer, a ZIP's end record, archive-pack's end record after
//! an age file — is in hand before the last part goes out. An input whose end says its producer
//! failed uploads nothing; the end record of an age file is checked and left out of the object.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::Instant;

use aws_sdk_s3::Client;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, ServerSideEncryption};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::task::JoinSet;

use super::{CHECKSUM_SUFFIX, META_CHECKED, META_ETAG, S3Args, S3Uri, runtime, s3_error};
use reshifter_archive::crypt::{END_MAX, find_end_record};
use reshifter_archive::payload::{Checked, PayloadCheck};
use reshifter_archive::payload::{Completeness, completeness};
use reshifter_format::error::{Error, Kind, Result};
use reshifter_format::io::Output;
use reshifter_format::report::{human_bytes, secs};
use reshifter_format::units::parse_size;

/// Options of s3-push.
/// s3-push's command-line options.
#[derive(Debug, Clone, clap::Args)]
pub struct PushOptions {
    /// Where progress, warnings and the summary go (stderr, under the tool's name, unless the
    /// caller names itself or takes the lines).
    #[arg(skip)]
    pub report: reshifter_format::report::Reporter,

    /// Destination, s3://bucket/key
    #[arg(value_name = "S3_URI")]
    pub uri: S3Uri,

    /// Read this file instead of stdin
    #[arg(short, long, value_name = "FILE")]
    pub input: Option<PathBuf>,

    #[command(flatten)]
    pub s3: S3Args,

    /// Size of each part of a multipart upload, at least 5MiB (memory: part size ×
    /// (concurrency + 1); KiB/MiB = 1024-based, kB/MB = 1000-based)
    #[arg(long, default_value = "16MiB", value_parser = parse_size, value_name = "SIZE")]
    pub part_size: usize,

    /// Parts uploaded at once
    #[arg(long, default_value_t = DEFAULT_CONCURRENCY, value_name = "N")]
    pub concurrency: usize,

    /// Create the bucket if it does not exist
    #[arg(long)]
    pub create_bucket: bool,

    /// Server-side encryption: AES256 or aws:kms
    #[arg(long, value_name = "ALGORITHM")]
    pub sse: Option<String>,

    /// KMS key for --sse aws:kms
    #[arg(long, value_name = "KEY_ID")]
    pub sse_kms_key_id: Option<String>,

    /// Upload a stream or archive even if it looks cut short
    #[arg(long)]
    pub allow_incomplete: bool,

    /// native: write the checksum object beside it; reshifter: ReShifter's layout, the key
    /// must be <prefix>/<backup id>.zip and no checksum object is written (ReShifter would
    /// list it as a backup)
    #[arg(long, value_enum, default_value = "native")]
    pub layout: super::S3Layout,

    /// Print the result as JSON on stdout
    #[arg(long)]
    pub json: bool,

    /// No summary on stderr
    #[arg(short, long)]
    pub quiet: bool,
}

/// Part size when not told (`--part-size 16MiB`).
pub const DEFAULT_PART_SIZE: usize = 16 << 20;
/// Parts in flight when not told.
pub const DEFAULT_CONCURRENCY: usize = 4;

impl PushOptions {
    /// A push of stdin to `uri` as a library caller builds it: the native layout, quiet; set
    /// the fields that differ.
    pub fn new(uri: S3Uri, s3: S3Args) -> Self {
        PushOptions {
            uri,
            input: None,
            s3,
            part_size: DEFAULT_PART_SIZE,
            concurrency: DEFAULT_CONCURRENCY,
            create_bucket: false,
            sse: None,
            sse_kms_key_id: None,
            allow_incomplete: false,
            layout: super::S3Layout::Native,
            json: false,
            quiet: true,
            report: Default::default(),
        }
    }
}

/// What a push stored.
#[derive(Debug, Serialize)]
pub struct Pushed {
    pub uri: String,
    pub size: u64,
    pub sha256: String,
    pub parts: u64,
    pub seconds: f64,
    /// What was checked of the content: stream, delta, archive, age (its end record), or
    /// nothing (`null`: not a format s3-push can check; s3-ls lists it unverified).
    pub checked: Option<&'static str>,
}

const TAIL: usize = 128 * 1024;

/// Reads the input a part at a time, keeping [`END_MAX`] bytes back; hashes and sizes what it
/// hands out, and keeps the first and last bytes to judge completeness.
struct Parts<'a> {
    input: &'a mut (dyn Read + Send),
    part_size: usize,
    buf: Vec<u8>,
    eof: bool,
    head: Vec<u8>,
    tail: Vec<u8>,
    hasher: Sha256,
    size: u64,
    total: u64,
    /// The payload's own check, fed every byte read; what it found wrong.
    check: Option<PayloadCheck>,
    bad: Option<Error>,
}

impl<'a> Parts<'a> {
    fn new(input: &'a mut (dyn Read + Send), part_size: usize) -> Self {
        Parts {
            input,
            part_size,
            buf: Vec::new(),
            eof: false,
            head: Vec::new(),
            tail: Vec::new(),
            hasher: Sha256::new(),
            size: 0,
            total: 0,
            check: Some(PayloadCheck::start()),
            bad: None,
        }
    }

    /// Fill the buffer to a part plus the held-back bytes, or to the end of the input.
    fn fill(&mut self) -> Result<()> {
        let want = self.part_size + END_MAX;
        while !self.eof && self.buf.len() < want {
            let before = self.buf.len();
            self.input.take((want - before) as u64).read_to_end(&mut self.buf)?;
            let got = self.buf.len() - before;
            if got == 0 {
                self.eof = true;
            }
            if self.head.len() < 4 << 20 {
                let room = (4 << 20) - self.head.len();
                self.head.extend_from_slice(&self.buf[before..before + got.min(room)]);
            }
            self.total += got as u64;
            let new = &self.buf[before..];
            if let Some(c) = &mut self.check
                && let Err(e) = c.feed(new)
            {
                self.check = None;
                self.bad = Some(e);
            }
            self.tail.extend_from_slice(&new[new.len().saturating_sub(TAIL)..]);
            if self.tail.len() > TAIL {
                self.tail.drain(..self.tail.len() - TAIL);
            }
        }
        Ok(())
    }

    /// The next part, unless what is left is the last one.
    fn next_part(&mut self) -> Result<Option<Vec<u8>>> {
        self.fill()?;
        if self.eof {
            return Ok(None);
        }
        let rest = self.buf.split_off(self.part_size);
        let part = std::mem::replace(&mut self.buf, rest);
        self.hasher.update(&part);
        self.size += part.len() as u64;
        Ok(Some(part))
    }

    /// The last part, with `strip` bytes (an end record) left out.
    fn last_part(&mut self, strip: usize) -> Vec<u8> {
        let mut part = std::mem::take(&mut self.buf);
        part.truncate(part.len().saturating_sub(strip));
        self.hasher.update(&part);
        self.size += part.len() as u64;
        part
    }

    /// Judge the whole input (at its end): what was checked of it and the bytes to strip, or
    /// why nothing may be uploaded. A payload whose own check failed (a stream whose digests do
    /// not match, a damaged archive) is refused as one cut short is; `--allow-incomplete` uploads
    /// either, with nothing checked.
    fn judge(&mut self, allow_incomplete: bool) -> Result<(Checked, usize)> {
        let checked = match (self.bad.take(), self.check.take()) {
            (Some(e), _) => Err(e),
            (None, Some(c)) => c.finish(),
            (None, None) => Ok(Checked::Nothing),
        };
        let strip = match completeness(&self.head, &self.tail, self.total) {
            Completeness::Complete(_, strip) => strip,
            Completeness::Incomplete(what) if !allow_incomplete => {
                return Err(Error::new(
                    Kind::Truncated,
                    format!(
                        "the input is {what}: its producer failed; nothing was uploaded (--allow-incomplete uploads \
                         it anyway)"
                    ),
                ));
            }
            _ => 0,
        };
        match checked {
            Ok(Checked::Age) if strip == 0 => Ok((Checked::Nothing, 0)),
            Ok(c) => Ok((c, strip)),
            Err(_) if allow_incomplete => Ok((Checked::Nothing, strip)),
            Err(e) => Err(Error::new(
                e.kind(),
                format!(
                    "the input is not whole: {}; nothing was uploaded (--allow-incomplete uploads it anyway)",
                    e.message()
                ),
            )),
        }
    }

    /// After the last part: an age file's end record must give the SHA-256 of what was sent.
    fn check_end_record(&self, checked: Checked) -> Result<()> {
        if checked != Checked::Age {
            return Ok(());
        }
        let sent = hex::encode(self.hasher.clone().finalize());
        match find_end_record(&self.tail, self.total) {
            Some((_, sha)) if sha == sent => Ok(()),
            _ => Err(Error::new(
                Kind::Integrity,
                "the age file does not match its end record's SHA-256: it was altered; nothing was uploaded",
            )),
        }
    }
}

fn sse_of(o: &PushOptions) -> Result<Option<ServerSideEncryption>> {
    match o.sse.as_deref() {
        None => Ok(None),
        Some("AES256") | Some("aes256") => Ok(Some(ServerSideEncryption::Aes256)),
        Some("aws:kms") | Some("kms") => Ok(Some(ServerSideEncryption::AwsKms)),
        Some(other) => Err(Error::new(Kind::Usage, format!("--sse {other}: expected AES256 or aws:kms"))),
    }
}

/// Run s3-push.
pub fn push(o: PushOptions) -> Result<()> {
    if o.uri.key.is_empty() || o.uri.key.ends_with('/') {
        return Err(Error::new(Kind::Usage, format!("{}: give an object key, not a prefix", o.uri)));
    }
    if o.uri.key.ends_with(CHECKSUM_SUFFIX) {
        return Err(Error::new(Kind::Usage, format!("{}: keys ending in {CHECKSUM_SUFFIX} hold checksums", o.uri)));
    }
    if o.layout == super::S3Layout::Reshifter
        && super::reshifter_backup_id(o.uri.key.rsplit('/').next().unwrap_or("")).is_none()
    {
        return Err(Error::new(
            Kind::Usage,
            format!("{}: ReShifter's layout names a backup <backup id>.zip, the id its Unix seconds", o.uri),
        ));
    }
    if o.part_size < 5 << 20 {
        return Err(Error::new(Kind::Usage, "--part-size must be at least 5 MiB (an S3 limit)"));
    }
    let sse = sse_of(&o)?;
    let rt = runtime()?;
    let started = Instant::now();
    let mut input: Box<dyn Read + Send> = reshifter_format::io::open_input(o.input.as_deref())?;
    let pushed = rt.block_on(push_async(&o, &mut *input, sse, started))?;
    if o.json {
        let mut out = Output::create(None)?;
        serde_json::to_writer(&mut out, &pushed)?;
        out.write_all(b"\n")?;
        out.finish()?;
    } else if !o.quiet {
        o.report.or_name("s3-push").say(format_args!(
            "{} {} ({} parts) sha256 {} in {}",
            pushed.uri,
            human_bytes(pushed.size),
            pushed.parts,
            pushed.sha256,
            secs(started.elapsed())
        ));
    }
    Ok(())
}

/// Check the bucket before reading any input (or create it with `--create-bucket`).
async fn ensure_bucket(c: &Client, o: &PushOptions) -> Result<()> {
    let bucket = &o.uri.bucket;
    let err = match c.head_bucket().bucket(bucket).send().await {
        Ok(_) => return Ok(()),
        Err(e) => e,
    };
    let status = err.raw_response().map(|r| r.status().as_u16());
    if status == Some(403) {
        // HEAD answers carry no error code: ask again with a request whose answer does.
        return match c.list_objects_v2().bucket(bucket).max_keys(1).send().await {
            Err(e) => Err(s3_error(&o.s3, &format!("cannot upload {}", o.uri), e)),
            Ok(_) => Err(Error::new(Kind::Auth, format!("cannot upload {}: access denied to bucket {bucket}", o.uri))),
        };
    }
    match status {
        Some(404) => {}
        // HEAD answers carry no error code: say what the server answered.
        Some(code) => {
            return Err(Error::new(
                Kind::Failure,
                format!("cannot use bucket {bucket}: the server answered HTTP {code} (is the bucket name valid?)"),
            ));
        }
        None => return Err(s3_error(&o.s3, &format!("cannot reach bucket {bucket}"), err)),
    }
    if !o.create_bucket {
        return Err(Error::new(
            Kind::Usage,
            format!(
                "cannot upload {}: NoSuchBucket: the bucket does not exist (s3-push --create-bucket creates it)",
                o.uri
            ),
        ));
    }
    match c.create_bucket().bucket(bucket).send().await {
        Ok(_) => Ok(()),
        Err(e) if e.as_service_error().and_then(|s| s.code()).is_some_and(|c| c.starts_with("BucketAlready")) => Ok(()),
        Err(e) => Err(s3_error(&o.s3, &format!("cannot create bucket {bucket}"), e)),
    }
}

/// Read a part in the blocking pool's way (the runtime's thread may block on stdin).
fn read_part(parts: &mut Parts<'_>) -> Result<Option<Vec<u8>>> {
    tokio::task::block_in_place(|| parts.next_part())
}

async fn push_async(
    o: &PushOptions,
    input: &mut (dyn Read + Send),
    sse: Option<ServerSideEncryption>,
    started: Instant,
) -> Result<Pushed> {
    let c = o.s3.client().await;
    ensure_bucket(&c, o).await?;
    let mut parts = Parts::new(input, o.part_size);
    let first = read_part(&mut parts)?;
    let Some(first) = first else {
        // Small: one PUT.
        let (checked, strip) = parts.judge(o.allow_incomplete)?;
        if parts.total == 0 && !o.allow_incomplete {
            return Err(Error::new(
                Kind::Truncated,
                "empty input: its producer failed; nothing was uploaded (--allow-incomplete uploads it anyway)",
            ));
        }
        let body = parts.last_part(strip);
        parts.check_end_record(checked)?;
        let sha = hex::encode(parts.hasher.clone().finalize());
        let etag = put_small(&c, o, body, &sha, sse).await?;
        put_checksum(&c, o, &sha, &etag, checked).await?;
        return Ok(pushed(o, parts.size, sha, 1, started, checked));
    };
    let _busy = reshifter_format::signals::Busy::new();
    let upload = start_multipart(&c, o, sse).await?;
    let cancelled = reshifter_format::signals::cancelled();
    let outcome = tokio::select! {
        r = upload_parts(&c, o, &upload, first, &mut parts) => r,
        _ = cancelled.cancelled() => Err(Error::new(Kind::Failure, "interrupted")),
    };
    let (count, etag, checked) = match outcome {
        Ok(done) => done,
        Err(e) => {
            let aborted =
                c.abort_multipart_upload().bucket(&o.uri.bucket).key(&o.uri.key).upload_id(&upload).send().await;
            let note = match aborted {
                Ok(_) => "the upload was aborted, no object was created".to_string(),
                Err(a) => {
                    format!("aborting the upload failed too ({}); no object was created", s3_error(&o.s3, "abort", a))
                }
            };
            return Err(Error::with_source(e.kind(), format!("{}: {note}", e.message()), e));
        }
    };
    let sha = hex::encode(parts.hasher.clone().finalize());
    put_checksum(&c, o, &sha, &etag, checked).await?;
    Ok(pushed(o, parts.size, sha, count, started, checked))
}

fn pushed(o: &PushOptions, size: u64, sha256: String, parts: u64, started: Instant, checked: Checked) -> Pushed {
    Pushed {
        uri: o.uri.to_string(),
        size,
        sha256,
        parts,
        seconds: started.elapsed().as_secs_f64(),
        checked: checked.name(),
    }
}

async fn put_small(
    c: &Client,
    o: &PushOptions,
    body: Vec<u8>,
    sha: &str,
    sse: Option<ServerSideEncryption>,
) -> Result<String> {
    let mut req = c
        .put_object()
        .bucket(&o.uri.bucket)
        .key(&o.uri.key)
        .metadata("reshifter-sha256", sha)
        .body(ByteStream::from(body));
    if let Some(s) = sse {
        req = req.server_side_encryption(s);
        if let Some(k) = &o.sse_kms_key_id {
            req = req.ssekms_key_id(k);
        }
    }
    let out = req.send().await.map_err(|e| s3_error(&o.s3, &format!("cannot upload {}", o.uri), e))?;
    Ok(out.e_tag().unwrap_or_default().to_string())
}

async fn start_multipart(c: &Client, o: &PushOptions, sse: Option<ServerSideEncryption>) -> Result<String> {
    let mut create = c.create_multipart_upload().bucket(&o.uri.bucket).key(&o.uri.key);
    if let Some(s) = sse {
        create = create.server_side_encryption(s);
        if let Some(k) = &o.sse_kms_key_id {
            create = create.ssekms_key_id(k);
        }
    }
    let created =
        create.send().await.map_err(|e| s3_error(&o.s3, &format!("cannot start the upload of {}", o.uri), e))?;
    Ok(created.upload_id().unwrap_or_default().to_string())
}

/// Upload every part (several in flight) and complete the upload once the input proved whole.
/// Returns the number of parts, the object's ETag and what was checked of the input.
async fn upload_parts(
    c: &Client,
    o: &PushOptions,
    upload: &str,
    first: Vec<u8>,
    parts: &mut Parts<'_>,
) -> Result<(u64, String, Checked)> {
    let mut checked = Checked::Nothing;
    let mut tasks: JoinSet<Result<(i32, String)>> = JoinSet::new();
    let mut done: Vec<(i32, String)> = Vec::new();
    let mut progress = o.report.or_name("s3-push").progress();
    let mut number = 0i32;
    let mut next = Some(first);
    loop {
        let data = match next.take() {
            Some(d) => d,
            None => {
                // The end: judge the input before its last part goes out.
                let (c, strip) = tokio::task::block_in_place(|| parts.judge(o.allow_incomplete))?;
                checked = c;
                let last = parts.last_part(strip);
                parts.check_end_record(checked)?;
                last
            }
        };
        let last = parts.eof && parts.buf.is_empty();
        // (An end record can leave an empty last part: nothing to send.)
        if !data.is_empty() {
            number += 1;
            tasks.spawn(upload_part(c.clone(), o.clone(), upload.to_string(), number, data));
        }
        while tasks.len() >= o.concurrency.max(1) {
            if let Some(r) = tasks.join_next().await {
                done.push(r.map_err(|e| Error::new(Kind::Failure, e.to_string()))??);
            }
        }
        progress.update(|| format!("{} read, {} parts", human_bytes(parts.total), number));
        if last {
            break;
        }
        next = read_part(parts)?;
    }
    while let Some(r) = tasks.join_next().await {
        done.push(r.map_err(|e| Error::new(Kind::Failure, e.to_string()))??);
    }
    progress.clear();
    done.sort();
    let list = CompletedMultipartUpload::builder()
        .set_parts(Some(done.iter().map(|(n, e)| CompletedPart::builder().part_number(*n).e_tag(e).build()).collect()))
        .build();
    let out = c
        .complete_multipart_upload()
        .bucket(&o.uri.bucket)
        .key(&o.uri.key)
        .upload_id(upload)
        .multipart_upload(list)
        .send()
        .await
        .map_err(|e| s3_error(&o.s3, &format!("cannot complete the upload of {}", o.uri), e))?;
    Ok((done.len() as u64, out.e_tag().unwrap_or_default().to_string(), checked))
}

async fn upload_part(c: Client, o: PushOptions, upload: String, n: i32, data: Vec<u8>) -> Result<(i32, String)> {
    let body = bytes::Bytes::from(data);
    let r = c
        .upload_part()
        .bucket(&o.uri.bucket)
        .key(&o.uri.key)
        .upload_id(&upload)
        .part_number(n)
        .body(ByteStream::from(body))
        .send()
        .await
        .map_err(|e| s3_error(&o.s3, &format!("cannot upload part {n}"), e))?;
    Ok((n, r.e_tag().unwrap_or_default().to_string()))
}

/// The checksum object, written after the object it certifies and naming it by its ETag, and
/// saying what was checked of the content (`reshifter-checked`; absent: nothing could be).
async fn put_checksum(c: &Client, o: &PushOptions, sha: &str, etag: &str, checked: Checked) -> Result<()> {
    if o.layout == super::S3Layout::Reshifter {
        return Ok(());
    }
    let key = &o.uri.key;
    let name = key.rsplit('/').next().unwrap_or(key);
    let body = format!("{sha}  {name}\n");
    let mut req = c
        .put_object()
        .bucket(&o.uri.bucket)
        .key(format!("{key}{CHECKSUM_SUFFIX}"))
        .metadata(META_ETAG, super::etag(etag));
    if let Some(what) = checked.name() {
        req = req.metadata(META_CHECKED, what);
    }
    req.body(ByteStream::from(body.into_bytes())).send().await.map_err(|e| {
        let err = s3_error(&o.s3, &format!("cannot store {}{CHECKSUM_SUFFIX}", o.uri), e);
        Error::new(
            err.kind(),
            format!(
                "{}: the object was uploaded but its checksum was not, so it does not count as a backup \
                     (s3-ls shows it unverified; s3-pull refuses it): push again",
                err.message()
            ),
        )
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(clap::Parser)]
    struct Push {
        #[command(flatten)]
        o: PushOptions,
    }

    #[derive(clap::Parser)]
    struct Pull {
        #[command(flatten)]
        o: super::super::PullOptions,
    }

    #[derive(clap::Parser)]
    struct Prune {
        #[command(flatten)]
        o: super::super::PruneOptions,
    }

    /// What a library caller builds in code is what the tool's command line means by default.
    #[test]
    fn options_built_in_code_are_the_tools_defaults() {
        use clap::Parser;
        let uri: S3Uri = "s3://b/k".parse().unwrap();
        let s3 = S3Args::from_env(None);
        let pushed = Push::parse_from(["t", "s3://b/k", "-q"]).o;
        assert_eq!(format!("{:?}", PushOptions::new(uri.clone(), s3.clone())), format!("{pushed:?}"));
        let pulled = Pull::parse_from(["t", "s3://b/k", "-q"]).o;
        assert_eq!(format!("{:?}", super::super::PullOptions::new(uri.clone(), s3.clone())), format!("{pulled:?}"));
        let pruned = Prune::parse_from(["t", "s3://b/k"]).o;
        assert_eq!(format!("{:?}", super::super::PruneOptions::new(uri, s3)), format!("{pruned:?}"));
    }
}
