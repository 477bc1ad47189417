//! The KMS v1 plugin API (`v1beta1.KeyManagementService`, k8s.io/kms) over the plugin's unix
//! socket: gRPC on HTTP/2, written here on the h2 crate (a gRPC message is a 5-byte prefix and
//! protobuf; the status comes in the trailers). Only Decrypt is called, once per data key: the
//! answers are kept, as the API server keeps them. Each call has the provider's `timeout` (the
//! API server's default, 3 s, when the config names none); a plugin that let one call time out
//! is not asked again, so a dead plugin costs one timeout, not one per value.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use crate::pb::{Msg, field_bytes, fields};

/// How long one call may take when the config says nothing (kube-apiserver's default).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

/// Most bytes an answer may have (a data key is 32).
const MAX_ANSWER: usize = 1 << 20;

/// A KMS plugin reached through its socket.
pub struct Kms {
    socket: PathBuf,
    timeout: Duration,
    rt: tokio::runtime::Runtime,
    keys: Mutex<HashMap<Vec<u8>, Vec<u8>>>,
    /// Set once a call timed out: why no call is made any more.
    gave_up: Mutex<Option<String>>,
}

impl std::fmt::Debug for Kms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Kms({})", self.socket.display())
    }
}

impl Kms {
    /// The plugin at `endpoint` (`unix:///path/to/socket`, as the EncryptionConfiguration names
    /// it, or a path). Nothing is connected yet.
    pub fn new(endpoint: &str, timeout: Duration) -> Result<Kms, String> {
        let path = endpoint.strip_prefix("unix://").unwrap_or(endpoint);
        if path.is_empty() || endpoint.contains("://") && !endpoint.starts_with("unix://") {
            return Err(format!("KMS endpoint {endpoint:?}: expected unix:///path/to/socket"));
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| format!("cannot start the KMS client: {e}"))?;
        Ok(Kms {
            socket: PathBuf::from(path),
            timeout,
            rt,
            keys: Mutex::new(HashMap::new()),
            gave_up: Mutex::new(None),
        })
    }

    /// How long a call may take.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The plaintext of a data key the plugin wrapped.
    pub fn decrypt(&self, cipher: &[u8]) -> Result<Vec<u8>, String> {
        if let Some(k) = self.keys.lock().unwrap_or_else(|e| e.into_inner()).get(cipher) {
            return Ok(k.clone());
        }
        if let Some(why) = self.gave_up.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            return Err(format!("{why} (not asked again)"));
        }
        let mut req = Msg::new();
        req.str(1, "v1beta1").bytes(2, cipher);
        let socket = self.socket.clone();
        let call = call(socket, "/v1beta1.KeyManagementService/Decrypt", req.into_bytes());
        let answer = self.rt.block_on(async { tokio::time::timeout(self.timeout, call).await }).map_err(|_| {
            let why = format!(
                "the KMS plugin at {} did not answer in {:.1} s (the provider's timeout)",
                self.socket.display(),
                self.timeout.as_secs_f64()
            );
            *self.gave_up.lock().unwrap_or_else(|e| e.into_inner()) = Some(why.clone());
            why
        })??;
        let plain = fields(&answer)
            .and_then(|f| field_bytes(&f, 1).map(<[u8]>::to_vec))
            .ok_or_else(|| format!("the KMS plugin at {} gave no data key", self.socket.display()))?;
        self.keys.lock().unwrap_or_else(|e| e.into_inner()).insert(cipher.to_vec(), plain.clone());
        Ok(plain)
    }
}

/// One unary gRPC call: the request message in, the answer message out.
async fn call(socket: PathBuf, method: &str, msg: Vec<u8>) -> Result<Vec<u8>, String> {
    let at = || format!("the KMS plugin at {}", socket.display());
    let io = tokio::net::UnixStream::connect(&socket).await.map_err(|e| format!("cannot reach {}: {e}", at()))?;
    let (client, conn) = h2::client::handshake(io).await.map_err(|e| format!("{}: {e}", at()))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut client = client.ready().await.map_err(|e| format!("{}: {e}", at()))?;
    let req = http::Request::builder()
        .method("POST")
        .uri(format!("http://localhost{method}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .map_err(|e| e.to_string())?;
    let (answer, mut send) = client.send_request(req, false).map_err(|e| format!("{}: {e}", at()))?;
    let mut frame = Vec::with_capacity(5 + msg.len());
    frame.push(0);
    frame.extend_from_slice(&(msg.len() as u32).to_be_bytes());
    frame.extend_from_slice(&msg);
    send.send_data(frame.into(), true).map_err(|e| format!("{}: {e}", at()))?;
    let answer = answer.await.map_err(|e| format!("{}: {e}", at()))?;
    let (head, mut body) = answer.into_parts();
    let mut data = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.map_err(|e| format!("{}: {e}", at()))?;
        let _ = body.flow_control().release_capacity(chunk.len());
        data.extend_from_slice(&chunk);
        if data.len() > MAX_ANSWER {
            return Err(format!("{} answered more than {MAX_ANSWER} bytes", at()));
        }
    }
    let trailers = body.trailers().await.map_err(|e| format!("{}: {e}", at()))?;
    // A trailers-only answer carries its status in the headers.
    let status_of = |h: &http::HeaderMap| h.get("grpc-status").and_then(|v| v.to_str().ok()).map(str::to_string);
    let status = trailers.as_ref().and_then(status_of).or_else(|| status_of(&head.headers));
    if status.as_deref() != Some("0") {
        let message = trailers
            .as_ref()
            .and_then(|t| t.get("grpc-message"))
            .or_else(|| head.headers.get("grpc-message"))
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        return Err(format!("{} refused: gRPC status {} {message}", at(), status.as_deref().unwrap_or("missing")));
    }
    match data.as_slice() {
        [0, a, b, c, d, rest @ ..] if u32::from_be_bytes([*a, *b, *c, *d]) as usize == rest.len() => Ok(rest.to_vec()),
        _ => Err(format!("{} answered a malformed gRPC message", at())),
    }
}
