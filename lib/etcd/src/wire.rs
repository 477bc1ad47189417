//! etcd's `KV/Txn` for writes of many large values, over tonic with messages of our own.
//!
//! etcd-client's generated clients take tonic's default codec, which starts every request in an
//! 8 KiB buffer and grows it while prost writes: a restore's 700 KB txns were reallocated and
//! copied some seven times each, on fresh pages the kernel clears (a fifth of etcd-load's CPU), and
//! its `TxnOp`s own their values, so a batch kept for a retry was copied once more to build one.
//! Here each request is encoded into a buffer of its own encoded size, and keys and values are
//! [`Bytes`] shared with the batch. The messages are the wire-compatible subset of etcd's
//! rpc.proto a guarded put needs; the connection is made as etcd-client makes its own (same
//! endpoints, TLS, timeouts, keep-alive), with its own token from etcd's `Authenticate`, taken
//! again when etcd says it is no longer valid.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tonic::codec::{BufferSettings, Codec};
use tonic::metadata::{AsciiMetadataValue, MetadataValue};
use tonic::transport::{Channel, Endpoint};
use tonic_prost::{ProstCodec, ProstDecoder, ProstEncoder};

use crate::EtcdArgs;
use reshifter_format::error::{Error, Kind, Result};

/// etcd's `PutRequest` (fields 1-3).
#[derive(Clone, PartialEq, prost::Message)]
pub struct PutRequest {
    #[prost(bytes = "bytes", tag = "1")]
    pub key: Bytes,
    #[prost(bytes = "bytes", tag = "2")]
    pub value: Bytes,
    #[prost(int64, tag = "3")]
    pub lease: i64,
}

/// etcd's `RequestOp` holding a put (its oneof's field 2, encoded as a oneof member is).
#[derive(Clone, PartialEq, prost::Message)]
pub struct RequestOp {
    #[prost(message, optional, tag = "2")]
    pub request_put: Option<PutRequest>,
}

/// etcd's `Compare` on a key's (or a range's) mod_revision being equal to a value.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Compare {
    /// CompareResult: EQUAL is 0.
    #[prost(int32, tag = "1")]
    pub result: i32,
    /// CompareTarget: MOD is 2.
    #[prost(int32, tag = "2")]
    pub target: i32,
    #[prost(bytes = "bytes", tag = "3")]
    pub key: Bytes,
    /// A member of the oneof `target_union`: written even when 0.
    #[prost(int64, optional, tag = "6")]
    pub mod_revision: Option<i64>,
    /// Compare every key in [key, range_end) (etcd 3.3 and later); empty for the one key.
    #[prost(bytes = "bytes", tag = "64")]
    pub range_end: Bytes,
}

impl Compare {
    /// The key's mod_revision is `rev` (0: the key does not exist).
    pub fn revision_is(key: Bytes, rev: i64) -> Self {
        Compare { result: 0, target: 2, key, mod_revision: Some(rev), range_end: Bytes::new() }
    }

    /// No key lies in [start, end).
    pub fn none_in(start: Bytes, end: Bytes) -> Self {
        Compare { range_end: end, ..Compare::revision_is(start, 0) }
    }
}

/// etcd's `TxnRequest`: the puts happen when every compare holds.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TxnRequest {
    #[prost(message, repeated, tag = "1")]
    pub compare: Vec<Compare>,
    #[prost(message, repeated, tag = "2")]
    pub success: Vec<RequestOp>,
}

/// What of etcd's `TxnResponse` a write needs (the rest is skipped when decoded).
#[derive(Clone, PartialEq, prost::Message)]
pub struct TxnResponse {
    #[prost(bool, tag = "2")]
    pub succeeded: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
struct AuthenticateRequest {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(string, tag = "2")]
    password: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct AuthenticateResponse {
    #[prost(string, tag = "2")]
    token: String,
}

/// A prost codec whose encoder starts with a buffer of `size` bytes.
struct SizedCodec<T, U> {
    size: usize,
    inner: ProstCodec<T, U>,
}

impl<T, U> SizedCodec<T, U> {
    fn new(size: usize) -> Self {
        SizedCodec { size, inner: ProstCodec::default() }
    }
}

impl<T, U> Codec for SizedCodec<T, U>
where
    T: prost::Message + Send + 'static,
    U: prost::Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = ProstDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        // tonic's frame header (5 bytes) goes in front of the message.
        ProstEncoder::new(BufferSettings::new(self.size + 5, 32 * 1024))
    }

    fn decoder(&mut self) -> Self::Decoder {
        self.inner.decoder()
    }
}

/// A connection for write txns.
#[derive(Clone)]
pub struct TxnClient {
    channel: Channel,
    credentials: Option<Arc<(String, String)>>,
    token: Arc<tokio::sync::RwLock<Option<AsciiMetadataValue>>>,
    /// The most one request may take, waiting for a connection included.
    timeout: Duration,
}

/// What etcd says when a token expired or was never valid.
const INVALID_TOKEN: &str = "etcdserver: invalid auth token";

impl TxnClient {
    /// Connect as [`EtcdArgs::connect`] does (which is to have been called first: it checks that
    /// etcd answers and the credentials are right).
    pub async fn connect(args: &EtcdArgs) -> Result<TxnClient> {
        let tls = args.tls()?;
        let mut endpoints = Vec::with_capacity(args.endpoints.len());
        for e in &args.endpoints {
            endpoints.push(endpoint(e, tls.clone(), args.dial_timeout, args.command_timeout)?);
        }
        let channel = Channel::balance_list(endpoints.into_iter());
        let c = TxnClient {
            channel,
            credentials: args.credentials()?.map(Arc::new),
            token: Default::default(),
            timeout: args.command_timeout,
        };
        c.authenticate(None).await.map_err(|e| args.error("cannot authenticate to etcd", e))?;
        Ok(c)
    }

    /// Take a (new) token, unless another request did since `stale` was seen.
    async fn authenticate(&self, stale: Option<AsciiMetadataValue>) -> std::result::Result<(), etcd_client::Error> {
        let Some(creds) = &self.credentials else { return Ok(()) };
        let mut token = self.token.write().await;
        if stale.is_some() && *token != stale {
            return Ok(());
        }
        let req = AuthenticateRequest { name: creds.0.clone(), password: creds.1.clone() };
        let codec = SizedCodec::new(64 + req.name.len() + req.password.len());
        let resp: AuthenticateResponse = self.call("/etcdserverpb.Auth/Authenticate", req, codec, None).await?;
        let value = MetadataValue::try_from(resp.token)
            .map_err(|_| etcd_client::Error::InvalidArgs("etcd answered with a token that is not text".into()))?;
        *token = Some(value);
        Ok(())
    }

    async fn call<T, U>(
        &self,
        path: &'static str,
        msg: T,
        codec: SizedCodec<T, U>,
        token: Option<AsciiMetadataValue>,
    ) -> std::result::Result<U, etcd_client::Error>
    where
        T: prost::Message + Send + 'static,
        U: prost::Message + Default + Send + 'static,
    {
        let mut grpc =
            tonic::client::Grpc::new(self.channel.clone()).max_decoding_message_size(crate::MAX_DECODE_BYTES);
        let mut req = tonic::Request::new(msg);
        if let Some(t) = token {
            req.metadata_mut().insert("token", t);
        }
        let path = http::uri::PathAndQuery::from_static(path);
        let call = async {
            grpc.ready().await.map_err(|e| tonic::Status::unavailable(format!("etcd is not ready: {e}")))?;
            grpc.unary(req, path, codec).await
        };
        // A member that stalls, or none to connect to, is a timeout like any other request's.
        match tokio::time::timeout(self.timeout, call).await {
            Ok(r) => Ok(r?.into_inner()),
            Err(_) => Err(tonic::Status::deadline_exceeded(format!("no answer in {:?}", self.timeout)).into()),
        }
    }

    /// Run a write txn; true when its compares held (and its puts were made). With credentials
    /// a txn refused for its token is sent again once with a new one (a clone of the request
    /// shares its keys and values).
    pub async fn txn(&self, req: TxnRequest) -> std::result::Result<bool, etcd_client::Error> {
        let size = prost::Message::encoded_len(&req);
        if self.credentials.is_none() {
            return self.txn_once(req, size, None).await;
        }
        let token = self.token.read().await.clone();
        match self.txn_once(req.clone(), size, token.clone()).await {
            Err(etcd_client::Error::GRpcStatus(s)) if s.message() == INVALID_TOKEN => {
                self.authenticate(token).await?;
                let token = self.token.read().await.clone();
                self.txn_once(req, size, token).await
            }
            r => r,
        }
    }

    async fn txn_once(
        &self,
        req: TxnRequest,
        size: usize,
        token: Option<AsciiMetadataValue>,
    ) -> std::result::Result<bool, etcd_client::Error> {
        let codec = SizedCodec::new(size);
        let resp: TxnResponse = self.call("/etcdserverpb.KV/Txn", req, codec, token).await?;
        Ok(resp.succeeded)
    }
}

/// An endpoint as etcd-client makes it: `http://` and `https://` as given, a bare `host:port`
/// with TLS when TLS is configured.
fn endpoint(url: &str, tls: Option<etcd_client::TlsOptions>, dial: Duration, timeout: Duration) -> Result<Endpoint> {
    let bad = |e: &dyn std::fmt::Display| Error::new(Kind::Usage, format!("bad etcd endpoint {url:?}: {e}"));
    let (uri, tls) = if url.starts_with("http://") {
        (url.to_string(), None)
    } else if url.starts_with("https://") {
        (url.to_string(), Some(tls.unwrap_or_default()))
    } else if tls.is_some() {
        (format!("https://{url}"), tls)
    } else {
        (format!("http://{url}"), None)
    };
    let mut e = Endpoint::from_shared(uri).map_err(|e| bad(&e))?;
    if let Some(tls) = tls {
        e = e.tls_config(tls).map_err(|e| bad(&e))?;
    }
    Ok(e.connect_timeout(dial)
        .timeout(timeout)
        .http2_keep_alive_interval(crate::KEEP_ALIVE.0)
        .keep_alive_timeout(crate::KEEP_ALIVE.1))
}
