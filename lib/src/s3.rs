//! Object storage: s3-push, s3-pull, s3-ls and s3-prune against S3 or any S3-compatible server.
//!
//! - Streams in bounded memory: a push holds `part size × (parts in flight + 1)` bytes; a pull
//!   holds one response chunk.
//! - Integrity: the SHA-256 of the whole object is computed while streaming and stored beside it
//!   as `<key>.sha256` (`sha256sum` format) before the upload is completed, so an object never
//!   exists without its checksum; s3-pull verifies it at the end.
//! - A push that fails — input cut short, server error, wrong credentials — aborts the multipart
//!   upload: no object appears. A push whose input is a reshifter stream or a ZIP archive that is
//!   incomplete (no trailer, no end of central directory) uploads nothing.
//! - Custom endpoints (MinIO, Ceph, ...) get path-style addressing and checksums only "when
//!   required": the SDK's newer default checksum headers are refused by many such servers.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation};
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, ServerSideEncryption};
use bytes::Buf;
use futures::StreamExt;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::task::JoinSet;

use crate::cli::{Progress, human_bytes, secs};
use crate::error::{Error, Kind, Result};
use crate::io::Output;

/// Suffix of the checksum object stored beside each pushed object.
pub const CHECKSUM_SUFFIX: &str = ".sha256";

/// Connection flags shared by the S3 tools.
#[derive(clap::Args, Debug, Clone)]
#[command(
    next_help_heading = "S3 connection (AWS credential chain: AWS_* env, profiles; or ACCESS_KEY_ID/SECRET_ACCESS_KEY)"
)]
pub struct S3Args {
    /// S3-compatible endpoint, e.g. http://127.0.0.1:9000 (MinIO, Ceph); default: AWS
    #[arg(long, env = "AWS_ENDPOINT_URL_S3", value_name = "URL")]
    pub endpoint: Option<String>,

    /// Region (default: from the AWS configuration, or us-east-1)
    #[arg(long, env = "AWS_REGION", value_name = "REGION")]
    pub region: Option<String>,

    /// AWS profile to take credentials from
    #[arg(long, env = "AWS_PROFILE", value_name = "NAME")]
    pub profile: Option<String>,

    /// Address buckets by path (default with --endpoint, needed for localhost and IPs)
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub path_style: Option<bool>,
}

/// `s3://bucket/key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Uri {
    pub bucket: String,
    pub key: String,
}

impl std::str::FromStr for S3Uri {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let rest = s.strip_prefix("s3://").ok_or_else(|| format!("{s:?} is not an s3://bucket/key URI"))?;
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(format!("{s:?} has no bucket"));
        }
        Ok(S3Uri { bucket: bucket.to_string(), key: key.to_string() })
    }
}

impl std::fmt::Display for S3Uri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

impl S3Args {
    /// Build a client: the AWS chain, ReShifter's ACCESS_KEY_ID/SECRET_ACCESS_KEY, and for custom
    /// endpoints path-style addressing and checksums only when required.
    pub async fn client(&self) -> Client {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if let Some(p) = &self.profile {
            loader = loader.profile_name(p);
        }
        if let Some(r) = &self.region {
            loader = loader.region(Region::new(r.clone()));
        }
        let have_aws_keys = std::env::var_os("AWS_ACCESS_KEY_ID").is_some();
        if !have_aws_keys
            && let (Ok(id), Ok(secret)) = (std::env::var("ACCESS_KEY_ID"), std::env::var("SECRET_ACCESS_KEY"))
        {
            loader = loader.credentials_provider(Credentials::new(id, secret, None, None, "reshifter-env"));
        }
        let sdk = loader.load().await;
        let mut b = aws_sdk_s3::config::Builder::from(&sdk);
        if sdk.region().is_none() {
            b = b.region(Region::new("us-east-1"));
        }
        if let Some(e) = &self.endpoint {
            b = b
                .endpoint_url(e)
                .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
                .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
        }
        b = b.force_path_style(self.path_style.unwrap_or(self.endpoint.is_some()));
        Client::from_conf(b.build())
    }

    fn where_(&self) -> String {
        self.endpoint.clone().unwrap_or_else(|| "AWS S3".into())
    }
}

/// An SDK error as one line with a kind and a hint.
fn s3_error<E, R>(args: &S3Args, what: &str, e: aws_sdk_s3::error::SdkError<E, R>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    use aws_sdk_s3::error::SdkError;
    match &e {
        SdkError::ServiceError(se) => {
            let err = se.err();
            let code = err.code().unwrap_or("error").to_string();
            let msg = err.message().unwrap_or("").to_string();
            let (kind, hint) = match code.as_str() {
                "NoSuchBucket" => (Kind::Usage, ": the bucket does not exist (s3-push --create-bucket creates it)"),
                "NoSuchKey" | "NotFound" => (Kind::Usage, ": no such object"),
                "SignatureDoesNotMatch" | "InvalidAccessKeyId" | "AccessDenied" | "InvalidToken" | "ExpiredToken" => {
                    (Kind::Auth, ": check the credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, --profile)")
                }
                _ => (Kind::Failure, ""),
            };
            let msg = if msg.is_empty() { String::new() } else { format!(" ({msg})") };
            Error::new(kind, format!("{what}: {code}{msg}{hint}"))
        }
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_) => {
            let mut text = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                text = format!("{text}: {s}");
                src = s.source();
            }
            Error::new(Kind::Unavailable, format!("{what}: cannot reach {}: {text}", args.where_()))
        }
        _ => Error::new(Kind::Failure, format!("{what}: {e}")),
    }
}

/// What the tail of an input says about its completeness.
#[derive(Debug, PartialEq, Eq)]
pub enum Completeness {
    /// A reshifter stream ending in its trailer, or a ZIP archive ending in its end record.
    Complete(&'static str),
    /// A reshifter stream or ZIP archive that was cut short.
    Incomplete(&'static str),
    /// Anything else (e.g. age-encrypted): cannot tell.
    Unknown,
}

/// Judge an input from its first bytes and its last bytes.
pub fn completeness(head: &[u8], tail: &[u8]) -> Completeness {
    if head.starts_with(b"{\"type\":\"header\"") {
        let t = tail.strip_suffix(b"\n").unwrap_or(tail);
        let last = t.rsplit(|&b| b == b'\n').next().unwrap_or(t);
        return if last.starts_with(b"{\"type\":\"trailer\"") {
            Completeness::Complete("a reshifter stream with its trailer")
        } else {
            Completeness::Incomplete("a reshifter stream without its trailer")
        };
    }
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        // The end of central directory record: 22 bytes plus a comment, at the very end.
        let found = (0..tail.len().saturating_sub(21)).rev().any(|i| {
            tail[i..].starts_with(b"PK\x05\x06") && {
                let clen = u16::from_le_bytes([tail[i + 20], tail[i + 21]]) as usize;
                i + 22 + clen == tail.len()
            }
        });
        return if found {
            Completeness::Complete("a ZIP archive with its end record")
        } else {
            Completeness::Incomplete("a ZIP archive without its central directory")
        };
    }
    Completeness::Unknown
}

/// Options of s3-push.
#[derive(Debug, Clone)]
pub struct PushOptions {
    pub s3: S3Args,
    pub uri: S3Uri,
    pub input: Option<PathBuf>,
    pub part_size: usize,
    pub concurrency: usize,
    pub create_bucket: bool,
    pub sse: Option<String>,
    pub sse_kms_key_id: Option<String>,
    pub allow_incomplete: bool,
    pub json: bool,
    pub quiet: bool,
}

/// What a push stored.
#[derive(Debug, Serialize)]
pub struct Pushed {
    pub uri: String,
    pub size: u64,
    pub sha256: String,
    pub parts: u64,
    pub seconds: f64,
}

/// Fill `buf` from `r` up to its capacity; returns false at end of input.
fn fill(r: &mut dyn Read, buf: &mut Vec<u8>, want: usize) -> std::io::Result<bool> {
    buf.clear();
    let n = r.take(want as u64).read_to_end(buf)?;
    Ok(n == want)
}

const TAIL: usize = 128 * 1024;

fn keep_tail(tail: &mut Vec<u8>, data: &[u8]) {
    tail.extend_from_slice(&data[data.len().saturating_sub(TAIL)..]);
    if tail.len() > TAIL {
        tail.drain(..tail.len() - TAIL);
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
pub fn push(o: PushOptions) -> anyhow::Result<()> {
    if o.uri.key.is_empty() || o.uri.key.ends_with('/') {
        return Err(Error::new(Kind::Usage, format!("{}: give an object key, not a prefix", o.uri)).into());
    }
    if o.part_size < 5 << 20 {
        return Err(Error::new(Kind::Usage, "--part-size must be at least 5 MiB (an S3 limit)").into());
    }
    let sse = sse_of(&o)?;
    let rt = crate::dump::runtime(2)?;
    let started = Instant::now();
    let mut input = crate::io::open_input(o.input.as_deref())?;
    let result = rt.block_on(push_async(&o, &mut input, sse, started));
    let pushed = result?;
    if o.json {
        let mut out = Output::create(None)?;
        serde_json::to_writer(&mut out, &pushed)?;
        out.write_all(b"\n")?;
        out.finish()?;
    } else if !o.quiet {
        eprintln!(
            "s3-push: {} {} ({} parts) sha256 {} in {}",
            pushed.uri,
            human_bytes(pushed.size),
            pushed.parts,
            pushed.sha256,
            secs(started.elapsed())
        );
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
    if status != Some(404) {
        return Err(s3_error(&o.s3, &format!("cannot reach bucket {bucket}"), err));
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

async fn push_async(
    o: &PushOptions,
    input: &mut (dyn std::io::BufRead + Send),
    sse: Option<ServerSideEncryption>,
    started: Instant,
) -> Result<Pushed> {
    let c = o.s3.client().await;
    ensure_bucket(&c, o).await?;
    let (bucket, key) = (o.uri.bucket.clone(), o.uri.key.clone());
    let sum_key = format!("{key}{CHECKSUM_SUFFIX}");
    let mut hasher = Sha256::new();
    let mut tail: Vec<u8> = Vec::new();
    let mut head: Vec<u8> = Vec::new();
    let mut size: u64 = 0;
    let mut progress = Progress::new("s3-push");

    let mut buf = Vec::with_capacity(o.part_size);
    let more = tokio::task::block_in_place(|| fill(input, &mut buf, o.part_size))?;
    hasher.update(&buf);
    head.extend_from_slice(&buf[..buf.len().min(64)]);
    keep_tail(&mut tail, &buf);
    size += buf.len() as u64;

    let check = |head: &[u8], tail: &[u8]| -> Result<()> {
        match completeness(head, tail) {
            Completeness::Incomplete(what) if !o.allow_incomplete => Err(Error::new(
                Kind::Truncated,
                format!(
                    "the input is {what}: its producer failed; nothing was uploaded (--allow-incomplete uploads it anyway)"
                ),
            )),
            _ => Ok(()),
        }
    };
    let put_sum = |sha: String| {
        let c = c.clone();
        let (bucket, sum_key, key) = (bucket.clone(), sum_key.clone(), key.clone());
        let name = key.rsplit('/').next().unwrap_or(&key).to_string();
        async move {
            let body = format!("{sha}  {name}\n");
            c.put_object().bucket(bucket).key(sum_key).body(ByteStream::from(body.into_bytes())).send().await
        }
    };

    if !more {
        // Small: one PUT, then its checksum.
        check(&head, &tail)?;
        let sha = hex::encode(hasher.finalize());
        let mut req = c
            .put_object()
            .bucket(&bucket)
            .key(&key)
            .metadata("reshifter-sha256", &sha)
            .body(ByteStream::from(std::mem::take(&mut buf)));
        if let Some(s) = sse.clone() {
            req = req.server_side_encryption(s);
            if let Some(k) = &o.sse_kms_key_id {
                req = req.ssekms_key_id(k);
            }
        }
        put_sum(sha.clone())
            .await
            .map_err(|e| s3_error(&o.s3, &format!("cannot store {}{CHECKSUM_SUFFIX}", o.uri), e))?;
        if let Err(e) = req.send().await {
            let _ = c.delete_object().bucket(&bucket).key(&sum_key).send().await;
            return Err(s3_error(&o.s3, &format!("cannot upload {}", o.uri), e));
        }
        return Ok(Pushed {
            uri: o.uri.to_string(),
            size,
            sha256: sha,
            parts: 1,
            seconds: started.elapsed().as_secs_f64(),
        });
    }

    let mut create = c.create_multipart_upload().bucket(&bucket).key(&key);
    if let Some(s) = sse.clone() {
        create = create.server_side_encryption(s);
        if let Some(k) = &o.sse_kms_key_id {
            create = create.ssekms_key_id(k);
        }
    }
    let created =
        create.send().await.map_err(|e| s3_error(&o.s3, &format!("cannot start the upload of {}", o.uri), e))?;
    let upload_id = created.upload_id().unwrap_or_default().to_string();

    let outcome: Result<(String, u64)> = async {
        let mut tasks: JoinSet<Result<(i32, String)>> = JoinSet::new();
        let mut parts: Vec<(i32, String)> = Vec::new();
        let mut number = 0i32;
        let mut data = std::mem::take(&mut buf);
        let mut last = false;
        loop {
            number += 1;
            let (c2, b, k, u, s3) = (c.clone(), bucket.clone(), key.clone(), upload_id.clone(), o.s3.clone());
            let n = number;
            let body = bytes::Bytes::from(std::mem::take(&mut data));
            tasks.spawn(async move {
                let mut attempt = 0;
                loop {
                    let r = c2
                        .upload_part()
                        .bucket(&b)
                        .key(&k)
                        .upload_id(&u)
                        .part_number(n)
                        .body(ByteStream::from(body.clone()))
                        .send()
                        .await;
                    match r {
                        Ok(out) => return Ok((n, out.e_tag().unwrap_or_default().to_string())),
                        Err(e)
                            if attempt < 2
                                && matches!(
                                    e,
                                    aws_sdk_s3::error::SdkError::TimeoutError(_)
                                        | aws_sdk_s3::error::SdkError::ResponseError(_)
                                ) =>
                        {
                            attempt += 1;
                            tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
                        }
                        Err(e) => return Err(s3_error(&s3, &format!("cannot upload part {n}"), e)),
                    }
                }
            });
            while tasks.len() >= o.concurrency.max(1) {
                if let Some(r) = tasks.join_next().await {
                    parts.push(r.map_err(|e| Error::new(Kind::Failure, e.to_string()))??);
                }
            }
            progress.update(|| format!("{} read, {} parts", human_bytes(size), number));
            if last {
                break;
            }
            let mut next = Vec::with_capacity(o.part_size);
            let more = tokio::task::block_in_place(|| fill(input, &mut next, o.part_size))?;
            if next.is_empty() {
                break;
            }
            hasher.update(&next);
            keep_tail(&mut tail, &next);
            size += next.len() as u64;
            data = next;
            last = !more;
        }
        while let Some(r) = tasks.join_next().await {
            parts.push(r.map_err(|e| Error::new(Kind::Failure, e.to_string()))??);
        }
        check(&head, &tail)?;
        parts.sort();
        let sha = hex::encode(hasher.clone().finalize());
        // The checksum first, then the object: an object never exists without its checksum.
        put_sum(sha.clone())
            .await
            .map_err(|e| s3_error(&o.s3, &format!("cannot store {}{CHECKSUM_SUFFIX}", o.uri), e))?;
        let done = CompletedMultipartUpload::builder()
            .set_parts(Some(
                parts.iter().map(|(n, e)| CompletedPart::builder().part_number(*n).e_tag(e).build()).collect(),
            ))
            .build();
        if let Err(e) = c
            .complete_multipart_upload()
            .bucket(&bucket)
            .key(&key)
            .upload_id(&upload_id)
            .multipart_upload(done)
            .send()
            .await
        {
            let _ = c.delete_object().bucket(&bucket).key(&sum_key).send().await;
            return Err(s3_error(&o.s3, &format!("cannot complete the upload of {}", o.uri), e));
        }
        Ok((sha, parts.len() as u64))
    }
    .await;
    progress.clear();
    match outcome {
        Ok((sha, parts)) => {
            Ok(Pushed { uri: o.uri.to_string(), size, sha256: sha, parts, seconds: started.elapsed().as_secs_f64() })
        }
        Err(e) => {
            let aborted = c.abort_multipart_upload().bucket(&bucket).key(&key).upload_id(&upload_id).send().await;
            let note = match aborted {
                Ok(_) => "the upload was aborted, no object was created".to_string(),
                Err(a) => {
                    format!("aborting the upload failed too ({}); no object was created", s3_error(&o.s3, "abort", a))
                }
            };
            Err(Error::with_source(e.kind(), format!("{}: {note}", e.message()), e))
        }
    }
}

/// Bytes per ranged GET of a pull, and how many run at once (memory: their product).
const PULL_RANGE: u64 = 8 << 20;
const PULL_PARALLEL: usize = 6;

/// Options of s3-pull.
#[derive(Debug, Clone)]
pub struct PullOptions {
    pub s3: S3Args,
    pub uri: S3Uri,
    /// Pull the newest object under the URI's key, taken as a prefix.
    pub latest: bool,
    pub output: Option<PathBuf>,
    pub verify: bool,
    pub quiet: bool,
}

/// One backup object.
#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    pub uri: String,
    pub key: String,
    pub size: i64,
    /// Last modified, RFC 3339.
    pub time: String,
    #[serde(skip)]
    pub unix: i64,
    pub sha256: Option<String>,
}

/// Every object under a prefix except checksum objects, oldest first.
async fn list(c: &Client, s3: &S3Args, bucket: &str, prefix: &str) -> Result<Vec<Listed>> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut req = c.list_objects_v2().bucket(bucket).prefix(prefix);
        if let Some(t) = &token {
            req = req.continuation_token(t);
        }
        let resp = req.send().await.map_err(|e| s3_error(s3, &format!("cannot list s3://{bucket}/{prefix}"), e))?;
        for obj in resp.contents() {
            let key = obj.key().unwrap_or_default().to_string();
            if key.ends_with(CHECKSUM_SUFFIX) || key.ends_with('/') {
                continue;
            }
            let unix = obj.last_modified().map(|t| t.secs()).unwrap_or(0);
            let time =
                humantime::format_rfc3339_seconds(SystemTime::UNIX_EPOCH + Duration::from_secs(unix.max(0) as u64))
                    .to_string();
            out.push(Listed {
                uri: format!("s3://{bucket}/{key}"),
                key,
                size: obj.size().unwrap_or(0),
                time,
                unix,
                sha256: None,
            });
        }
        match resp.next_continuation_token() {
            Some(t) if resp.is_truncated() == Some(true) => token = Some(t.to_string()),
            _ => break,
        }
    }
    out.sort_by(|a, b| a.unix.cmp(&b.unix).then(a.key.cmp(&b.key)));
    Ok(out)
}

/// The checksum stored beside an object, if any.
async fn stored_sha(c: &Client, bucket: &str, key: &str) -> Option<String> {
    let r = c.get_object().bucket(bucket).key(format!("{key}{CHECKSUM_SUFFIX}")).send().await.ok()?;
    let body = r.body.collect().await.ok()?.into_bytes();
    let text = String::from_utf8_lossy(&body);
    let sha = text.split_whitespace().next()?.to_string();
    (sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_hexdigit())).then_some(sha)
}

/// Run s3-pull.
pub fn pull(o: PullOptions) -> anyhow::Result<()> {
    let rt = crate::dump::runtime(2)?;
    let started = Instant::now();
    rt.block_on(async {
        let c = o.s3.client().await;
        let uri = if o.latest {
            let all = list(&c, &o.s3, &o.uri.bucket, &o.uri.key).await?;
            let newest = all.last().ok_or_else(|| Error::new(Kind::Usage, format!("no objects under {}", o.uri)))?;
            S3Uri { bucket: o.uri.bucket.clone(), key: newest.key.clone() }
        } else {
            o.uri.clone()
        };
        let want = if o.verify {
            Some(stored_sha(&c, &uri.bucket, &uri.key).await.ok_or_else(|| {
                Error::new(
                    Kind::Integrity,
                    format!("{uri} has no checksum ({CHECKSUM_SUFFIX}): it was not pushed by s3-push or its push did not finish (--no-verify pulls it anyway)"),
                )
            })?)
        } else {
            None
        };
        let mut out = Output::create(o.output.as_deref())?;
        let mut hasher = Sha256::new();
        let mut size: u64 = 0;
        let mut progress = Progress::new("s3-pull");
        let head = c.head_object().bucket(&uri.bucket).key(&uri.key).send().await.map_err(|e| {
            let status = e.raw_response().map(|r| r.status().as_u16());
            if status == Some(404) {
                Error::new(Kind::Usage, format!("cannot get {uri}: NoSuchKey: no such object"))
            } else {
                s3_error(&o.s3, &format!("cannot get {uri}"), e)
            }
        })?;
        let total = head.content_length().unwrap_or(0).max(0) as u64;
        // Ranges fetched several at a time, written in order: memory is PULL_RANGE × PULL_PARALLEL.
        let ranges: Vec<(u64, u64)> = (0..total.div_ceil(PULL_RANGE)).map(|i| (i * PULL_RANGE, ((i + 1) * PULL_RANGE).min(total) - 1)).collect();
        let fetch = |(from, to): (u64, u64)| {
            let (c, uri, s3) = (c.clone(), uri.clone(), o.s3.clone());
            async move {
                let mut attempt = 0;
                loop {
                    let r = c.get_object().bucket(&uri.bucket).key(&uri.key).range(format!("bytes={from}-{to}")).send().await;
                    let err = match r {
                        Ok(resp) => match resp.body.collect().await {
                            // The response's pieces, not one copy of them.
                            Ok(b) if b.remaining() as u64 == to - from + 1 => return Ok(b.into_segments().collect::<Vec<_>>()),
                            Ok(b) => format!("{} bytes instead of {}", b.remaining(), to - from + 1),
                            Err(e) => e.to_string(),
                        },
                        Err(e) if attempt >= 3 => return Err(s3_error(&s3, &format!("cannot get {uri} (bytes {from}-{to})"), e)),
                        Err(e) => e.to_string(),
                    };
                    if attempt >= 3 {
                        return Err(Error::new(Kind::Unavailable, format!("downloading {uri} (bytes {from}-{to}) failed: {err}")));
                    }
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
                }
            }
        };
        let mut chunks = futures::stream::iter(ranges).map(fetch).buffered(PULL_PARALLEL);
        while let Some(chunk) = futures::StreamExt::next(&mut chunks).await {
            for piece in chunk? {
                hasher.update(&piece);
                size += piece.len() as u64;
                tokio::task::block_in_place(|| out.write_all(&piece))?;
            }
            progress.update(|| format!("{} of {}", human_bytes(size), human_bytes(total)));
        }
        progress.clear();
        let sha = hex::encode(hasher.finalize());
        if let Some(w) = want
            && w != sha
        {
            return Err(Error::new(
                Kind::Integrity,
                format!("{uri}: SHA-256 mismatch: the object is {sha}, its checksum says {w}: the download or the object is corrupt"),
            ));
        }
        out.finish()?;
        if !o.quiet {
            eprintln!("s3-pull: {uri} {} sha256 {sha}{} in {}", human_bytes(size), if o.verify { " (verified)" } else { "" }, secs(started.elapsed()));
        }
        Ok::<_, Error>(())
    })?;
    Ok(())
}

/// Run s3-ls: NDJSON, or a table on a terminal.
pub fn ls(s3: S3Args, uri: S3Uri, checksums: bool, table: Option<bool>) -> anyhow::Result<()> {
    let rt = crate::dump::runtime(2)?;
    let items = rt.block_on(async {
        let c = s3.client().await;
        let mut items = list(&c, &s3, &uri.bucket, &uri.key).await?;
        if checksums {
            for i in items.iter_mut() {
                i.sha256 = stored_sha(&c, &uri.bucket, &i.key).await;
            }
        }
        Ok::<_, Error>(items)
    })?;
    let mut out = Output::create(None)?;
    let table = table.unwrap_or_else(|| std::io::IsTerminal::is_terminal(&std::io::stdout()));
    if table {
        for i in &items {
            writeln!(
                out,
                "{}  {:>10}  {}  {}",
                i.time,
                human_bytes(i.size.max(0) as u64),
                i.sha256.as_deref().map(|s| &s[..12]).unwrap_or("-"),
                i.uri
            )?;
        }
    } else {
        for i in &items {
            serde_json::to_writer(&mut out, i)?;
            out.write_all(b"\n")?;
        }
    }
    out.finish()?;
    Ok(())
}

/// Options of s3-prune.
#[derive(Debug, Clone)]
pub struct PruneOptions {
    pub s3: S3Args,
    pub uri: S3Uri,
    pub keep_last: Option<usize>,
    pub keep_within: Option<Duration>,
    pub dry_run: bool,
    pub now: Option<SystemTime>,
}

/// Which backups a retention policy keeps: the newest `keep_last`, and all younger than
/// `keep_within`. `items` oldest first; returns (keep?, reason) per item.
pub fn retention(
    items: &[Listed],
    keep_last: Option<usize>,
    keep_within: Option<Duration>,
    now: i64,
) -> Vec<(bool, String)> {
    let n = items.len();
    items
        .iter()
        .enumerate()
        .map(|(i, it)| {
            let rank = n - i; // 1 = newest
            if keep_last.is_some_and(|k| rank <= k) {
                return (true, format!("among the newest {}", keep_last.unwrap_or(0)));
            }
            if let Some(w) = keep_within
                && now - it.unix <= w.as_secs() as i64
            {
                return (true, format!("younger than {}", humantime::format_duration(w)));
            }
            (false, "outside the retention policy".into())
        })
        .collect()
}

/// Run s3-prune: delete backups outside `--keep-last N` and `--keep-within D`.
pub fn prune(o: PruneOptions) -> anyhow::Result<()> {
    if o.keep_last.is_none() && o.keep_within.is_none() {
        return Err(Error::new(
            Kind::Usage,
            "give --keep-last N and/or --keep-within DURATION: pruning without a policy would delete every backup",
        )
        .into());
    }
    if o.keep_last == Some(0) && o.keep_within.is_none() {
        return Err(Error::new(Kind::Usage, "--keep-last 0 alone would delete every backup").into());
    }
    let rt = crate::dump::runtime(2)?;
    rt.block_on(async {
        let c = o.s3.client().await;
        let items = list(&c, &o.s3, &o.uri.bucket, &o.uri.key).await?;
        let now = o
            .now
            .unwrap_or_else(SystemTime::now)
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let decisions = retention(&items, o.keep_last, o.keep_within, now);
        let mut out = Output::create(None)?;
        let (mut kept, mut deleted) = (0, 0);
        for (it, (keep, why)) in items.iter().zip(decisions) {
            let action = if keep {
                "keep"
            } else if o.dry_run {
                "would-delete"
            } else {
                "delete"
            };
            if !keep && !o.dry_run {
                c.delete_object()
                    .bucket(&o.uri.bucket)
                    .key(&it.key)
                    .send()
                    .await
                    .map_err(|e| s3_error(&o.s3, &format!("cannot delete {}", it.uri), e))?;
                let _ =
                    c.delete_object().bucket(&o.uri.bucket).key(format!("{}{CHECKSUM_SUFFIX}", it.key)).send().await;
            }
            if keep {
                kept += 1;
            } else {
                deleted += 1;
            }
            let line =
                serde_json::json!({"action": action, "uri": it.uri, "time": it.time, "size": it.size, "reason": why});
            serde_json::to_writer(&mut out, &line).map_err(std::io::Error::other)?;
            out.write_all(b"\n")?;
        }
        out.finish()?;
        eprintln!(
            "s3-prune: {kept} kept, {deleted} {}",
            if o.dry_run { "would be deleted (dry run)" } else { "deleted" }
        );
        Ok::<_, Error>(())
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris() {
        assert_eq!("s3://b/k/x.zip".parse::<S3Uri>().unwrap(), S3Uri { bucket: "b".into(), key: "k/x.zip".into() });
        assert_eq!("s3://b".parse::<S3Uri>().unwrap().key, "");
        assert!("b/k".parse::<S3Uri>().is_err());
    }

    #[test]
    fn completeness_by_format() {
        assert_eq!(
            completeness(b"{\"type\":\"header\"", b"{\"key\":1}\n{\"type\":\"trailer\",\"count\":1}\n"),
            Completeness::Complete("a reshifter stream with its trailer")
        );
        assert!(matches!(completeness(b"{\"type\":\"header\"", b"{\"key\":1}\n"), Completeness::Incomplete(_)));
        let mut zip = b"PK\x03\x04....PK\x05\x06".to_vec();
        zip.extend_from_slice(&[0u8; 18]);
        assert!(matches!(completeness(&zip, &zip), Completeness::Complete(_)));
        assert!(matches!(completeness(&zip, &zip[..zip.len() - 1]), Completeness::Incomplete(_)));
        assert_eq!(completeness(b"age-encryption.org/v1", b"x"), Completeness::Unknown);
    }

    #[test]
    fn retention_policy() {
        let mk = |unix: i64| Listed {
            uri: String::new(),
            key: unix.to_string(),
            size: 1,
            time: String::new(),
            unix,
            sha256: None,
        };
        let items: Vec<Listed> = [100, 200, 300, 400, 500].into_iter().map(mk).collect();
        let keep = |l, w| retention(&items, l, w, 500).into_iter().map(|(k, _)| k).collect::<Vec<_>>();
        assert_eq!(keep(Some(2), None), [false, false, false, true, true]);
        assert_eq!(keep(None, Some(Duration::from_secs(250))), [false, false, true, true, true]);
        assert_eq!(keep(Some(1), Some(Duration::from_secs(150))), [false, false, false, true, true]);
    }
}
