//! The KMS plugin APIs (k8s.io/kms: `v1beta1.KeyManagementService` for KMS v1,
//! `v2.KeyManagementService` for KMS v2) over the plugin's unix socket: gRPC on HTTP/2, written
//! here on the h2 crate (a gRPC message is a 5-byte prefix and protobuf; the status comes in the
//! trailers). Decrypt is called once per data key (v1) or data key source (v2): the answers are
//! kept, as the API server keeps them; a v2 plugin's Status is asked once, before its first
//! Decrypt or Encrypt. Encrypt is called once per process, when values are written: one data
//! key (v1) or seed (v2) then serves every value. Each call has the provider's `timeout` (the
//! API server's default, 3 s, when the config names none); a plugin that let one call time out
//! is not asked again, so a dead plugin costs one timeout, not one per value.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use crate::pb::{Msg, Value, field_bytes, fields};

/// How long one call may take when the config says nothing (kube-apiserver's default).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

/// Most bytes an answer may have (a data key is 32).
const MAX_ANSWER: usize = 1 << 20;

/// Which plugin API a provider speaks (its `apiVersion` in the EncryptionConfiguration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KmsApi {
    V1,
    V2,
}

impl KmsApi {
    /// As the EncryptionConfiguration writes it.
    pub fn name(self) -> &'static str {
        match self {
            KmsApi::V1 => "v1",
            KmsApi::V2 => "v2",
        }
    }
}

/// What a v2 plugin's Encrypt gave for a seed: stored in every value written with it.
#[derive(Debug, Clone)]
pub struct Wrapped {
    pub ciphertext: Vec<u8>,
    pub key_id: String,
    pub annotations: Vec<(String, Vec<u8>)>,
}

/// A KMS plugin reached through its socket.
pub struct Kms {
    socket: PathBuf,
    timeout: Duration,
    api: KmsApi,
    rt: tokio::runtime::Runtime,
    keys: Mutex<HashMap<Vec<u8>, Vec<u8>>>,
    /// Set once a call timed out: why no call is made any more.
    gave_up: Mutex<Option<String>>,
    /// A v2 plugin's Status, once asked: `Err` says why it is not used.
    status: Mutex<Option<Result<(), String>>>,
    /// The data key (v1) or seed (v2) values are written with, and what the plugin made of it.
    writer: Mutex<Option<(Vec<u8>, Wrapped)>>,
}

impl std::fmt::Debug for Kms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Kms({})", self.socket.display())
    }
}

impl Kms {
    /// The plugin at `endpoint` (`unix:///path/to/socket`, as the EncryptionConfiguration names
    /// it, or a path), speaking `api`. Nothing is connected yet.
    pub fn new(endpoint: &str, timeout: Duration, api: KmsApi) -> Result<Kms, String> {
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
            api,
            rt,
            keys: Mutex::new(HashMap::new()),
            gave_up: Mutex::new(None),
            status: Mutex::new(None),
            writer: Mutex::new(None),
        })
    }

    /// How long a call may take.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub fn api(&self) -> KmsApi {
        self.api
    }

    /// One call to the plugin, within the timeout; none after a call timed out.
    fn unary(&self, method: &str, req: Msg) -> Result<Vec<u8>, String> {
        if let Some(why) = self.gave_up.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            return Err(format!("{why} (not asked again)"));
        }
        let call = call(self.socket.clone(), method, req.into_bytes());
        self.rt.block_on(async { tokio::time::timeout(self.timeout, call).await }).map_err(|_| {
            let why = format!(
                "the KMS plugin at {} did not answer in {:.1} s (the provider's timeout)",
                self.socket.display(),
                self.timeout.as_secs_f64()
            );
            *self.gave_up.lock().unwrap_or_else(|e| e.into_inner()) = Some(why.clone());
            why
        })?
    }

    /// A v2 plugin's Status, asked once: it must speak v2 and say it is healthy.
    fn healthy(&self) -> Result<(), String> {
        let mut status = self.status.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = status.as_ref() {
            return s.clone();
        }
        let at = self.socket.display();
        let answer = self.unary("/v2.KeyManagementService/Status", Msg::new())?;
        let f = fields(&answer).ok_or_else(|| format!("the KMS plugin at {at} answered a malformed Status"))?;
        let text = |n| field_bytes(&f, n).map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default();
        let (version, healthz) = (text(1), text(2));
        let s = if !matches!(version.as_str(), "v2" | "v2beta1") {
            Err(format!("the KMS plugin at {at} speaks {version:?}, not KMS v2"))
        } else if healthz != "ok" {
            Err(format!("the KMS plugin at {at} is not healthy: its Status says {healthz:?}"))
        } else {
            Ok(())
        };
        *status = Some(s.clone());
        s
    }

    /// The seed or data key a v2 plugin wrapped as `source` (cached per source).
    pub fn decrypt_v2(
        &self,
        source: &[u8],
        key_id: &str,
        annotations: &[(String, Vec<u8>)],
    ) -> Result<Vec<u8>, String> {
        if let Some(k) = self.cached(source) {
            return Ok(k);
        }
        self.healthy()?;
        let mut req = Msg::new();
        req.bytes(1, source).str(2, &uid()).str(3, key_id).map(4, annotations);
        let answer = self.unary("/v2.KeyManagementService/Decrypt", req)?;
        self.remember(source, &answer)
    }

    /// What the plugin once unwrapped `wrapped` to.
    fn cached(&self, wrapped: &[u8]) -> Option<Vec<u8>> {
        self.keys.lock().unwrap_or_else(|e| e.into_inner()).get(wrapped).cloned()
    }

    /// The plaintext in a Decrypt answer (field 1 in both APIs), kept for `wrapped`.
    fn remember(&self, wrapped: &[u8], answer: &[u8]) -> Result<Vec<u8>, String> {
        let plain = fields(answer)
            .and_then(|f| field_bytes(&f, 1).map(<[u8]>::to_vec))
            .ok_or_else(|| format!("the KMS plugin at {} gave no data key", self.socket.display()))?;
        self.keys.lock().unwrap_or_else(|e| e.into_inner()).insert(wrapped.to_vec(), plain.clone());
        Ok(plain)
    }

    /// The data key (v1) or seed (v2) to write values with: 32 random bytes, made once and
    /// wrapped by the plugin's Encrypt once.
    pub fn writer(&self) -> Result<(Vec<u8>, Wrapped), String> {
        use aes_gcm::aead::OsRng;
        use aes_gcm::aead::rand_core::RngCore;
        let mut w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(w) = w.as_ref() {
            return Ok(w.clone());
        }
        let mut secret = vec![0u8; 32];
        OsRng.fill_bytes(&mut secret);
        let at = self.socket.display();
        let wrapped = match self.api {
            KmsApi::V1 => {
                let mut req = Msg::new();
                req.str(1, "v1beta1").bytes(2, &secret);
                let answer = self.unary("/v1beta1.KeyManagementService/Encrypt", req)?;
                let f =
                    fields(&answer).ok_or_else(|| format!("the KMS plugin at {at} answered a malformed Encrypt"))?;
                let ciphertext = field_bytes(&f, 1)
                    .filter(|c| !c.is_empty())
                    .ok_or_else(|| format!("the KMS plugin at {at} gave no ciphertext"))?;
                Wrapped { ciphertext: ciphertext.to_vec(), key_id: String::new(), annotations: Vec::new() }
            }
            KmsApi::V2 => {
                self.healthy()?;
                let mut req = Msg::new();
                req.bytes(1, &secret).str(2, &uid());
                let answer = self.unary("/v2.KeyManagementService/Encrypt", req)?;
                encrypt_response(&answer)
                    .ok_or_else(|| format!("the KMS plugin at {at} answered an Encrypt without ciphertext or key id"))?
            }
        };
        // What was written must read back: the plugin's answer is cached for reading too.
        self.keys.lock().unwrap_or_else(|e| e.into_inner()).insert(wrapped.ciphertext.clone(), secret.clone());
        *w = Some((secret, wrapped));
        Ok(w.clone().expect("just set"))
    }

    /// The plaintext of a data key a v1 plugin wrapped.
    pub fn decrypt(&self, cipher: &[u8]) -> Result<Vec<u8>, String> {
        if let Some(k) = self.cached(cipher) {
            return Ok(k);
        }
        let mut req = Msg::new();
        req.str(1, "v1beta1").bytes(2, cipher);
        let answer = self.unary("/v1beta1.KeyManagementService/Decrypt", req)?;
        self.remember(cipher, &answer)
    }
}

/// A name for one call, as the API server sends one for the plugin's logs.
fn uid() -> String {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    format!("reshifter-{}-{}", std::process::id(), N.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
}

/// `EncryptResponse{ciphertext=1, key_id=2, annotations=3}`: ciphertext and key id required.
fn encrypt_response(b: &[u8]) -> Option<Wrapped> {
    let f = fields(b)?;
    let ciphertext = field_bytes(&f, 1).filter(|c| !c.is_empty())?.to_vec();
    let key_id = String::from_utf8(field_bytes(&f, 2)?.to_vec()).ok().filter(|k| !k.is_empty())?;
    let annotations = map_entries(&f, 3)?;
    Some(Wrapped { ciphertext, key_id, annotations })
}

/// The entries of map field `n` (`map<string, bytes>`); `None` when one is malformed.
pub fn map_entries(f: &[(u32, Value<'_>)], n: u32) -> Option<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    for (tag, v) in f {
        let (true, Value::Bytes(entry)) = (*tag == n, v) else { continue };
        let e = fields(entry)?;
        let key = String::from_utf8(field_bytes(&e, 1).unwrap_or_default().to_vec()).ok()?;
        out.push((key, field_bytes(&e, 2).unwrap_or_default().to_vec()));
    }
    Some(out)
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
