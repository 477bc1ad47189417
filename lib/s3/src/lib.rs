//! Object storage: s3-push, s3-pull, s3-ls and s3-prune against S3 or any S3-compatible server.
//!
//! - Streams in bounded memory: a push holds `part size × (parts in flight + 1)` bytes; a pull
//!   holds a few ranges.
//! - A backup is an object with a checksum object beside it, `<key>.sha256` (`sha256sum`
//!   format), written only after the object is complete and bound to it by the object's ETag
//!   (kept in the checksum object's metadata). A push that fails leaves no object, or an object
//!   whose checksum does not name it: listing, `--latest` and pruning count neither as a backup.
//! - A push whose input is a reshifter stream without trailer, a ZIP without its end record, or
//!   an age file without archive-pack's end record uploads nothing: its producer failed.
//! - A prefix is a directory: `s3://b/prod` means `s3://b/prod/`, never `prod-staging/`.
//! - Custom endpoints (MinIO, Ceph, ...) get path-style addressing and checksums only "when
//!   required": the SDK's newer default checksum headers are refused by many such servers.

/// Attempts per S3 request (the first included), by the SDK's standard retry mode.
pub const MAX_ATTEMPTS: u32 = 5;

mod manage;
mod pull;
mod push;

pub use manage::{PruneOptions, PruneSummary, Pruned, ls, newest_segment, prune, prune_with, retention};

/// The backups under `uri` in ReShifter's layout, oldest first: (id, size).
pub fn reshifter_listing(s3: &S3Args, uri: &S3Uri) -> Result<Vec<(u64, i64)>> {
    runtime()?.block_on(async {
        let c = s3.client().await;
        Ok(reshifter_backups(&c, s3, &uri.bucket, &uri.dir())
            .await?
            .into_iter()
            .filter_map(|i| Some((i.backup_id?, i.size)))
            .collect())
    })
}

/// The backup ids under `uri` in ReShifter's layout, oldest first (rcli backup list).
pub fn reshifter_ids(s3: &S3Args, uri: &S3Uri) -> Result<Vec<u64>> {
    runtime()?.block_on(async {
        let c = s3.client().await;
        Ok(reshifter_backups(&c, s3, &uri.bucket, &uri.dir()).await?.into_iter().filter_map(|i| i.backup_id).collect())
    })
}
pub use pull::{PullOptions, pull};
pub use push::{PushOptions, Pushed, push};
pub use reshifter_archive::payload::{Completeness, completeness};

use std::time::{Duration, SystemTime};

use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::{Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation};
use aws_sdk_s3::error::ProvideErrorMetadata;
use serde::Serialize;

use reshifter_format::error::{Error, Kind, Result};

/// Suffix of the checksum object stored beside each pushed object.
pub const CHECKSUM_SUFFIX: &str = ".sha256";

/// Metadata of a checksum object: the ETag of the object it certifies.
const META_ETAG: &str = "reshifter-etag";
/// Metadata of a checksum object: what s3-push checked of the content (stream, delta, archive,
/// age); absent when it could check nothing, or for uploads of releases that did not check.
const META_CHECKED: &str = "reshifter-checked";

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

impl S3Args {
    /// The S3 connection a library caller (rcli, the server) builds in code: `endpoint` (a
    /// URL) when given, else `AWS_ENDPOINT_URL_S3`; region and profile from the environment as
    /// the tools read them; credentials from the AWS chain when connecting.
    pub fn from_env(endpoint: Option<String>) -> S3Args {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        S3Args {
            endpoint: endpoint.or_else(|| var("AWS_ENDPOINT_URL_S3")),
            region: var("AWS_REGION"),
            profile: var("AWS_PROFILE"),
            path_style: None,
        }
    }
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

impl S3Uri {
    /// The key as a directory: `prod` → `prod/` (so that `prod-staging/` is not under it);
    /// the bucket's root stays empty.
    pub fn dir(&self) -> String {
        if self.key.is_empty() || self.key.ends_with('/') { self.key.clone() } else { format!("{}/", self.key) }
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
        // The one retry policy for S3 requests: the SDK's standard mode (exponential backoff
        // with jitter, a retry quota), unless AWS_MAX_ATTEMPTS / AWS_RETRY_MODE or the profile
        // chose one. No hand-written retries are stacked on it.
        if sdk.retry_config().is_none_or(|r| *r == RetryConfig::standard()) {
            b = b.retry_config(
                RetryConfig::standard()
                    .with_max_attempts(MAX_ATTEMPTS)
                    .with_initial_backoff(std::time::Duration::from_millis(200))
                    .with_max_backoff(std::time::Duration::from_secs(5)),
            );
        }
        Client::from_conf(b.build())
    }

    fn where_(&self) -> String {
        self.endpoint.clone().unwrap_or_else(|| "AWS S3".into())
    }
}

/// An SDK error as one line with a kind and a hint.
fn s3_error<E>(args: &S3Args, what: &str, e: aws_sdk_s3::error::SdkError<E, HttpResponse>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    use aws_sdk_s3::error::SdkError;
    match &e {
        SdkError::ServiceError(se) => {
            let err = se.err();
            // Answers to HEAD requests carry no body, hence no error code: name it by its status.
            let status = se.raw().status().as_u16();
            let code = match (err.code(), status) {
                (Some(c), _) => c.to_string(),
                (None, 403) => "AccessDenied".to_string(),
                (None, 404) => "NotFound".to_string(),
                (None, 503) => "ServiceUnavailable".to_string(),
                (None, 500) => "InternalError".to_string(),
                (None, s) => format!("HTTP {s}"),
            };
            let msg = err.message().unwrap_or("").to_string();
            let (kind, hint) = match code.as_str() {
                "NoSuchBucket" => (Kind::Usage, ": the bucket does not exist (s3-push --create-bucket creates it)"),
                "NoSuchKey" | "NotFound" => (Kind::Usage, ": no such object"),
                "SignatureDoesNotMatch" | "InvalidAccessKeyId" | "AccessDenied" | "InvalidToken" | "ExpiredToken" => (
                    Kind::Auth,
                    ": check the credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, --profile) and the bucket's policy",
                ),
                "SlowDown" | "ServiceUnavailable" | "InternalError" | "RequestTimeout" => (Kind::Unavailable, ""),
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

/// The checksum object of a backup, as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checksum {
    /// SHA-256 of the object, hex.
    pub sha256: String,
    /// The ETag of the object it was written for; `None` for checksums of the first release,
    /// which did not record it.
    pub etag: Option<String>,
    /// What s3-push checked of the content as it streamed by (`None`: nothing).
    pub checked: Option<String>,
}

/// The checksum stored beside an object: `Ok(None)` when there is none; errors (unreachable,
/// refused credentials) are errors, never "no checksum".
async fn stored_checksum(c: &Client, s3: &S3Args, bucket: &str, key: &str) -> Result<Option<Checksum>> {
    let sum_key = format!("{key}{CHECKSUM_SUFFIX}");
    let r = match c.get_object().bucket(bucket).key(&sum_key).send().await {
        Ok(r) => r,
        Err(e) if e.raw_response().map(|r| r.status().as_u16()) == Some(404) => return Ok(None),
        Err(e) => return Err(s3_error(s3, &format!("cannot read s3://{bucket}/{sum_key}"), e)),
    };
    let etag = r.metadata().and_then(|m| m.get(META_ETAG)).map(|e| etag(e));
    let checked = r.metadata().and_then(|m| m.get(META_CHECKED)).cloned();
    let body = r
        .body
        .collect()
        .await
        .map_err(|e| Error::new(Kind::Unavailable, format!("cannot read s3://{bucket}/{sum_key}: {e}")))?;
    let body = body.into_bytes();
    if body.len() > 4096 {
        return Ok(None);
    }
    let text = String::from_utf8_lossy(&body);
    let sha = text.split_whitespace().next().unwrap_or("").to_string();
    let ok = sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_hexdigit());
    Ok(ok.then(|| Checksum { sha256: sha.to_ascii_lowercase(), etag, checked }))
}

/// How backups lie under a prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum S3Layout {
    /// s3-push's: any object whose checksum object (<key>.sha256) names it
    #[default]
    Native,
    /// ReShifter's: <backup id>.zip (the backup's Unix seconds) directly under the prefix, no
    /// checksum objects (ReShifter lists every object as a backup); archive-unpack verifies them
    Reshifter,
}

/// The backup id of an object name (relative to its prefix) in ReShifter's layout.
pub fn reshifter_backup_id(name: &str) -> Option<u64> {
    let id = name.strip_suffix(".zip")?;
    if id.is_empty() || id.len() > 19 || !id.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    id.parse().ok()
}

/// The backups under a directory prefix in ReShifter's layout, oldest (smallest id) first, with
/// their id as their time.
async fn reshifter_backups(c: &Client, s3: &S3Args, bucket: &str, dir: &str) -> Result<Vec<Listed>> {
    let mut items: Vec<Listed> = list(c, s3, bucket, dir)
        .await?
        .into_iter()
        .filter_map(|mut i| {
            let id = reshifter_backup_id(i.key.strip_prefix(dir).unwrap_or(&i.key))?;
            i.backup_id = Some(id);
            // Its age is its id's, but never younger than the object itself: an object named
            // by a time in the future would otherwise rank as the newest of every retention.
            i.unix = (id.min(i64::MAX as u64) as i64).min(i.unix);
            i.time = humantime::format_rfc3339_seconds(
                SystemTime::UNIX_EPOCH + Duration::from_secs(id.min(253_402_300_799)),
            )
            .to_string();
            Some(i)
        })
        .collect();
    items.sort_by_key(|i| (i.unix, i.backup_id));
    Ok(items)
}

/// One object under a prefix.
#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    pub uri: String,
    pub key: String,
    /// ReShifter's layout: the backup id its name carries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup_id: Option<u64>,
    pub size: i64,
    /// Last modified, RFC 3339.
    pub time: String,
    #[serde(skip)]
    pub unix: i64,
    #[serde(skip)]
    pub etag: String,
    pub sha256: Option<String>,
    /// Its upload completed: its checksum object names this very object (`None`: not looked at).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub complete: Option<bool>,
    /// What s3-push checked of its content as it was uploaded: stream, delta, archive (digests,
    /// every entry), age (the end record's SHA-256); `null`: nothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checked: Option<String>,
    /// A verified backup: complete, and its content was checked (`None`: not looked at).
    pub verified: Option<bool>,
}

/// Every object under a directory prefix except checksum objects, oldest first.
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
                backup_id: None,
                size: obj.size().unwrap_or(0),
                time,
                unix,
                etag: etag(obj.e_tag().unwrap_or_default()),
                sha256: None,
                complete: None,
                checked: None,
                verified: None,
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

/// Read each object's checksum and whether it names that object.
async fn check_all(c: &Client, s3: &S3Args, bucket: &str, items: &mut [Listed]) -> Result<()> {
    for i in items.iter_mut() {
        let sum = stored_checksum(c, s3, bucket, &i.key).await?;
        if i.etag.is_empty() && sum.as_ref().is_some_and(|s| s.etag.is_some()) {
            // Some servers list objects without their ETag: ask for it.
            let h = c
                .head_object()
                .bucket(bucket)
                .key(&i.key)
                .send()
                .await
                .map_err(|e| s3_error(s3, &format!("cannot read {}", i.uri), e))?;
            i.etag = etag(h.e_tag().unwrap_or_default());
        }
        let complete = sum.as_ref().is_some_and(|s| s.etag.as_deref().is_none_or(|e| e == i.etag));
        i.complete = Some(complete);
        i.checked = sum.as_ref().and_then(|s| s.checked.clone()).filter(|_| complete);
        i.verified = Some(complete && i.checked.is_some());
        i.sha256 = sum.map(|s| s.sha256);
    }
    Ok(())
}

/// An ETag without its quotes (servers quote it in some answers and not in others).
fn etag(s: &str) -> String {
    s.trim().trim_matches('"').to_string()
}

/// Build the runtime of an S3 tool.
fn runtime() -> Result<tokio::runtime::Runtime> {
    reshifter_format::parallel::runtime(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris() {
        assert_eq!("s3://b/k/x.zip".parse::<S3Uri>().unwrap(), S3Uri { bucket: "b".into(), key: "k/x.zip".into() });
        assert_eq!("s3://b".parse::<S3Uri>().unwrap().key, "");
        assert!("b/k".parse::<S3Uri>().is_err());
        assert_eq!("s3://b/prod".parse::<S3Uri>().unwrap().dir(), "prod/");
        assert_eq!("s3://b/prod/".parse::<S3Uri>().unwrap().dir(), "prod/");
        assert_eq!("s3://b".parse::<S3Uri>().unwrap().dir(), "");
    }

    #[test]
    fn reshifter_ids() {
        assert_eq!(reshifter_backup_id("1499588813.zip"), Some(1_499_588_813));
        assert_eq!(reshifter_backup_id("1499588813.zip.sha256"), None);
        assert_eq!(reshifter_backup_id("latest.zip"), None);
        assert_eq!(reshifter_backup_id(".zip"), None);
        assert_eq!(reshifter_backup_id("99999999999999999999.zip"), None);
    }
}
