//! The server's JSON answers and records, as types: the routes serialize them, and the route
//! and browser tests read the answers back into them. ReShifter's field names are kept where
//! ReShifter's clients read them (`backupid`, `keysrestored`, `numbackups` ...).

use serde::{Deserialize, Serialize};

/// `POST /v1/backup`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackupMade {
    /// `success` (a failure is an error answer).
    pub outcome: String,
    pub backupid: String,
}

/// What a backup job ended with (`GET /v1/jobs/{id}`, `result`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackupResult {
    pub backupid: String,
    pub keys: u64,
    pub bytes: u64,
    /// The S3 object it was pushed to.
    pub pushed: Option<String>,
    /// Kubernetes roots whose v2 keys are not in this v3 backup.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub v2_left_out: Vec<String>,
    /// With `--node-root`: the node's files are in the backup, and this EncryptionConfiguration
    /// among them (its path there) opened every encrypted value (`null`: they hold none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_files: Option<NodeFiles>,
}

/// The node's files a backup carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeFiles {
    pub encryption_config: Option<String>,
}

/// `GET /v1/config`: what the UI needs to start; nothing secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerConfig {
    /// The default etcd, credentials in its URL redacted.
    pub etcd: String,
    pub read_only: bool,
    /// Whether requests need the token.
    pub auth: bool,
    pub schedule: Option<String>,
    pub version: String,
    /// Whether backups carry the node's files (`--node-root`).
    #[serde(default)]
    pub node_files: bool,
}

/// `GET /v1/backups`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Backups {
    pub backups: Vec<Listed>,
}

/// One backup in `GET /v1/backups`: what the server knows of it (`null` where it knows
/// nothing: a backup in S3, one stored by an older server).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Listed {
    pub backupid: String,
    pub size: u64,
    pub keys: Option<u64>,
    pub verified: Option<bool>,
}

/// `GET /v1/backup/{id}/verify`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verified {
    pub backupid: String,
    pub verified: bool,
    /// Why not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `GET /v1/backup/all`: ReShifter's list of ids.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackupIds {
    pub numbackups: usize,
    pub backupids: Vec<String>,
}

/// `POST /v1/backup/{id}/link`: a download link, good once, for a minute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Link {
    pub url: String,
}

/// `POST /v1/restore`, and what a restore job ended with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Restored {
    pub outcome: String,
    pub keysrestored: u64,
    pub elapsedtimeinsec: f64,
    /// Set (true) for a dry run, with what it would do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<Vec<ResourcePlan>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub would: Option<Would>,
}

/// What a dry run would do to one resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourcePlan {
    pub resource: String,
    pub create: u64,
    pub update: u64,
    pub delete: u64,
    pub unchanged: u64,
    pub keep: u64,
}

/// What a dry run would do, in all.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Would {
    pub create: u64,
    pub update: u64,
    pub delete: u64,
    pub unchanged: u64,
}

/// `POST /v1/backup/upload`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Received {
    pub received: String,
}

/// What an upload job ended with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Uploaded {
    pub backupid: String,
    pub bytes: u64,
}

/// `GET /v1/epstats`: keys and value bytes under the Kubernetes and OpenShift roots.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndpointStats {
    pub numkeys: u64,
    pub totalsizevalbytes: u64,
}

/// `GET /v1/jobs`, newest first.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Jobs {
    pub jobs: Vec<crate::jobs::Job>,
}

/// The record kept beside a stored backup (`<id>.zip.json`): what the server knows of it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BackupRecord {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified: Option<bool>,
    /// Sent by a client rather than made here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uploaded: Option<bool>,
    /// When the server stored it (Unix seconds): retention ranks by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored: Option<u64>,
}

/// `success`, ReShifter's outcome.
pub fn success() -> String {
    "success".into()
}
