//! The HTTP API: ReShifter's routes with its requests and answers, and ours beside them.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State as Ax};
use axum::http::{StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::answers::{
    BackupIds, BackupMade, BackupRecord, BackupResult, Backups, EndpointStats, Jobs, Link, Listed, NodeFiles, Received,
    ResourcePlan, Restored, ServerConfig, Uploaded, Verified, Would, success,
};
use crate::body::JsonBody;
use crate::{State, ui};
use reshifter_archive::unpack::UnpackOptions;
use reshifter_format::error::{Error, Kind};
use reshifter_rcli::{Endpoint, HowRestore, Remote};

/// An error answer: a status and a line of text (ReShifter answered failures with 409 and the
/// error's text). Credentials in URLs are redacted from the text.
pub struct ApiError(StatusCode, String);

impl ApiError {
    pub fn new(status: StatusCode, text: impl Into<String>) -> Self {
        ApiError(status, reshifter_format::redact::urls(&text.into()).into_owned())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, format!("{}\n", self.1)).into_response()
    }
}

impl From<crate::targets::NotAllowed> for ApiError {
    fn from(e: crate::targets::NotAllowed) -> Self {
        ApiError::new(StatusCode::FORBIDDEN, e.0)
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let status = match e.kind() {
            Kind::Usage => StatusCode::BAD_REQUEST,
            Kind::Auth => StatusCode::FORBIDDEN,
            _ => StatusCode::CONFLICT,
        };
        ApiError::new(status, e.to_string())
    }
}

fn bad(what: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, what)
}

type Shared = Arc<State>;

/// Run blocking toolkit code off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> reshifter_format::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(ApiError::from),
        Err(e) => Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("the job failed: {e}"))),
    }
}

pub fn router(state: Shared) -> Router {
    Router::new()
        .route("/", get(ui::index))
        .route("/ui/{file}", get(ui::asset))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .route("/v1/version", get(|| async { format!("reshifter in version {}", env!("CARGO_PKG_VERSION")) }))
        .route("/v1/explorer", get(explorer))
        .route("/v1/members", get(members))
        .route("/v1/epstats", get(epstats))
        .route("/v1/keyspace", get(keyspace))
        .route("/v1/backup", post(backup))
        .route("/v1/backup/all", get(backup_all))
        .route("/v1/backups", get(backups))
        .route("/v1/config", get(config))
        .route("/v1/backup/{id}", get(backup_get))
        .route("/v1/backup/{id}/verify", get(verify))
        .route("/v1/backup/{id}/link", post(link))
        .route("/v1/restore", post(restore))
        .route("/v1/restore/upload", post(upload).layer(DefaultBodyLimit::max(state.opts.max_upload)))
        .route("/v1/jobs", get(jobs))
        .route("/v1/jobs/{id}", get(job))
        .layer(DefaultBodyLimit::max(64 << 10))
        .layer(middleware::from_fn_with_state(state.clone(), crate::guard::gate))
        .with_state(state)
}

/// ReShifter's `endpoint` field, or the server's --etcd: only an endpoint of the server's own
/// configuration (403 otherwise), spelled as configured.
fn endpoint(s: &State, given: Option<String>, api: Option<String>) -> Result<Endpoint, ApiError> {
    let e = match given.as_deref().map(str::trim).filter(|e| !e.is_empty()) {
        None => s.opts.etcd.clone(),
        Some(g) => s.endpoints.choose(g)?,
    };
    let api = api.as_deref().filter(|a| !a.is_empty()).unwrap_or("auto");
    Ok(Endpoint { etcd_prefix: s.opts.etcd_prefix.clone(), ..Endpoint::new(&e, api) })
}

/// ReShifter's `remote` and `bucket` fields: a remote of the server's own configuration (403
/// otherwise), or none (the local store).
fn remote(s: &State, r: Option<String>, b: Option<String>) -> Result<Remote, ApiError> {
    let r = match r.as_deref().map(str::trim).filter(|r| !r.is_empty()) {
        None => None,
        Some(g) => Some(s.remotes.choose(g)?),
    };
    Ok(Remote::new(r, b.filter(|b| !b.is_empty())))
}

#[derive(Deserialize)]
struct BackupReq {
    endpoint: Option<String>,
    remote: Option<String>,
    bucket: Option<String>,
    /// ReShifter's strategy list: `deployment,service`.
    filter: Option<String>,
    apiversion: Option<String>,
}

/// What a backup job runs.
pub struct Plan {
    pub endpoint: Endpoint,
    pub remote: Remote,
    pub strategy: String,
    pub by: &'static str,
}

/// Run one backup (the caller holds the backup lock), as a job, counted in the metrics.
pub async fn run_backup(s: &Shared, mut plan: Plan) -> Result<reshifter_rcli::Created, ApiError> {
    let job = s.jobs.start("backup", plan.by);
    plan.endpoint.report = s.reporter(format!("job {job} (backup)"));
    s.jobs.phase(job, "backing up");
    let started = Instant::now();
    let (store, keys, node) = (s.store.clone(), s.opts.keys.encrypt_args(), s.opts.node_root.clone());
    let out = blocking(move || {
        let native = reshifter_archive::pack::Layout::Native;
        let node = node.as_deref();
        reshifter_rcli::create_backup(&plan.endpoint, &store, &plan.remote, &plan.strategy, native, &keys, node)
    })
    .await;
    match &out {
        Ok(c) => {
            let (id, keys, bytes) = (c.id, c.keys, c.bytes);
            // Made from a verified stream, packed under a temporary name: verified.
            let record = BackupRecord {
                keys: Some(keys),
                bytes: Some(bytes),
                verified: Some(true),
                stored: Some(unix_now()),
                ..Default::default()
            };
            write_sidecar(s, id, &record);
            let result = BackupResult {
                backupid: id.to_string(),
                keys,
                bytes,
                pushed: c.pushed.clone(),
                v2_left_out: c.v2_left_out.clone(),
                node_files: s.opts.node_root.as_ref().map(|_| NodeFiles { encryption_config: c.node_config.clone() }),
            };
            if !c.v2_left_out.is_empty() {
                s.log(&format!(
                    "backup {id}: the etcd holds v2 keys under {} too; they are not in this v3 backup",
                    c.v2_left_out.join(", ")
                ));
            }
            s.jobs.finish(job, Ok(to_value(&result)));
            s.jobs.metrics(|m| {
                m.backups_ok += 1;
                m.last_success_unix = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs_f64())
                    .unwrap_or(0.0);
                m.last_duration = started.elapsed().as_secs_f64();
                m.last_keys = keys;
                m.last_bytes = bytes;
            });
            s.log(&format!("backup {id}: {keys} keys in {:.1} s", started.elapsed().as_secs_f64()));
        }
        Err(e) => {
            s.jobs.finish(job, Err(e.1.clone()));
            s.jobs.metrics(|m| m.backups_failed += 1);
            s.log(&format!("backup failed: {}", e.1));
        }
    }
    out
}

/// `POST /v1/backup`: `{"outcome":"success","backupid":"<id>"}`, or 409 and the error.
async fn backup(Ax(s): Ax<Shared>, JsonBody(req): JsonBody<BackupReq>) -> Result<Json<BackupMade>, ApiError> {
    let strategy = match req.filter.as_deref().map(str::trim).filter(|f| !f.is_empty()) {
        None => "raw".to_string(),
        Some(f) if f.starts_with("filter:") || f == "raw" => f.to_string(),
        Some(f) => format!("filter:{f}"),
    };
    let plan = Plan {
        endpoint: endpoint(&s, req.endpoint, req.apiversion)?,
        remote: remote(&s, req.remote, req.bucket)?,
        strategy,
        by: "api",
    };
    // One at a time; a second request is told at once rather than queued without bound.
    let Ok(_one_at_a_time) = s.backup_lock.try_lock() else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "a backup is running: try again when it has ended (GET /v1/jobs)",
        ));
    };
    let c = run_backup(&s, plan).await?;
    Ok(Json(BackupMade { outcome: success(), backupid: c.id.to_string() }))
}

/// What the store knows of a backup beside its archive: `<id>.zip.json`, written when the
/// server made or verified it.
fn sidecar(s: &State, id: u64) -> PathBuf {
    s.store.join(format!("{id}.zip.json"))
}

fn write_sidecar(s: &State, id: u64, record: &BackupRecord) {
    let write = || -> reshifter_format::Result<()> {
        let mut f = reshifter_format::io::AtomicFile::create(&sidecar(s, id))?;
        writeln!(f, "{}", to_value(record))?;
        f.commit()
    };
    if let Err(e) = write() {
        s.log(&format!("cannot record what is known of backup {id}: {e}"));
    }
}

/// The record kept beside backup `id` (empty when there is none, or it does not parse).
pub fn read_sidecar(store: &std::path::Path, id: u64) -> BackupRecord {
    reshifter_format::io::read_option_file("the backup's record", &store.join(format!("{id}.zip.json")))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// When the server stored backup `id` (Unix seconds): from its record, else the file's time.
/// Retention ranks by this, never by the id, which an upload chooses.
pub fn stored_at(store: &std::path::Path, id: u64) -> u64 {
    read_sidecar(store, id).stored.unwrap_or_else(|| {
        std::fs::metadata(store.join(format!("{id}.zip")))
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs())
    })
}

/// `GET /v1/config`: what the UI needs to start (the default etcd, the server's flags that
/// matter to it); nothing secret.
async fn config(Ax(s): Ax<Shared>) -> Json<ServerConfig> {
    Json(ServerConfig {
        etcd: reshifter_format::redact::urls(&s.opts.etcd).into_owned(),
        read_only: s.opts.read_only,
        auth: s.token.is_some(),
        schedule: s.opts.schedule.clone(),
        version: env!("CARGO_PKG_VERSION").into(),
        node_files: s.opts.node_root.is_some(),
    })
}

/// `GET /v1/backups?remote=&bucket=`: the backups with their time, size, keys and whether they
/// were verified (local store: from the record the server keeps; S3: as listed).
async fn backups(Ax(s): Ax<Shared>, Query(w): Query<Where>) -> Result<Json<Backups>, ApiError> {
    if let Some((s3, bucket)) = remote(&s, w.remote, w.bucket)?.s3_target() {
        let listed =
            blocking(move || reshifter_s3::reshifter_listing(&s3, &reshifter_s3::S3Uri { bucket, key: String::new() }))
                .await?;
        let backups = listed
            .iter()
            .map(|(id, size)| Listed {
                backupid: id.to_string(),
                size: (*size).try_into().unwrap_or(0),
                keys: None,
                verified: None,
            })
            .collect();
        return Ok(Json(Backups { backups }));
    }
    let backups = local_ids(&s.store)
        .into_iter()
        .map(|id| {
            let size = std::fs::metadata(s.store.join(format!("{id}.zip"))).map(|m| m.len()).unwrap_or(0);
            let side = read_sidecar(&s.store, id);
            Listed { backupid: id.to_string(), size, keys: side.keys, verified: side.verified }
        })
        .collect();
    Ok(Json(Backups { backups }))
}

/// `archive-unpack --verify` of one archive, opened with the server's keys when encrypted.
fn verify_archive(path: PathBuf, keys: reshifter_archive::crypt::KeyArgs) -> reshifter_format::error::Result<()> {
    reshifter_archive::unpack::unpack(UnpackOptions {
        input: Some(path),
        verify: true,
        passphrase_file: keys.passphrase_file,
        identity_file: keys.identity_files,
        quiet: true,
        ..UnpackOptions::default()
    })
}

/// `GET /v1/backup/{id}/verify`: check a stored backup whole (archive-unpack --verify).
async fn verify(Ax(s): Ax<Shared>, Path(id): Path<String>) -> Result<Json<Verified>, ApiError> {
    let path = backup_path(&s, &id)?;
    if !path.exists() {
        return Err(ApiError::new(StatusCode::NOT_FOUND, format!("no backup {id}")));
    }
    let n = reshifter_s3::reshifter_backup_id(path.file_name().and_then(|n| n.to_str()).unwrap_or("")).unwrap_or(0);
    let keys = s.opts.keys.key_args();
    let out = blocking(move || verify_archive(path, keys)).await;
    let ok = out.is_ok();
    let mut side = read_sidecar(&s.store, n);
    side.verified = Some(ok);
    write_sidecar(&s, n, &side);
    Ok(Json(Verified { backupid: n.to_string(), verified: ok, error: out.err().map(|e| e.1) }))
}

#[derive(Deserialize)]
struct Where {
    remote: Option<String>,
    bucket: Option<String>,
}

/// The backup ids of the store, oldest first.
pub fn local_ids(store: &std::path::Path) -> Vec<u64> {
    let mut ids: Vec<u64> = std::fs::read_dir(store)
        .map(|rd| rd.filter_map(|e| e.ok()?.file_name().to_str().and_then(reshifter_s3::reshifter_backup_id)).collect())
        .unwrap_or_default();
    ids.sort();
    ids
}

/// `GET /v1/backup/all?remote=&bucket=`: `{"numbackups","backupids"}`.
async fn backup_all(Ax(s): Ax<Shared>, Query(w): Query<Where>) -> Result<Json<BackupIds>, ApiError> {
    let ids = match remote(&s, w.remote, w.bucket)?.s3_target() {
        Some((s3, bucket)) => {
            blocking(move || reshifter_s3::reshifter_ids(&s3, &reshifter_s3::S3Uri { bucket, key: String::new() }))
                .await?
        }
        None => local_ids(&s.store),
    };
    let ids: Vec<String> = ids.iter().map(u64::to_string).collect();
    Ok(Json(BackupIds { numbackups: ids.len(), backupids: ids }))
}

fn backup_path(s: &State, id: &str) -> Result<PathBuf, ApiError> {
    let name = if id.ends_with(".zip") { id.to_string() } else { format!("{id}.zip") };
    reshifter_s3::reshifter_backup_id(&name).ok_or_else(|| bad(format!("{id} is not a backup id")))?;
    Ok(s.store.join(name))
}

/// `GET /v1/backup/{id}`: the ZIP.
async fn backup_get(Ax(s): Ax<Shared>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let path = backup_path(&s, &id)?;
    let file = tokio::fs::File::open(&path)
        .await
        .map_err(|_| ApiError::new(StatusCode::NOT_FOUND, format!("no backup {}", id.trim_end_matches(".zip"))))?;
    let len = file.metadata().await.map(|m| m.len()).unwrap_or(0);
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(file));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("backup.zip").to_string();
    Ok((
        [
            (header::CONTENT_TYPE, "application/zip".to_string()),
            (header::CONTENT_LENGTH, len.to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
        ],
        body,
    )
        .into_response())
}

/// `POST /v1/backup/{id}/link`: `{"url"}`, a download link for the browser (which cannot send
/// the token with a plain link): good once, for a minute.
async fn link(Ax(s): Ax<Shared>, Path(id): Path<String>) -> Result<Json<Link>, ApiError> {
    let path = backup_path(&s, &id)?;
    if !path.exists() {
        return Err(ApiError::new(StatusCode::NOT_FOUND, format!("no backup {id}")));
    }
    let route = format!("/v1/backup/{}", id.trim_end_matches(".zip"));
    let ticket =
        s.tickets.issue(&route).map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(Json(Link { url: format!("{route}?ticket={ticket}") }))
}

#[derive(Deserialize)]
struct RestoreReq {
    endpoint: Option<String>,
    backupid: String,
    remote: Option<String>,
    bucket: Option<String>,
    apiversion: Option<String>,
    #[serde(default)]
    dry_run: bool,
    /// overwrite (default), create-only or sync.
    mode: Option<String>,
}

/// `POST /v1/restore`: `{"outcome","keysrestored","elapsedtimeinsec"}`; with `dry_run` nothing is
/// written and `summary` says what would be, per resource.
async fn restore(Ax(s): Ax<Shared>, JsonBody(req): JsonBody<RestoreReq>) -> Result<Json<Restored>, ApiError> {
    if s.opts.read_only {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "restores are disabled on this server (--read-only)"));
    }
    let mode = match req.mode.as_deref() {
        None | Some("") => None,
        Some("overwrite") => Some(reshifter_etcd::load::Mode::Overwrite),
        Some("create-only") => Some(reshifter_etcd::load::Mode::CreateOnly),
        Some("sync") => Some(reshifter_etcd::load::Mode::Sync),
        Some(m) => return Err(bad(format!("mode {m:?}: overwrite, create-only or sync"))),
    };
    let (e, r, store, id) = (
        endpoint(&s, req.endpoint, req.apiversion)?,
        remote(&s, req.remote, req.bucket)?,
        s.store.clone(),
        req.backupid.clone(),
    );
    // One restore writes at a time (two into one etcd would interleave); dry runs need not wait.
    let _writing = if req.dry_run {
        None
    } else {
        Some(s.restore_lock.try_lock().map_err(|_| {
            ApiError::new(StatusCode::CONFLICT, "a restore is running: try again when it has ended (GET /v1/jobs)")
        })?)
    };
    let per = reshifter_etcd::load::Plan::under(s.opts.etcd_prefix.roots());
    let how = HowRestore {
        mode,
        dry_run: req.dry_run,
        dry_out: reshifter_etcd::load::DryOut::to(Box::new(per.clone()), true),
        keys: s.opts.keys.key_args(),
    };
    let job = s.jobs.start(if req.dry_run { "restore (dry run)" } else { "restore" }, "api");
    s.jobs.phase(job, "restoring");
    let mut e = e;
    e.report = s.reporter(format!("job {job} (restore)"));
    let started = Instant::now();
    let out = blocking(move || reshifter_rcli::restore_backup(&e, &id, &store, &r, &how)).await;
    let secs = started.elapsed().as_secs_f64();
    match out {
        Ok(loaded) => {
            let restored = loaded.keys_restored();
            let mut answer = Restored {
                outcome: success(),
                keysrestored: restored,
                elapsedtimeinsec: secs,
                dry_run: None,
                summary: None,
                would: None,
            };
            if req.dry_run {
                let summary = per
                    .by_resource()
                    .into_iter()
                    .map(|(resource, c)| ResourcePlan {
                        resource,
                        create: c.create,
                        update: c.update,
                        delete: c.delete,
                        unchanged: c.unchanged,
                        keep: c.keep,
                    })
                    .collect();
                let st = loaded.stats;
                answer.dry_run = Some(true);
                answer.summary = Some(summary);
                answer.would =
                    Some(Would { create: st.created, update: st.updated, delete: st.deleted, unchanged: st.unchanged });
            }
            s.jobs.finish(job, Ok(to_value(&answer)));
            s.jobs.metrics(|m| {
                m.restores_ok += 1;
                if !req.dry_run {
                    m.keys_restored += restored;
                }
            });
            s.log(&format!(
                "restore of {}{}: {restored} keys in {secs:.1} s",
                req.backupid,
                if req.dry_run { " (dry run)" } else { "" }
            ));
            Ok(Json(answer))
        }
        Err(e) => {
            s.jobs.finish(job, Err(e.1.clone()));
            s.jobs.metrics(|m| m.restores_failed += 1);
            s.log(&format!("restore of {} failed: {}", req.backupid, e.1));
            Err(e)
        }
    }
}

/// How far in the future an uploaded backup's id (its Unix seconds) may be: clocks differ a little.
const ID_SKEW: u64 = 300;

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// `POST /v1/restore/upload`: a multipart field `backupfile` named `<backup id>.zip`, verified
/// whole before it is kept: `{"received":"<id>"}`. An id in the future is refused (it would
/// sort after every backup the server makes); an existing backup is never replaced.
async fn upload(Ax(s): Ax<Shared>, mut form: Multipart) -> Result<Json<Received>, ApiError> {
    if s.opts.read_only {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "uploads are disabled on this server (--read-only)"));
    }
    let broke = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            let max = s.opts.max_upload;
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the upload is larger than --max-upload ({max} bytes)"),
            )
        } else {
            bad(format!("the upload broke off: {}", e.body_text()))
        }
    };
    while let Some(field) = form.next_field().await.map_err(broke)? {
        if field.name() != Some("backupfile") {
            continue;
        }
        let name = field.file_name().unwrap_or("").to_string();
        let refused = match reshifter_s3::reshifter_backup_id(&name) {
            None => Err(bad(format!("the file is named {name:?}: name it <backup id>.zip (its Unix seconds)"))),
            Some(id) if id > unix_now() + ID_SKEW => Err(bad(format!(
                "backup id {id} is in the future (its Unix seconds; now is {}): name the file by when it was made",
                unix_now()
            ))),
            Some(id) if s.store.join(format!("{id}.zip")).exists() => {
                Err(ApiError::new(StatusCode::CONFLICT, format!("backup {id} exists already")))
            }
            Some(id) => Ok(id),
        };
        let id = match refused {
            Ok(id) => id,
            Err(e) => {
                // Read (and drop) what the client is still sending, up to a bound, so that it
                // reads the answer instead of a reset connection.
                drain(field).await;
                return Err(e);
            }
        };
        let dest = s.store.join(format!("{id}.zip"));
        let job = s.jobs.start("upload", "api");
        let out = receive(&s, field, &dest, broke).await;
        match &out {
            Ok(size) => {
                let record = BackupRecord {
                    verified: Some(true),
                    uploaded: Some(true),
                    stored: Some(unix_now()),
                    ..Default::default()
                };
                write_sidecar(&s, id, &record);
                s.jobs.finish(job, Ok(to_value(&Uploaded { backupid: id.to_string(), bytes: *size })));
                s.log(&format!("upload of backup {id}: {size} bytes, verified"));
            }
            Err(e) => {
                s.jobs.finish(job, Err(e.1.clone()));
                s.log(&format!("upload of backup {id} refused: {}", e.1));
            }
        }
        return out.map(|_| Json(Received { received: id.to_string() }));
    }
    Err(bad("no backupfile field in the form"))
}

/// Most bytes of a refused upload read and dropped before the answer.
const DRAIN_MAX: u64 = 64 << 20;

async fn drain(mut field: axum::extract::multipart::Field<'_>) {
    let mut n = 0u64;
    while let Ok(Some(b)) = field.chunk().await {
        n += b.len() as u64;
        if n > DRAIN_MAX {
            return;
        }
    }
}

/// Write an uploaded file under a temporary name, verify it whole, and move it to `dest`
/// (never over a backup that appeared meanwhile); its size.
async fn receive(
    s: &Shared,
    mut field: axum::extract::multipart::Field<'_>,
    dest: &std::path::Path,
    broke: impl Fn(axum::extract::multipart::MultipartError) -> ApiError,
) -> Result<u64, ApiError> {
    let mut file = reshifter_format::io::AtomicFile::create(dest).map_err(ApiError::from)?;
    let mut size = 0u64;
    while let Some(bytes) = field.chunk().await.map_err(&broke)? {
        size += bytes.len() as u64;
        file.write_all(&bytes).map_err(|e| ApiError::new(StatusCode::INSUFFICIENT_STORAGE, e.to_string()))?;
    }
    let tmp = file.temp_path().to_path_buf();
    let keys = s.opts.keys.key_args();
    blocking(move || verify_archive(tmp, keys)).await.map_err(|e| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, format!("the uploaded backup is not a whole archive: {}", e.1))
    })?;
    file.commit_new().map_err(|e| ApiError::new(StatusCode::CONFLICT, e.to_string()))?;
    Ok(size)
}

#[derive(Deserialize)]
struct EndpointQ {
    endpoint: Option<String>,
    apiversion: Option<String>,
    backupid: Option<String>,
}

/// A slot for a request that reads a whole keyspace (a dump each): a few at a time, others told
/// to come back (429) rather than piling dumps onto etcd.
fn heavy(s: &State) -> Result<tokio::sync::SemaphorePermit<'_>, ApiError> {
    s.heavy.try_acquire().map_err(|_| {
        ApiError::new(StatusCode::TOO_MANY_REQUESTS, "keyspace reports are running: try again when they have ended")
    })
}

/// `GET /v1/explorer?endpoint=`: `{"etcdversion","apiversion","etcdsec","k8sdistro"}`.
async fn explorer(Ax(s): Ax<Shared>, Query(q): Query<EndpointQ>) -> Result<Json<Value>, ApiError> {
    let e = endpoint(&s, q.endpoint, q.apiversion)?;
    let p = blocking(move || reshifter_rcli::probe(&e)).await?;
    Ok(Json(serde_json::to_value(p).unwrap_or_default()))
}

/// `GET /v1/members?endpoint=`: the cluster's members (name, id, URLs, which leads).
async fn members(Ax(s): Ax<Shared>, Query(q): Query<EndpointQ>) -> Result<Json<Value>, ApiError> {
    let e = endpoint(&s, q.endpoint, q.apiversion)?;
    let report = blocking(move || reshifter_etcd::explore::explore(&e.etcd_args()?, &e.etcd_prefix.roots())).await?;
    Ok(Json(json!({"cluster_id": report.cluster_id, "members": report.members})))
}

/// `GET /v1/epstats?endpoint=`: `{"numkeys","totalsizevalbytes"}` under the Kubernetes and
/// OpenShift roots.
async fn epstats(Ax(s): Ax<Shared>, Query(q): Query<EndpointQ>) -> Result<Json<EndpointStats>, ApiError> {
    let e = endpoint(&s, q.endpoint, q.apiversion)?;
    let _slot = heavy(&s)?;
    let roots = blocking(move || reshifter_rcli::count_roots(&e)).await?;
    let (keys, bytes) = roots.iter().fold((0, 0), |(k, b), (_, rk, rb)| (k + rk, b + rb));
    Ok(Json(EndpointStats { numkeys: keys, totalsizevalbytes: bytes }))
}

/// `GET /v1/keyspace?endpoint=` or `?backupid=`: kv-stats' report (keys and bytes per root,
/// resource, namespace) of a live etcd or a stored backup, for the UI's picture.
async fn keyspace(Ax(s): Ax<Shared>, Query(q): Query<EndpointQ>) -> Result<Json<Value>, ApiError> {
    let from_backup = q.backupid.clone().filter(|b| !b.is_empty()).map(|b| backup_path(&s, &b)).transpose()?;
    let e = endpoint(&s, q.endpoint, q.apiversion)?;
    let _slot = heavy(&s)?;
    let (store, keys) = (s.store.clone(), s.opts.keys.key_args());
    let stats = blocking(move || {
        let tmp = tempfile::Builder::new().prefix(".keyspace-").tempfile_in(&store)?;
        let path = tmp.path().to_path_buf();
        match from_backup {
            Some(zip) => reshifter_archive::unpack::unpack(UnpackOptions {
                input: Some(zip),
                output: Some(path.clone()),
                passphrase_file: keys.passphrase_file,
                identity_file: keys.identity_files,
                quiet: true,
                ..UnpackOptions::default()
            })?,
            None => reshifter_rcli::dump_all(&e, &path)?,
        }
        reshifter_kv::stats::collect(&reshifter_kv::stats::StatsOptions::new(path))
    })
    .await?;
    Ok(Json(serde_json::to_value(stats).unwrap_or_default()))
}

async fn metrics(Ax(s): Ax<Shared>) -> impl IntoResponse {
    let running = s.jobs.list().iter().filter(|j| j.state == "running").count();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], s.jobs.snapshot().render(running))
}

async fn jobs(Ax(s): Ax<Shared>) -> Json<Jobs> {
    Json(Jobs { jobs: s.jobs.list() })
}

async fn job(Ax(s): Ax<Shared>, Path(id): Path<u64>) -> Result<Json<crate::jobs::Job>, ApiError> {
    s.jobs.get(id).map(Json).ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no job {id}")))
}

/// An answer as the JSON a job keeps.
fn to_value(v: &impl serde::Serialize) -> Value {
    serde_json::to_value(v).unwrap_or_default()
}
