//! etcd's v2 API: `/v2/keys` over HTTP(S), for keyspaces that older clusters (and Kubernetes
//! before etcd3) kept there. The same connection flags as the v3 tools (endpoints, CA, client
//! certificate, user and password), a tree read in one consistent GET and parsed as it arrives
//! (no tree in memory), and the v2 stream representation (docs/FORMAT.md, "etcd v2 streams").

pub mod dump;
pub mod load;

use std::io::Read;
use std::time::Duration;

use serde::de::{DeserializeSeed, Deserializer, Error as _, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::EtcdArgs;
use reshifter_format::error::{Error, Kind, Result};
use reshifter_format::{Lease, Record, lease_hex};

/// A response larger than this is refused (a v2 keyspace is read in one GET).
const MAX_RESPONSE: u64 = 4 << 30;

/// A v2 client: the endpoints as HTTP(S) base URLs, tried in order.
pub struct V2 {
    agent: ureq::Agent,
    bases: Vec<String>,
    auth: Option<String>,
    list: String,
}

/// One node of a v2 tree, as the GET sends it (children are reported separately).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Node {
    pub key: String,
    pub value: Option<String>,
    pub dir: bool,
    pub created: i64,
    pub modified: i64,
    /// Seconds left, for a node with a TTL.
    pub ttl: Option<i64>,
    /// When it expires, RFC 3339.
    pub expiration: Option<String>,
}

impl Node {
    /// Unix seconds of its expiration: the id of the lease that stands for its TTL in a stream.
    pub fn expires_at(&self) -> Option<i64> {
        let e = self.expiration.as_deref()?;
        let t = humantime::parse_rfc3339_weak(e.split('.').next().unwrap_or(e).trim_end_matches('Z')).ok()?;
        let secs = t.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs() as i64;
        (secs > 0).then_some(secs)
    }

    /// The stream record of this node: a directory's key ends in `/`; a TTL is the lease named
    /// by the expiration's Unix seconds (with its lease in `leases`).
    pub fn record(&self) -> (Record, Option<Lease>) {
        let mut key = self.key.clone().into_bytes();
        if self.dir {
            key.push(b'/');
        }
        let lease = self.expires_at().map(|id| {
            let ttl = self.ttl.unwrap_or(0).max(1);
            Lease { id: lease_hex(id), ttl, granted_ttl: ttl }
        });
        let record = Record {
            key,
            value: self.value.clone().unwrap_or_default().into_bytes(),
            create_revision: self.created,
            mod_revision: self.modified,
            version: 0,
            lease: self.expires_at().unwrap_or(0),
        };
        (record, lease)
    }
}

/// What an answer of etcd's v2 API said, beside its body.
pub struct Answer {
    pub status: u16,
    /// X-Etcd-Index: the store's index when it answered.
    pub index: i64,
    /// X-Etcd-Cluster-Id.
    pub cluster_id: Option<String>,
    pub body: Box<dyn Read + Send>,
}

/// etcd's v2 error body.
#[derive(serde::Deserialize, Debug)]
pub struct V2Error {
    #[serde(rename = "errorCode")]
    pub code: i64,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub cause: String,
}

/// etcd v2 error codes this code acts on.
pub mod code {
    pub const KEY_NOT_FOUND: i64 = 100;
    pub const COMPARE_FAILED: i64 = 101;
    pub const NOT_A_FILE: i64 = 102;
    pub const NOT_A_DIR: i64 = 104;
    pub const NODE_EXIST: i64 = 105;
    pub const DIR_NOT_EMPTY: i64 = 108;
    pub const UNAUTHORIZED: i64 = 110;
}

/// The path of a key in a `/v2/keys` URL: each byte that is not unreserved percent-encoded,
/// `/` kept.
pub fn key_path(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 8);
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl V2 {
    /// A client for the endpoints and TLS and credentials of `args` (http:// unless a scheme or
    /// a TLS flag says https://).
    pub fn connect(args: &EtcdArgs) -> Result<V2> {
        let files = args.tls_files()?;
        let mut tls = ureq::tls::TlsConfig::builder();
        if let Some(f) = &files {
            if let Some(ca) = &f.ca {
                let pem = crate::read_file("CA certificate", ca)?;
                let certs: Vec<ureq::tls::Certificate<'static>> = ureq::tls::parse_pem(&pem)
                    .filter_map(|i| match i {
                        Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                        _ => None,
                    })
                    .collect();
                if certs.is_empty() {
                    return Err(Error::new(Kind::Usage, format!("{} holds no certificate", ca.display())));
                }
                tls = tls.root_certs(ureq::tls::RootCerts::new_with_certs(&certs));
            }
            if let Some((cert, key)) = &f.identity {
                let bad =
                    |what: &str, e: ureq::Error| Error::new(Kind::Usage, format!("cannot read the client {what}: {e}"));
                let c = ureq::tls::Certificate::from_pem(&crate::read_file("client certificate", cert)?)
                    .map_err(|e| bad("certificate", e))?;
                let k = ureq::tls::PrivateKey::from_pem(&crate::read_file("client key", key)?)
                    .map_err(|e| bad("key", e))?;
                tls = tls.client_cert(Some(ureq::tls::ClientCert::new_with_certs(&[c], k)));
            }
        }
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(args.dial_timeout))
            .timeout_global(Some(args.command_timeout.max(Duration::from_secs(60))))
            .tls_config(tls.build())
            .build();
        let https = files.is_some();
        let bases = args
            .endpoints
            .iter()
            .map(|e| {
                let e = e.trim_end_matches('/');
                if e.contains("://") {
                    e.to_string()
                } else {
                    format!("{}://{e}", if https { "https" } else { "http" })
                }
            })
            .collect();
        let auth = args.credentials()?.map(|(u, p)| {
            use base64_simd::STANDARD;
            format!("Basic {}", STANDARD.encode_to_string(format!("{u}:{p}").as_bytes()))
        });
        Ok(V2 { agent: config.new_agent(), bases, auth, list: args.endpoint_list() })
    }

    /// The endpoints, for messages.
    pub fn endpoints(&self) -> &str {
        &self.list
    }

    /// One request to the first endpoint that answers; `body` is a form for PUT.
    fn request(&self, method: &str, path: &str, form: &[(&str, String)]) -> Result<Answer> {
        let mut last = String::new();
        for base in &self.bases {
            let url = format!("{base}{path}");
            let resp = match method {
                "GET" => self.with_auth(self.agent.get(&url)).call(),
                "DELETE" => self.with_auth(self.agent.delete(&url)).call(),
                _ => {
                    let req = self.agent.put(&url);
                    let req = match &self.auth {
                        Some(a) => req.header("Authorization", a),
                        None => req,
                    };
                    req.send_form(form.iter().map(|(k, v)| (*k, v.as_str())))
                }
            };
            match resp {
                Ok(r) => {
                    let header = |n: &str| r.headers().get(n).and_then(|v| v.to_str().ok()).map(str::to_string);
                    let index = header("X-Etcd-Index").and_then(|v| v.parse().ok()).unwrap_or(0);
                    let cluster_id = header("X-Etcd-Cluster-Id");
                    let status = r.status().as_u16();
                    let body = Box::new(r.into_body().into_with_config().limit(MAX_RESPONSE).reader());
                    return Ok(Answer { status, index, cluster_id, body });
                }
                Err(e) => last = e.to_string(),
            }
        }
        Err(Error::new(
            Kind::Unavailable,
            format!(
                "cannot reach etcd's v2 API at {}: {last}: is etcd running there, and are --endpoints and TLS right?",
                self.list
            ),
        ))
    }

    fn with_auth(
        &self,
        r: ureq::RequestBuilder<ureq::typestate::WithoutBody>,
    ) -> ureq::RequestBuilder<ureq::typestate::WithoutBody> {
        match &self.auth {
            Some(a) => r.header("Authorization", a),
            None => r,
        }
    }

    /// The error an answer carries, as a library error naming what was being done.
    pub fn error(&self, what: &str, a: Answer) -> Error {
        let status = a.status;
        let mut text = String::new();
        let _ = a.body.take(64 << 10).read_to_string(&mut text);
        match serde_json::from_str::<V2Error>(&text) {
            Ok(e) => v2_error(what, status, &e),
            Err(_) if status == 404 => Error::new(
                Kind::Usage,
                format!(
                    "{what}: etcd at {} does not serve the v2 API (HTTP 404): start it with --enable-v2, or use --api v3",
                    self.list
                ),
            ),
            Err(_) => Error::new(Kind::Failure, format!("{what}: HTTP {status}: {}", text.trim())),
        }
    }

    /// `GET /version`: the server and cluster versions.
    pub fn version(&self) -> Result<(String, String)> {
        let a = self.request("GET", "/version", &[])?;
        if a.status != 200 {
            return Err(self.error("reading the version", a));
        }
        #[derive(serde::Deserialize)]
        struct Version {
            etcdserver: String,
            #[serde(default)]
            etcdcluster: String,
        }
        let v: Version = serde_json::from_reader(a.body.take(1 << 20))
            .map_err(|e| Error::new(Kind::Failure, format!("etcd's /version answer is not JSON: {e}")))?;
        Ok((v.etcdserver, v.etcdcluster))
    }

    /// Read the tree under `dir` in one recursive GET, handing every node to `visit` as it is
    /// parsed (children before their directory). `Ok(None)` when `dir` does not exist; else the
    /// index the tree was read at and the cluster id.
    pub fn walk(&self, dir: &str, visit: &mut dyn FnMut(Node) -> Result<()>) -> Result<Option<(i64, Option<String>)>> {
        let a = self.request("GET", &format!("/v2/keys{}?recursive=true&sorted=true", key_path(dir)), &[])?;
        if a.status != 200 {
            let (status, index, cluster) = (a.status, a.index, a.cluster_id.clone());
            let err = self.error(&format!("reading {dir}"), a);
            if status == 404 && err.message().contains("Key not found") {
                let _ = (index, cluster);
                return Ok(None);
            }
            return Err(err);
        }
        let (index, cluster) = (a.index, a.cluster_id.clone());
        let mut failure: Option<Error> = None;
        let mut emit = |n: Node| -> std::result::Result<(), String> {
            visit(n).map_err(|e| {
                let text = e.to_string();
                failure = Some(e);
                text
            })
        };
        let mut de = serde_json::Deserializer::from_reader(std::io::BufReader::with_capacity(1 << 20, a.body));
        let parsed = Answered(&mut emit).deserialize(&mut de);
        if let Some(e) = failure {
            return Err(e);
        }
        parsed.map_err(|e| {
            if e.to_string().starts_with("recursion limit exceeded") {
                // Our reader's limit, not etcd's fault: each directory is two levels of JSON.
                return Error::new(
                    Kind::Usage,
                    format!(
                        "the v2 tree under {dir} nests directories more than 60 deep, deeper than etcd-dump reads in \
                         one answer: dump its deepest directories with --prefix of their own"
                    ),
                );
            }
            Error::new(Kind::BadInput, format!("etcd's answer for {dir} is not what the v2 API sends: {e}"))
        })?;
        Ok(Some((index, cluster)))
    }

    /// The HTTP status etcd answers a GET of `path` with.
    pub fn status_of(&self, path: &str) -> Result<u16> {
        Ok(self.request("GET", path, &[])?.status)
    }

    /// True when `dir` exists in the v2 keyspace and holds something (`/`: any node); false
    /// also when the endpoint serves no v2 API.
    pub fn has_nodes(&self, dir: &str) -> Result<bool> {
        let a = self.request("GET", &format!("/v2/keys{}", key_path(dir)), &[])?;
        if a.status != 200 {
            return Ok(false);
        }
        let v: serde_json::Value = serde_json::from_reader(a.body.take(64 << 20))
            .map_err(|e| Error::new(Kind::BadInput, format!("etcd's v2 answer for {dir} is not JSON: {e}")))?;
        let node = &v["node"];
        Ok(node["dir"] != serde_json::Value::Bool(true) || node["nodes"].as_array().is_some_and(|n| !n.is_empty()))
    }

    /// `PUT /v2/keys/<key>` with the form fields given: `Ok(Err(v2 error))` for an answer etcd
    /// refused, so the caller can act on its code.
    pub fn put(&self, key: &str, form: &[(&str, String)]) -> Result<std::result::Result<(), V2Error>> {
        self.change("PUT", &format!("/v2/keys{}", key_path(key)), form, key)
    }

    /// `DELETE /v2/keys/<key>?<query>`.
    pub fn delete(&self, key: &str, query: &str) -> Result<std::result::Result<(), V2Error>> {
        self.change("DELETE", &format!("/v2/keys{}?{query}", key_path(key)), &[], key)
    }

    fn change(
        &self,
        method: &str,
        path: &str,
        form: &[(&str, String)],
        key: &str,
    ) -> Result<std::result::Result<(), V2Error>> {
        let a = self.request(method, path, form)?;
        if (200..300).contains(&a.status) {
            return Ok(Ok(()));
        }
        let status = a.status;
        let mut text = String::new();
        let _ = { a.body }.take(64 << 10).read_to_string(&mut text);
        match serde_json::from_str::<V2Error>(&text) {
            Ok(e) if e.code == code::UNAUTHORIZED => Err(v2_error(&format!("writing {key}"), status, &e)),
            Ok(e) => Ok(Err(e)),
            Err(_) => Err(Error::new(Kind::Failure, format!("writing {key}: HTTP {status}: {}", text.trim()))),
        }
    }
}

/// A v2 error as a library error: its kind by its code.
pub fn v2_error(what: &str, status: u16, e: &V2Error) -> Error {
    let kind = match e.code {
        code::UNAUTHORIZED => Kind::Auth,
        300..=399 => Kind::Unavailable,
        _ if status == 401 || status == 403 => Kind::Auth,
        _ => Kind::Failure,
    };
    let cause = if e.cause.is_empty() { String::new() } else { format!(" ({})", e.cause) };
    Error::new(kind, format!("{what}: etcd v2 error {}: {}{cause}", e.code, e.message))
}

// ---------------------------------------------------------------------------------------------
// The tree, parsed as it arrives: every node goes to a callback; no children are kept.

type Emit<'a> = dyn FnMut(Node) -> std::result::Result<(), String> + 'a;

/// `{"action":"get","node":{...}}`.
struct Answered<'e, 'a>(&'e mut Emit<'a>);

impl<'de> DeserializeSeed<'de> for Answered<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Answered<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a v2 GET answer")
    }
    fn visit_map<M: MapAccess<'de>>(self, mut m: M) -> std::result::Result<(), M::Error> {
        let emit = self.0;
        while let Some(k) = m.next_key::<String>()? {
            if k == "node" {
                m.next_value_seed(NodeSeed(&mut *emit))?;
            } else {
                m.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

struct NodeSeed<'e, 'a>(&'e mut Emit<'a>);

impl<'de> DeserializeSeed<'de> for NodeSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for NodeSeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a v2 node")
    }
    fn visit_map<M: MapAccess<'de>>(self, mut m: M) -> std::result::Result<(), M::Error> {
        let emit = self.0;
        let mut n = Node::default();
        while let Some(k) = m.next_key::<String>()? {
            match k.as_str() {
                "key" => n.key = m.next_value()?,
                "value" => n.value = Some(m.next_value()?),
                "dir" => n.dir = m.next_value()?,
                "createdIndex" => n.created = m.next_value()?,
                "modifiedIndex" => n.modified = m.next_value()?,
                "ttl" => n.ttl = Some(m.next_value()?),
                "expiration" => n.expiration = Some(m.next_value()?),
                "nodes" => m.next_value_seed(NodesSeed(&mut *emit))?,
                _ => {
                    m.next_value::<IgnoredAny>()?;
                }
            }
        }
        emit(n).map_err(M::Error::custom)
    }
}

struct NodesSeed<'e, 'a>(&'e mut Emit<'a>);

impl<'de> DeserializeSeed<'de> for NodesSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for NodesSeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a list of v2 nodes")
    }
    fn visit_seq<S: SeqAccess<'de>>(self, mut s: S) -> std::result::Result<(), S::Error> {
        let emit = self.0;
        while s.next_element_seed(NodeSeed(&mut *emit))?.is_some() {}
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tree_is_parsed_node_by_node() {
        let body = r#"{"action":"get","node":{"key":"/a","dir":true,"nodes":[
            {"key":"/a/b","value":"1","modifiedIndex":5,"createdIndex":4},
            {"key":"/a/d","dir":true,"expiration":"2026-12-01T10:00:00.5Z","ttl":30,"nodes":[
                {"key":"/a/d/e","value":"x\u00e9","modifiedIndex":7,"createdIndex":7}],"modifiedIndex":6,"createdIndex":6}
            ],"modifiedIndex":3,"createdIndex":3}}"#;
        let mut seen = Vec::new();
        let mut emit = |n: Node| -> std::result::Result<(), String> {
            seen.push(n);
            Ok(())
        };
        let mut de = serde_json::Deserializer::from_str(body);
        Answered(&mut emit).deserialize(&mut de).unwrap();
        let keys: Vec<&str> = seen.iter().map(|n| n.key.as_str()).collect();
        assert_eq!(keys, ["/a/b", "/a/d/e", "/a/d", "/a"]);
        let (r, l) = seen[2].record();
        assert_eq!(r.key, b"/a/d/");
        assert_eq!((r.create_revision, r.mod_revision, r.value.len()), (6, 6, 0));
        let l = l.unwrap();
        assert_eq!((l.ttl, r.lease), (30, 1_796_119_200));
        assert_eq!(l.id, lease_hex(1_796_119_200));
        assert_eq!(seen[1].record().0.value, "xé".as_bytes());
        assert_eq!(key_path("/a b/ü:"), "/a%20b/%C3%BC%3A");
    }
}
