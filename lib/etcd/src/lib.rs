//! Connecting to etcd the way etcdctl does: its flags, its ETCDCTL_* environment variables, and
//! ReShifter's RS_ETCD_* variables; and turning etcd client errors into errors that say what to do.
//! The tools on top: [`dump`], [`load`], [`explore`].

pub mod dump;
pub mod explore;
pub mod load;
pub mod v2;
pub mod watch;
pub mod wire;

use std::path::PathBuf;
use std::time::Duration;

use etcd_client::{Certificate, Client, ConnectOptions, Identity, TlsOptions};

use reshifter_format::error::{Error, Kind, Result};
use reshifter_format::units::parse_duration;

/// Largest gRPC response we accept. Pages are sized well below it (see `dump`).
pub const MAX_DECODE_BYTES: usize = 64 * 1024 * 1024;

/// HTTP/2 keep-alive of every connection to etcd: a ping's interval and how long its answer may
/// take (etcd-client's connections and crate::wire's alike).
pub(crate) const KEEP_ALIVE: (Duration, Duration) = (Duration::from_secs(10), Duration::from_secs(5));

/// Connection flags shared by every tool that talks to etcd.
#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "etcd connection (as etcdctl)")]
pub struct EtcdArgs {
    /// gRPC endpoints, comma-separated or repeated (https:// or --cacert for TLS)
    #[arg(long, env = "ETCDCTL_ENDPOINTS", value_delimiter = ',', default_value = "127.0.0.1:2379")]
    pub endpoints: Vec<String>,

    /// CA bundle to verify the server's certificate [env: also RS_ETCD_CA_CERT]
    #[arg(long, env = "ETCDCTL_CACERT", value_name = "FILE")]
    pub cacert: Option<PathBuf>,

    /// Client certificate for TLS client authentication [env: also RS_ETCD_CLIENT_CERT]
    #[arg(long, env = "ETCDCTL_CERT", value_name = "FILE")]
    pub cert: Option<PathBuf>,

    /// Client private key for TLS client authentication [env: also RS_ETCD_CLIENT_KEY]
    #[arg(long, env = "ETCDCTL_KEY", value_name = "FILE")]
    pub key: Option<PathBuf>,

    /// User for etcd authentication; the password is read from ETCDCTL_PASSWORD or --password-file
    #[arg(long, env = "ETCDCTL_USER", value_name = "NAME", hide_env_values = true)]
    pub user: Option<String>,

    /// File holding the password of --user (first line)
    #[arg(long, env = "ETCDCTL_PASSWORD_FILE", value_name = "FILE")]
    pub password_file: Option<PathBuf>,

    /// Timeout for establishing a connection
    #[arg(long, env = "ETCDCTL_DIAL_TIMEOUT", default_value = "2s")]
    #[arg(value_parser = parse_duration, value_name = "DURATION")]
    pub dial_timeout: Duration,

    /// Timeout for each request to etcd
    #[arg(long, env = "ETCDCTL_COMMAND_TIMEOUT", default_value = "30s")]
    #[arg(value_parser = parse_duration, value_name = "DURATION")]
    pub command_timeout: Duration,
}

/// The TLS files of a connection.
pub(crate) struct TlsFiles {
    pub(crate) ca: Option<PathBuf>,
    pub(crate) identity: Option<(PathBuf, PathBuf)>,
}

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from)
}

pub(crate) fn read_file(what: &str, path: &std::path::Path) -> Result<Vec<u8>> {
    reshifter_format::io::read_option_file(what, path)
}

/// How long a connection may take to be made, when neither flag nor environment says.
pub const DEFAULT_DIAL_TIMEOUT: Duration = Duration::from_secs(2);
/// How long each request may take, when neither flag nor environment says.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

impl EtcdArgs {
    /// The connection to `endpoints` as a library caller (rcli, the server) builds it in code:
    /// TLS files, user, password file and timeouts from the environment as the tools read it
    /// (`ETCDCTL_CACERT`, `ETCDCTL_CERT`, `ETCDCTL_KEY`, `ETCDCTL_USER`, `ETCDCTL_PASSWORD_FILE`,
    /// `ETCDCTL_DIAL_TIMEOUT`, `ETCDCTL_COMMAND_TIMEOUT`; `RS_ETCD_*` when connecting), else the
    /// tools' defaults. `endpoints` may hold comma-separated lists.
    pub fn from_env(endpoints: &[String]) -> Result<EtcdArgs> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let duration = |name: &str, default: Duration| -> Result<Duration> {
            match var(name) {
                None => Ok(default),
                Some(v) => parse_duration(&v).map_err(|e| Error::new(Kind::Usage, format!("{name}={v:?}: {e}"))),
            }
        };
        Ok(EtcdArgs {
            endpoints: endpoints.iter().flat_map(|e| e.split(',')).map(|e| e.trim().to_string()).collect(),
            cacert: env_path("ETCDCTL_CACERT"),
            cert: env_path("ETCDCTL_CERT"),
            key: env_path("ETCDCTL_KEY"),
            user: var("ETCDCTL_USER"),
            password_file: env_path("ETCDCTL_PASSWORD_FILE"),
            dial_timeout: duration("ETCDCTL_DIAL_TIMEOUT", DEFAULT_DIAL_TIMEOUT)?,
            command_timeout: duration("ETCDCTL_COMMAND_TIMEOUT", DEFAULT_COMMAND_TIMEOUT)?,
        })
    }

    /// The endpoints as given, for headers and messages (credentials in them redacted).
    pub fn endpoint_list(&self) -> String {
        reshifter_format::redact::urls(&self.endpoints.join(",")).into_owned()
    }

    pub(crate) fn credentials(&self) -> Result<Option<(String, String)>> {
        let Some(user) = self.user.as_deref().filter(|u| !u.is_empty()) else {
            return Ok(None);
        };
        if let Some((name, password)) = user.split_once(':') {
            // etcdctl's `name:password`: only from the environment (ETCDCTL_USER), which other
            // users cannot read; on the command line it is in /proc/PID/cmdline for everyone.
            if std::env::var("ETCDCTL_USER").ok().as_deref() != Some(user) {
                return Err(Error::new(
                    Kind::Usage,
                    "--user NAME:PASSWORD would show the password to every user of this machine (in the process \
                     list): give --user NAME and the password in ETCDCTL_PASSWORD or --password-file",
                ));
            }
            return Ok(Some((name.to_string(), password.to_string())));
        }
        if let Some(path) = &self.password_file {
            let text = read_file("password file", path)?;
            let text =
                String::from_utf8(text).map_err(|_| Error::new(Kind::Usage, "the password file is not UTF-8"))?;
            let password = text.lines().next().unwrap_or("").to_string();
            return Ok(Some((user.to_string(), password)));
        }
        if let Ok(password) = std::env::var("ETCDCTL_PASSWORD") {
            return Ok(Some((user.to_string(), password)));
        }
        Err(Error::new(
            Kind::Usage,
            format!("--user {user} needs a password: set ETCDCTL_PASSWORD or pass --password-file FILE"),
        ))
    }

    /// The TLS files to use (flags, then ETCDCTL_* and RS_ETCD_* variables); `None` for
    /// plaintext. Any TLS flag means TLS: a --key alone must not fall back to plaintext.
    pub(crate) fn tls_files(&self) -> Result<Option<TlsFiles>> {
        let ca = self.cacert.clone().or_else(|| env_path("RS_ETCD_CA_CERT"));
        let cert = self.cert.clone().or_else(|| env_path("RS_ETCD_CLIENT_CERT"));
        let key = self.key.clone().or_else(|| env_path("RS_ETCD_CLIENT_KEY"));
        let https = self.endpoints.iter().any(|e| e.starts_with("https://"));
        if ca.is_none() && cert.is_none() && key.is_none() && !https {
            return Ok(None);
        }
        let identity = match (cert, key) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            _ => return Err(Error::new(Kind::Usage, "--cert and --key must be given together")),
        };
        Ok(Some(TlsFiles { ca, identity }))
    }

    pub(crate) fn tls(&self) -> Result<Option<TlsOptions>> {
        let Some(files) = self.tls_files()? else { return Ok(None) };
        let mut tls = TlsOptions::new();
        if let Some(ca) = &files.ca {
            tls = tls.ca_certificate(Certificate::from_pem(read_file("CA certificate", ca)?));
        }
        if let Some((c, k)) = &files.identity {
            tls = tls.identity(Identity::from_pem(read_file("client certificate", c)?, read_file("client key", k)?));
        }
        Ok(Some(tls))
    }

    /// Check the connection flags (credentials, TLS files) before any work is done.
    pub fn check(&self) -> Result<()> {
        self.credentials()?;
        self.tls()?;
        Ok(())
    }

    /// Connect and check that etcd answers (a status request), so that bad endpoints, TLS or
    /// credentials fail here with a clear message.
    pub async fn connect(&self) -> Result<Client> {
        if self.endpoints.is_empty() {
            return Err(Error::new(Kind::Usage, "no --endpoints given"));
        }
        let mut opts = ConnectOptions::new()
            .with_connect_timeout(self.dial_timeout)
            .with_timeout(self.command_timeout)
            .with_keep_alive(KEEP_ALIVE.0, KEEP_ALIVE.1);
        if let Some(tls) = self.tls()? {
            opts = opts.with_tls(tls);
        }
        if let Some((name, password)) = self.credentials()? {
            opts = opts.with_user(name, password).with_auto_token_refresh(true);
        }
        let endpoints = self.endpoints.clone();
        let fut = Client::connect(endpoints, Some(opts));
        let client = tokio::time::timeout(self.dial_timeout + self.command_timeout, fut)
            .await
            .map_err(|_| {
                Error::new(Kind::Unavailable, format!("etcd at {} did not answer in time", self.endpoint_list()))
            })?
            .map_err(|e| self.error("cannot connect to etcd", e))?;
        Ok(client)
    }

    /// Turn a client error into one that names the endpoints and says what to do.
    pub fn error(&self, what: &str, e: etcd_client::Error) -> Error {
        wrap(&format!("{what} at {}", self.endpoint_list()), e)
    }
}

/// Turn an etcd client error into a library error with a kind and a readable message.
pub fn wrap(context: &str, e: etcd_client::Error) -> Error {
    let kind = classify(&e);
    let detail = describe(&e);
    let hint = match kind {
        Kind::Unavailable => ": is etcd running there, and are --endpoints and TLS (--cacert/--cert/--key) right?",
        Kind::Auth => ": check --user and its password (ETCDCTL_PASSWORD or --password-file)",
        _ => "",
    };
    Error::new(kind, format!("{context}: {detail}{hint}"))
}

/// The error's own words, without tonic's debug dump.
pub fn describe(e: &etcd_client::Error) -> String {
    let (mut text, mut src) = match e {
        etcd_client::Error::GRpcStatus(s) => (
            if s.message().is_empty() { format!("{:?}", s.code()) } else { s.message().to_string() },
            std::error::Error::source(s),
        ),
        other => (other.to_string(), std::error::Error::source(other)),
    };
    while let Some(cause) = src {
        let c = cause.to_string();
        if !text.contains(&c) {
            text.push_str(": ");
            text.push_str(&c);
        }
        src = cause.source();
    }
    text
}

/// etcd's own errors that change what a tool does. etcd sends each with a fixed gRPC code and a
/// fixed message (its `rpctypes` constants, the same from 3.4 to 3.6): both must match, so a
/// message that merely mentions a word never decides anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EtcdErr {
    Compacted,
    FutureRev,
    NoSpace,
    LeaseNotFound,
    TooManyOps,
    RequestTooLarge,
    TooManyRequests,
    AuthFailed,
    PermissionDenied,
    InvalidAuthToken,
    UserEmpty,
    UserNotFound,
    AuthOldRevision,
    NoLeader,
    NotLeader,
    LeaderChanged,
    Stopped,
    Timeout,
    Unhealthy,
    Corrupt,
}

/// The one table: gRPC code, etcd's message, and its meaning here.
const ETCD_ERRORS: &[(tonic::Code, &str, EtcdErr)] = {
    use tonic::Code::*;
    &[
        (OutOfRange, "etcdserver: mvcc: required revision has been compacted", EtcdErr::Compacted),
        (OutOfRange, "etcdserver: mvcc: required revision is a future revision", EtcdErr::FutureRev),
        (ResourceExhausted, "etcdserver: mvcc: database space exceeded", EtcdErr::NoSpace),
        (NotFound, "etcdserver: requested lease not found", EtcdErr::LeaseNotFound),
        (InvalidArgument, "etcdserver: too many operations in txn request", EtcdErr::TooManyOps),
        (InvalidArgument, "etcdserver: request is too large", EtcdErr::RequestTooLarge),
        (ResourceExhausted, "etcdserver: too many requests", EtcdErr::TooManyRequests),
        (InvalidArgument, "etcdserver: authentication failed, invalid user ID or password", EtcdErr::AuthFailed),
        (PermissionDenied, "etcdserver: permission denied", EtcdErr::PermissionDenied),
        (Unauthenticated, "etcdserver: invalid auth token", EtcdErr::InvalidAuthToken),
        (InvalidArgument, "etcdserver: user name is empty", EtcdErr::UserEmpty),
        (FailedPrecondition, "etcdserver: user name not found", EtcdErr::UserNotFound),
        (InvalidArgument, "etcdserver: revision of auth store is old", EtcdErr::AuthOldRevision),
        (Unavailable, "etcdserver: no leader", EtcdErr::NoLeader),
        (FailedPrecondition, "etcdserver: not leader", EtcdErr::NotLeader),
        (Unavailable, "etcdserver: leader changed", EtcdErr::LeaderChanged),
        (Unavailable, "etcdserver: server stopped", EtcdErr::Stopped),
        (Unavailable, "etcdserver: request timed out", EtcdErr::Timeout),
        (Unavailable, "etcdserver: request timed out, possibly due to previous leader failure", EtcdErr::Timeout),
        (Unavailable, "etcdserver: request timed out, possibly due to connection lost", EtcdErr::Timeout),
        (Unavailable, "etcdserver: request timed out, waiting for the applied index took too long", EtcdErr::Timeout),
        (Unavailable, "etcdserver: unhealthy cluster", EtcdErr::Unhealthy),
        (DataLoss, "etcdserver: corrupt cluster", EtcdErr::Corrupt),
    ]
};

/// Which of etcd's own errors this is, if any.
pub fn etcd_error(e: &etcd_client::Error) -> Option<EtcdErr> {
    match e {
        etcd_client::Error::GRpcStatus(s) => {
            ETCD_ERRORS.iter().find(|(c, m, _)| *c == s.code() && *m == s.message()).map(|(_, _, k)| *k)
        }
        _ => None,
    }
}

/// The kind of an etcd client error: etcd's own errors by the table, others by gRPC code.
pub fn classify(e: &etcd_client::Error) -> Kind {
    use tonic::Code;
    if let Some(k) = etcd_error(e) {
        return match k {
            EtcdErr::Compacted => Kind::Compacted,
            EtcdErr::AuthFailed
            | EtcdErr::PermissionDenied
            | EtcdErr::InvalidAuthToken
            | EtcdErr::UserEmpty
            | EtcdErr::UserNotFound => Kind::Auth,
            EtcdErr::NoLeader
            | EtcdErr::NotLeader
            | EtcdErr::LeaderChanged
            | EtcdErr::Stopped
            | EtcdErr::Timeout
            | EtcdErr::Unhealthy
            | EtcdErr::TooManyRequests => Kind::Unavailable,
            _ => Kind::Failure,
        };
    }
    match e {
        etcd_client::Error::GRpcStatus(s) => match s.code() {
            Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled => Kind::Unavailable,
            Code::Unauthenticated | Code::PermissionDenied => Kind::Auth,
            // A connection that broke under a request: tonic reports it as Unknown, caused by
            // its transport error.
            Code::Unknown if caused_by_transport(s) => Kind::Unavailable,
            _ => Kind::Failure,
        },
        etcd_client::Error::TransportError(_) | etcd_client::Error::IoError(_) => Kind::Unavailable,
        etcd_client::Error::InvalidArgs(_) | etcd_client::Error::InvalidUri(_) => Kind::Usage,
        _ => Kind::Failure,
    }
}

/// True for a status tonic made itself from a failure under it (the connection, HTTP/2): such a
/// status carries its cause, while etcd's own answers never do.
fn caused_by_transport(s: &tonic::Status) -> bool {
    std::error::Error::source(s).is_some()
}

/// True for errors worth retrying: the server is briefly away, electing a leader, overloaded,
/// or (a member that lags behind the revision asked for) catching up.
pub fn is_transient(e: &etcd_client::Error) -> bool {
    match etcd_error(e) {
        Some(EtcdErr::FutureRev | EtcdErr::AuthOldRevision) => true,
        Some(k) => classify(e) == Kind::Unavailable && k != EtcdErr::Corrupt,
        None => matches!(classify(e), Kind::Unavailable),
    }
}

/// True when a response was larger than the client accepts (pages must shrink): tonic's own
/// decode limit (OutOfRange or ResourceExhausted, with no etcd message).
pub fn is_too_large_response(e: &etcd_client::Error) -> bool {
    matches!(e, etcd_client::Error::GRpcStatus(s)
        if matches!(s.code(), tonic::Code::OutOfRange | tonic::Code::ResourceExhausted) && etcd_error(e).is_none())
}

/// True when etcd refused a request as too big or with too many operations.
pub fn is_request_too_big(e: &etcd_client::Error) -> bool {
    matches!(etcd_error(e), Some(EtcdErr::RequestTooLarge | EtcdErr::TooManyOps))
        || matches!(e, etcd_client::Error::GRpcStatus(s)
            if s.code() == tonic::Code::ResourceExhausted && etcd_error(e).is_none())
}

/// True when a lease named in a request does not exist (it expired, or was revoked).
pub fn is_lease_not_found(e: &etcd_client::Error) -> bool {
    etcd_error(e) == Some(EtcdErr::LeaseNotFound)
}

/// Most retries of one etcd request on transient errors.
pub const MAX_RETRIES: usize = 8;

/// The retry policy for etcd requests: exponential backoff from 100 ms, capped at 5 s, with
/// jitter, at most [`MAX_RETRIES`] times.
pub fn backoff() -> backon::ExponentialBuilder {
    backon::ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(100))
        .with_max_delay(Duration::from_secs(5))
        .with_max_times(MAX_RETRIES)
        .with_jitter()
}

/// Run one etcd request, retrying it by [`backoff`] (at most `times` times) while it fails with
/// a transient error. With several endpoints a retry may go to another member, so one dead
/// member does not fail it. A first contact retries once per endpoint, so that an etcd that is
/// not there at all is reported at once.
pub async fn retried<T, F, Fut>(times: usize, f: F) -> std::result::Result<T, etcd_client::Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = std::result::Result<T, etcd_client::Error>>,
{
    use backon::Retryable;
    f.retry(backoff().with_max_times(times)).when(is_transient).await
}

/// The delays of one request's retries by [`backoff`].
pub fn delays() -> impl Iterator<Item = Duration> + Send {
    use backon::BackoffBuilder;
    backoff().build()
}

/// Sleep before the next retry; false when the retries are spent.
pub async fn pause(delays: &mut (impl Iterator<Item = Duration> + Send)) -> bool {
    match delays.next() {
        Some(d) => {
            tokio::time::sleep(d).await;
            true
        }
        None => false,
    }
}

/// The smallest key greater than every key with `prefix`; empty prefix or all-0xff means "no end"
/// (etcd's `\0` range end).
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(&last) = end.last() {
        if last < 0xff {
            *end.last_mut().expect("non-empty") += 1;
            return end;
        }
        end.pop();
    }
    vec![0]
}

/// Key ranges `[start, end)` covering `prefixes`, sorted and without overlaps. An end of `[0]`
/// means "to the end of the keyspace". The empty prefix is the whole keyspace.
pub fn prefix_ranges(prefixes: &[String]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut ps: Vec<&[u8]> = prefixes.iter().map(|p| p.as_bytes()).collect();
    if ps.is_empty() {
        ps.push(b"");
    }
    ps.sort();
    ps.dedup();
    let mut kept: Vec<&[u8]> = Vec::new();
    for p in ps {
        if kept.last().is_some_and(|k| p.starts_with(k)) {
            continue;
        }
        kept.push(p);
    }
    kept.into_iter().map(|p| if p.is_empty() { (vec![0], vec![0]) } else { (p.to_vec(), prefix_end(p)) }).collect()
}

/// True when `key` lies in `[start, end)` (end `[0]` is unbounded).
pub fn in_range(key: &[u8], start: &[u8], end: &[u8]) -> bool {
    key >= start && (end == [0] || key < end)
}

/// `16 hex digits`, as etcdctl prints cluster and member ids.
pub fn id_hex(id: u64) -> String {
    format!("{id:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_works() {
        assert_eq!(prefix_end(b"/a"), b"/b");
        assert_eq!(prefix_end(b"/a\xff"), b"/b");
        assert_eq!(prefix_end(b"\xff\xff"), vec![0]);
    }

    #[test]
    fn prefix_ranges_merge() {
        let r = prefix_ranges(&["/b".into(), "/a/x".into(), "/a".into(), "/b".into()]);
        assert_eq!(r, vec![(b"/a".to_vec(), b"/b".to_vec()), (b"/b".to_vec(), b"/c".to_vec())]);
        assert_eq!(prefix_ranges(&["/a".into(), "".into()]), vec![(vec![0], vec![0])]);
    }
}
