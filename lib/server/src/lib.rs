//! reshifter-server: ReShifter's HTTP API and web UI as a daemon, on the toolkit's library.
//!
//! The routes are ReShifter's (same requests and answers, so its clients keep working) plus
//! health, Prometheus metrics and a job list; backups run the same pipeline as `rcli backup
//! create` (etcd-dump → strategy → archive-pack → S3), in-process, one at a time, on request or
//! on a cron schedule with retention. It binds 127.0.0.1 unless told otherwise; mutating routes
//! need a bearer token (from a file or the environment, never argv) unless `--insecure-no-auth`
//! on a loopback address; `--read-only` turns restores off; TLS with rustls.

pub mod answers;
mod api;
mod body;
mod guard;
pub mod jobs;
mod schedule;
mod serve;
mod targets;
mod ui;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use reshifter_format::error::{Error, Kind, Result};
use reshifter_format::units::{parse_duration, parse_size};

pub use jobs::{Job, Jobs, Metrics};

/// reshifter-server's command-line options.
#[derive(Debug, Clone, clap::Args)]
pub struct ServerOptions {
    /// Address to listen on (a non-loopback address exposes etcd's data: use a token and TLS)
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR:PORT")]
    pub listen: std::net::SocketAddr,

    /// Directory of the local backups (<backup id>.zip); default: $XDG_DATA_HOME/reshifter/backups
    /// or ~/.local/share/reshifter/backups
    #[arg(long, value_name = "DIR")]
    pub store: Option<PathBuf>,

    /// The etcd the schedule backs up, and the default of every request (TLS from
    /// RS_ETCD_CLIENT_CERT, RS_ETCD_CLIENT_KEY, RS_ETCD_CA_CERT; credentials from ETCDCTL_USER
    /// and ETCDCTL_PASSWORD)
    #[arg(long, default_value = "http://127.0.0.1:2379", value_name = "URL")]
    pub etcd: String,

    /// The Kubernetes roots of its keys (/registry, OpenShift's), and the kube-apiserver's
    /// --etcd-prefix when it is another: backups, the explorer and restore plans read keys there
    #[command(flatten)]
    pub etcd_prefix: reshifter_k8s::EtcdPrefix,

    /// Every backup (scheduled or requested) also carries this control-plane node's files (CAs,
    /// keys, kubeconfigs, static pods, EncryptionConfiguration: node-dump's layouts under DIR,
    /// `/` when the server runs on the node), and fails (keeping the backup) when the captured
    /// EncryptionConfiguration does not open every Secret. Only the server's own configuration
    /// names it: no request can
    #[arg(long, value_name = "DIR")]
    pub node_root: Option<PathBuf>,

    /// Another etcd a request may name (a restore target; repeatable). No request makes the
    /// server connect, or send its credentials, anywhere else: others get 403
    #[arg(long, value_name = "URL")]
    pub allow_endpoint: Vec<String>,

    /// Scheduled backups, cron syntax (5 fields, or 6 with seconds first): "0 * * * *" hourly
    #[arg(long, value_name = "CRON")]
    pub schedule: Option<String>,

    /// Scheduled backups also go to this S3-compatible endpoint (host:port for HTTPS, or a URL)
    #[arg(long, value_name = "S3ENDPOINT")]
    pub remote: Option<String>,

    /// The bucket of --remote
    #[arg(long, value_name = "BUCKET", requires = "remote")]
    pub bucket: Option<String>,

    /// Another S3 endpoint a request may name (repeatable); requests may name --remote too, and
    /// nothing else: the server's S3 credentials are never sent elsewhere
    #[arg(long, value_name = "S3ENDPOINT")]
    pub allow_remote: Vec<String>,

    /// ReShifter's strategy for scheduled backups: raw or filter:a,b
    #[arg(long, env = "RS_BACKUP_STRATEGY", default_value = "raw", value_name = "STRATEGY")]
    pub strategy: String,

    /// After each successful scheduled backup, keep the newest N (local store, and the bucket)
    #[arg(long, value_name = "N")]
    pub keep_last: Option<usize>,

    /// After each successful scheduled backup, keep those younger than this (e.g. 7d)
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub keep_within: Option<Duration>,

    /// File holding the bearer token every route but /healthz and the UI's files needs (or set
    /// RESHIFTER_TOKEN)
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,

    /// Serve without a token (only on a loopback address)
    #[arg(long)]
    pub insecure_no_auth: bool,

    /// Serve /metrics without the token (for a Prometheus that cannot send one)
    #[arg(long)]
    pub public_metrics: bool,

    /// A host name clients reach the server by (repeatable): requests whose Host header names
    /// anything but these, localhost or an IP address are refused (DNS rebinding)
    #[arg(long, value_name = "NAME")]
    pub server_name: Vec<String>,

    /// Connections served at once; more are answered 503 and closed
    #[arg(long, default_value_t = 128, value_name = "N")]
    pub max_connections: usize,

    /// How long a client may take to send a request's headers or finish a TLS handshake, and
    /// pause while sending a body, before its connection is closed
    #[arg(long, default_value = "10s", value_parser = parse_duration, value_name = "DURATION")]
    pub client_timeout: Duration,

    /// Refuse restores and uploads: backups only
    #[arg(long)]
    pub read_only: bool,

    /// Serve HTTPS with this certificate chain (PEM) ...
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// ... and this private key (PEM)
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Largest upload accepted by /v1/restore/upload (KiB/MiB/GiB = 1024-based)
    #[arg(long, default_value = "4GiB", value_parser = parse_size, value_name = "SIZE")]
    pub max_upload: usize,

    #[command(flatten)]
    pub keys: BackupKeys,

    /// No log lines on stderr
    #[arg(short, long)]
    pub quiet: bool,
}

/// age encryption of the backups the server makes, and the keys to open them for restores
/// and verification (as archive-pack's and archive-unpack's flags; never a secret on argv).
#[derive(Debug, Clone, Default, clap::Args)]
#[command(next_help_heading = "Encryption (age)")]
pub struct BackupKeys {
    /// Encrypt backups with the passphrase in RESHIFTER_PASSPHRASE (also opens them)
    #[arg(long)]
    pub encrypt: bool,

    /// Encrypt backups with the passphrase in FILE, first line (also opens them)
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,

    /// Encrypt backups to this age public key (repeatable)
    #[arg(long, value_name = "AGE1...")]
    pub recipient: Vec<String>,

    /// Encrypt backups to the age public keys in FILE (repeatable)
    #[arg(long, value_name = "FILE")]
    pub recipients_file: Vec<PathBuf>,

    /// age identity (private key) file that opens backups for restores and verification
    /// (repeatable; or set RESHIFTER_IDENTITY_FILE)
    #[arg(long, value_name = "FILE")]
    pub identity_file: Vec<PathBuf>,
}

impl BackupKeys {
    /// What encrypts the backups the server makes (archive-pack's keys).
    pub fn encrypt_args(&self) -> reshifter_archive::pack::EncryptArgs {
        reshifter_archive::pack::EncryptArgs {
            encrypt: self.encrypt,
            passphrase_file: self.passphrase_file.clone(),
            recipient: self.recipient.clone(),
            recipients_file: self.recipients_file.clone(),
        }
    }

    /// What opens them for restores and verification (archive-unpack's keys; the passphrase in
    /// the environment is read there).
    pub fn key_args(&self) -> reshifter_archive::crypt::KeyArgs {
        reshifter_archive::crypt::KeyArgs {
            passphrase_file: self.passphrase_file.clone(),
            identity_files: self.identity_file.clone(),
            ..Default::default()
        }
    }
}

/// Reports of the keyspace (a full dump each) running at once at most.
const HEAVY_READS: usize = 2;

/// What every request handler shares.
pub struct State {
    pub opts: ServerOptions,
    pub store: PathBuf,
    token: Option<String>,
    /// Served over TLS (the scheme of the server's own origin).
    tls: bool,
    /// The etcd endpoints and S3 remotes requests may name.
    endpoints: targets::Allowed,
    remotes: targets::Allowed,
    tickets: guard::Tickets,
    pub jobs: Jobs,
    /// Held while a backup runs: one at a time.
    pub backup_lock: tokio::sync::Mutex<()>,
    /// Held while a restore writes: one at a time (dry runs need not wait).
    restore_lock: tokio::sync::Mutex<()>,
    /// Keyspace reports and counts (each a full read of etcd or a backup) in flight.
    heavy: tokio::sync::Semaphore,
}

impl State {
    /// What the library steps of `job` say, into the server's log under the job's name.
    pub fn reporter(self: &std::sync::Arc<Self>, job: String) -> reshifter_format::report::Reporter {
        let s = self.clone();
        reshifter_format::report::Reporter::to(job, move |line| s.log(line))
    }

    /// Log a line (never a value; credentials in URLs redacted).
    pub fn log(&self, line: &str) {
        if !self.opts.quiet {
            reshifter_format::report::stderr_line(format_args!(
                "reshifter-server: {}",
                reshifter_format::redact::urls(line)
            ));
        }
    }
}

/// The default store: `$XDG_DATA_HOME/reshifter/backups`, or `~/.local/share/reshifter/backups`.
fn default_store() -> PathBuf {
    let base = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("reshifter/backups")
}

/// The bearer token: from --token-file (first line) or RESHIFTER_TOKEN.
fn token(o: &ServerOptions) -> Result<Option<String>> {
    let t = match &o.token_file {
        Some(f) => {
            let text = reshifter_format::io::read_option_text("--token-file", f)?;
            Some(text.lines().next().unwrap_or("").trim().to_string())
        }
        None => std::env::var("RESHIFTER_TOKEN").ok().map(|t| t.trim().to_string()),
    };
    match t {
        Some(t) if t.len() < 16 => {
            Err(Error::new(Kind::Usage, "the token is shorter than 16 characters: use a random one"))
        }
        Some(t) => Ok(Some(t)),
        None if o.insecure_no_auth && o.listen.ip().is_loopback() => Ok(None),
        None if o.insecure_no_auth => Err(Error::new(
            Kind::Usage,
            format!("--insecure-no-auth is only for a loopback address, not {}: give a token", o.listen.ip()),
        )),
        None => Err(Error::new(
            Kind::Usage,
            "the server needs a bearer token: give --token-file FILE or set RESHIFTER_TOKEN (or \
             --insecure-no-auth on a loopback address)",
        )),
    }
}

/// Run the server until stopped (SIGINT/SIGTERM: it stops taking requests and exits).
/// Refuse at start, not at the first backup, keys that cannot encrypt (no passphrase in the
/// environment, unreadable files, a passphrase and recipients together).
fn check_keys(k: &BackupKeys) -> Result<()> {
    let keys = k.encrypt_args().keys();
    if keys.encrypts() {
        keys.encryptor()?;
    }
    Ok(())
}

pub fn run(opts: ServerOptions) -> Result<()> {
    let token = token(&opts)?;
    let store = opts.store.clone().unwrap_or_else(default_store);
    std::fs::create_dir_all(&store)
        .map_err(|e| Error::with_source(Kind::Usage, format!("cannot make the store {}", store.display()), e))?;
    let cron = opts.schedule.as_deref().map(schedule::parse).transpose()?;
    check_keys(&opts.keys)?;
    let state = Arc::new(State {
        endpoints: targets::Allowed::endpoints(&opts.etcd, &opts.allow_endpoint),
        remotes: targets::Allowed::remotes(opts.remote.as_deref(), &opts.allow_remote),
        tls: opts.tls_cert.is_some(),
        opts,
        store,
        token,
        tickets: Default::default(),
        jobs: Jobs::default(),
        backup_lock: Default::default(),
        restore_lock: Default::default(),
        heavy: tokio::sync::Semaphore::new(HEAVY_READS),
    });
    reshifter_format::signals::set_graceful();
    let rt = reshifter_format::parallel::runtime(2)?;
    rt.block_on(async {
        if let Some(c) = cron {
            tokio::spawn(schedule::run(state.clone(), c));
        }
        serve::serve(state).await
    })
}
