//! The reshifter stream: NDJSON, one JSON object per line, specified in docs/FORMAT.md.
//!
//! ```text
//! {"type":"header","format":2,...}                       line 1, exactly once
//! {"key":"/registry/...","create_revision":..,"value_b64":"..."}   one line per key, sorted
//! {"type":"trailer","count":N,"bytes":B,"sha256":"..","meta_sha256":"..","header_sha256":".."}
//! ```
//!
//! Records never carry a `type` field, so `jq 'select(.type or ...)'` keeps header and trailer.
//! This crate is the only place that reads or writes the format. Beside it live what every tool
//! needs and nothing heavy: typed errors and the exit-code table ([`error`]), inputs and outputs
//! ([`io`]), signals ([`signals`]), the parallel reader ([`parallel`]), the external sort ([`sort`]),
//! progress and summaries ([`report`]) and the composition of sources and sinks ([`pipeline`]).
//! No etcd client, no AWS SDK, no protoc.

pub mod error;
pub mod io;
pub mod json;
pub mod parallel;
pub mod pipeline;
pub mod redact;
pub mod report;
pub mod signals;
pub mod sort;
pub mod units;

pub use error::{Error, Kind, Result};

pub mod delta;
mod digest;
pub mod files;
pub mod framed;
mod read;
mod write;

pub use digest::{Digests, Frame};
pub use read::*;
pub use write::*;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// The stream format version this build writes and the newest it reads (it reads 1 too).
pub const FORMAT_VERSION: u32 = 2;

/// The largest value a tool accepts from its input (etcd-dump reads responses of up to 64 MiB).
pub const MAX_VALUE: usize = 64 << 20;

/// The longest line a reader accepts: a record holding a [`MAX_VALUE`] value in base64.
pub const MAX_LINE: usize = 96 << 20;

/// One key of the keyspace with its etcd metadata.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Record {
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    pub create_revision: i64,
    pub mod_revision: i64,
    pub version: i64,
    /// The etcd lease id the key was attached to, 0 for none.
    pub lease: i64,
}

impl Record {
    /// `[create_revision, mod_revision, version, lease]`: what the meta digest covers.
    pub fn revs(&self) -> [i64; 4] {
        [self.create_revision, self.mod_revision, self.version, self.lease]
    }

    /// Its metadata, the value's SHA-256 given.
    pub fn meta_with(&self, sha256: [u8; 32]) -> RecordMeta {
        RecordMeta {
            key: self.key.clone(),
            sha256,
            len: self.value.len(),
            create_revision: self.create_revision,
            mod_revision: self.mod_revision,
            version: self.version,
            lease: self.lease,
        }
    }

    /// Its metadata (hashing the value).
    pub fn meta(&self) -> RecordMeta {
        self.meta_with(value_sha256(&self.value))
    }
}

/// A record without its value: what digests, order checks, manifests, archive entries and
/// statistics need. The one type for a record known by its metadata.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RecordMeta {
    pub key: Vec<u8>,
    /// SHA-256 of the value (zero where a light check does not hash).
    pub sha256: [u8; 32],
    /// Length of the value in bytes.
    pub len: usize,
    pub create_revision: i64,
    pub mod_revision: i64,
    pub version: i64,
    /// The etcd lease id, 0 for none.
    pub lease: i64,
}

impl RecordMeta {
    /// `[create_revision, mod_revision, version, lease]`: what the meta digest covers.
    pub fn revs(&self) -> [i64; 4] {
        [self.create_revision, self.mod_revision, self.version, self.lease]
    }

    /// With revisions `[create_revision, mod_revision, version, lease]`.
    pub fn with_revs(mut self, [c, m, v, l]: [i64; 4]) -> Self {
        (self.create_revision, self.mod_revision, self.version, self.lease) = (c, m, v, l);
        self
    }

    /// The same metadata for another key.
    pub fn rekeyed(&self, key: Vec<u8>) -> RecordMeta {
        let [create_revision, mod_revision, version, lease] = self.revs();
        RecordMeta { key, sha256: self.sha256, len: self.len, create_revision, mod_revision, version, lease }
    }

    /// The record of `key` and `value` with these revisions and lease.
    pub fn record(&self, key: Vec<u8>, value: Vec<u8>) -> Record {
        Record {
            key,
            value,
            create_revision: self.create_revision,
            mod_revision: self.mod_revision,
            version: self.version,
            lease: self.lease,
        }
    }
}

/// A lease seen at dump time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// Lease id, 16 hex digits as etcdctl prints it (readers accept 1 to 16 hex digits, either case).
    pub id: String,
    /// Seconds the lease had left when the dump started.
    pub ttl: i64,
    /// The TTL the lease was granted with.
    pub granted_ttl: i64,
}

impl Lease {
    /// The id as a number (the header was validated when read, so it parses).
    pub fn id_num(&self) -> i64 {
        parse_lease(&self.id).unwrap_or(0)
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// What a stream holds: a keyspace (records, one per key, in key order) or changes to one
/// (events, in revision order: docs/FORMAT.md, "Delta streams").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StreamKind {
    /// A keyspace at one revision (etcd-dump and every tool that rewrites one). Not written.
    #[default]
    Full,
    /// Every change under the prefixes after `revision` (etcd-watch).
    Delta,
    /// A node's files under a root: one line per file, directory or symlink (node-dump;
    /// docs/FORMAT.md, "Files streams").
    Files,
}

impl StreamKind {
    fn is_full(&self) -> bool {
        *self == StreamKind::Full
    }
}

/// Which of etcd's data models a stream holds (docs/FORMAT.md, "etcd v2 streams").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Api {
    /// etcd's v3 keyspace (flat keys, revisions, leases). Not written.
    #[default]
    V3,
    /// etcd's v2 keyspace: directories (records whose key ends in `/`), TTLs (as leases named
    /// by their expiration), created and modified indexes.
    V2,
}

impl Api {
    fn is_v3(&self) -> bool {
        *self == Api::V3
    }
}

/// True for the record of a v2 directory: its key ends in `/`, its value is empty.
pub fn is_v2_dir(r: &Record) -> bool {
    r.key.last() == Some(&b'/') && r.value.is_empty()
}

/// First line of every stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    #[serde(rename = "type")]
    pub line_type: String,
    pub format: u32,
    /// `"delta"` for a stream of changes (etcd-watch); absent for a keyspace.
    #[serde(default, skip_serializing_if = "StreamKind::is_full")]
    pub kind: StreamKind,
    /// `"v2"` for a stream of an etcd v2 keyspace; absent for v3.
    #[serde(default, skip_serializing_if = "Api::is_v3")]
    pub api: Api,
    /// The tool (and version) that produced the stream.
    pub tool: String,
    /// When the stream was produced, RFC 3339 UTC.
    pub time: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub endpoints: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etcd_version: Option<String>,
    /// The etcd revision every record was read at; 0 when the stream does not come from one.
    #[serde(default)]
    pub revision: i64,
    /// Every record's key starts with one of these; `[""]` (or none) is the whole keyspace.
    #[serde(default)]
    pub prefixes: Vec<String>,
    /// True when records are in strictly ascending key order (byte order): always, in format 2.
    #[serde(default)]
    pub sorted: bool,
    /// Format 2: the stream holds every key that existed under `prefixes` at `revision`, so
    /// `etcd-load --mode sync` may delete what it lacks there. Covered by the trailer.
    #[serde(default, skip_serializing_if = "is_false")]
    pub complete: bool,
    /// Leases alive at dump time, with their remaining TTL.
    #[serde(default)]
    pub leases: Vec<Lease>,
    /// Transformations applied since the dump, oldest first (e.g. a kv-filter command line).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<String>,
    /// Files streams: the directory the paths are relative to, on the node they were read on
    /// (absolute). Covered by the trailer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<String>,
    /// Files streams: the layouts found under the root (`kubeadm`, `k3s`, `rke2`, `include`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layouts: Vec<String>,
    /// Files streams: the node's host name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Fields this version does not know are kept as they are.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Header {
    /// A header for a new stream produced by `tool` now: the whole keyspace, sorted, and not
    /// claimed complete (producers that can prove it say so).
    pub fn new(tool: &str) -> Self {
        Header {
            line_type: "header".into(),
            format: FORMAT_VERSION,
            kind: StreamKind::Full,
            api: Api::V3,
            tool: tool.to_string(),
            time: now_rfc3339(),
            endpoints: Vec::new(),
            cluster_id: None,
            member_id: None,
            etcd_version: None,
            revision: 0,
            prefixes: vec![String::new()],
            sorted: true,
            complete: false,
            leases: Vec::new(),
            history: Vec::new(),
            root: None,
            layouts: Vec::new(),
            host: None,
            extra: Default::default(),
        }
    }

    /// The TTL recorded for a lease id, if the header lists it (ids compared as numbers).
    pub fn lease_ttl(&self, lease: i64) -> Option<i64> {
        self.leases.iter().find(|l| l.id_num() == lease).map(|l| l.ttl)
    }

    /// The prefixes every key lies under; `[""]` when none are given.
    pub fn bounds(&self) -> Vec<String> {
        if self.prefixes.is_empty() { vec![String::new()] } else { self.prefixes.clone() }
    }

    /// True when the stream claims, under a digest, to hold every key under its prefixes: only
    /// format 2 can (format 1 had no digest over its header).
    pub fn claims_complete(&self) -> bool {
        self.format >= 2 && self.complete
    }

    /// The SHA-256 (hex) of the header's claims — format, revision, sorted, complete, prefixes,
    /// leases, cluster id — as the format-2 trailer's `header_sha256` covers them (FORMAT.md,
    /// "Header digest"). Informational fields (tool, time, endpoints, history ...) are not covered.
    pub fn claims_sha256(&self) -> String {
        fn put(h: &mut Sha256, b: &[u8]) {
            h.update((b.len() as u64).to_le_bytes());
            h.update(b);
        }
        let mut h = Sha256::new();
        put(&mut h, b"reshifter header claims");
        h.update(u64::from(self.format).to_le_bytes());
        h.update(self.revision.to_le_bytes());
        h.update([u8::from(self.sorted), u8::from(self.complete)]);
        let bounds = self.bounds();
        h.update((bounds.len() as u64).to_le_bytes());
        for p in &bounds {
            put(&mut h, p.as_bytes());
        }
        h.update((self.leases.len() as u64).to_le_bytes());
        for l in &self.leases {
            h.update(l.id_num().to_le_bytes());
            h.update(l.ttl.to_le_bytes());
            h.update(l.granted_ttl.to_le_bytes());
        }
        put(&mut h, self.cluster_id.as_deref().unwrap_or("").as_bytes());
        if self.kind == StreamKind::Delta {
            put(&mut h, b"delta");
        }
        if self.api == Api::V2 {
            put(&mut h, b"v2");
        }
        if self.kind == StreamKind::Files {
            put(&mut h, b"files");
            put(&mut h, self.root.as_deref().unwrap_or("").as_bytes());
        }
        hex::encode(h.finalize())
    }

    /// A keyspace reader's check: a delta stream is refused with what to do instead.
    pub fn require_full(&self) -> std::result::Result<(), String> {
        match self.kind {
            StreamKind::Full => Ok(()),
            StreamKind::Delta => Err(format!(
                "this is a delta stream (changes after revision {}, from etcd-watch), not a keyspace: \
                 kv-apply BASE DELTA... turns a full dump and its deltas into a stream this tool reads",
                self.revision
            )),
            StreamKind::Files => Err(format!(
                "this is a files stream (node-dump of {}), not a keyspace: node-load writes it into a directory, \
                 node-stats reports on it",
                self.root.as_deref().unwrap_or("a node")
            )),
        }
    }

    /// Check what a reader relies on before it reads a record.
    pub fn validate(&self) -> std::result::Result<(), String> {
        if self.format == 0 || self.format > FORMAT_VERSION {
            return Err(format!(
                "stream format {} is not supported (this tool reads formats 1 and {FORMAT_VERSION})",
                self.format
            ));
        }
        match self.kind {
            StreamKind::Full if self.format >= 2 && !self.sorted => {
                return Err("a format-2 header must say \"sorted\":true: format-2 streams are sorted by key".into());
            }
            StreamKind::Delta if self.format < 2 => {
                return Err("a delta stream must be format 2".into());
            }
            StreamKind::Delta if self.sorted => {
                return Err("a delta stream is in revision order: its header must not say \"sorted\":true".into());
            }
            StreamKind::Files if self.format < 2 || !self.sorted => {
                return Err("a files stream must be format 2 and say \"sorted\":true (paths in byte order)".into());
            }
            StreamKind::Files if !self.root.as_deref().is_some_and(|r| r.starts_with('/')) => {
                return Err("a files stream's header must give its root, an absolute path".into());
            }
            _ => {}
        }
        if self.revision < 0 {
            return Err("revision is negative".into());
        }
        for l in &self.leases {
            if parse_lease(&l.id).is_none() {
                return Err(format!("lease id {:?} is not 1 to 16 hex digits", l.id));
            }
        }
        if let Some(c) = &self.cluster_id
            && parse_lease(c).is_none()
        {
            return Err(format!("cluster_id {c:?} is not 1 to 16 hex digits"));
        }
        Ok(())
    }
}

/// The prefixes left when a stream under `bounds` is narrowed to keys under `requested`: each
/// requested prefix inside a bound, and each bound inside a requested prefix. Every one of them
/// lies within a bound, so a stream complete under `bounds` stays complete under them. Empty
/// when the two are disjoint (then no record can remain).
pub fn narrowed(bounds: &[String], requested: &[String]) -> Vec<String> {
    let bounds: Vec<String> = if bounds.is_empty() { vec![String::new()] } else { bounds.to_vec() };
    let mut out: Vec<String> = requested
        .iter()
        .filter(|r| bounds.iter().any(|b| r.starts_with(b.as_str())))
        .chain(bounds.iter().filter(|b| requested.iter().any(|r| b.starts_with(r.as_str()))))
        .cloned()
        .collect();
    out.sort();
    out.dedup();
    // Drop prefixes inside others.
    let mut kept: Vec<String> = Vec::new();
    for p in out {
        if !kept.last().is_some_and(|k| p.starts_with(k.as_str())) {
            kept.push(p);
        }
    }
    kept
}

/// A header for a stream derived from `input` by keeping only keys under `requested`: the
/// current format, the narrowed prefixes, and completeness kept only where it still holds.
pub fn narrowed_header(input: &Header, requested: &[String], history: String) -> Header {
    let mut h = input.clone();
    let n = narrowed(&input.bounds(), requested);
    h.complete = input.claims_complete() && !n.is_empty();
    h.prefixes = if n.is_empty() { requested.to_vec() } else { n };
    h.format = FORMAT_VERSION;
    h.sorted = true;
    h.history.push(history);
    h
}

/// Last line of every complete stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trailer {
    #[serde(rename = "type")]
    pub line_type: String,
    /// Number of records.
    pub count: u64,
    /// Sum of key and value lengths in bytes.
    pub bytes: u64,
    /// SHA-256 over keys and values (see FORMAT.md): equal for two identical keyspaces.
    pub sha256: String,
    /// SHA-256 over keys, revisions and leases.
    pub meta_sha256: String,
    /// Format 2: SHA-256 over the header's claims ([`Header::claims_sha256`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header_sha256: Option<String>,
    /// Delta streams: the last revision covered; every change up to it is in the stream.
    /// Covered by `meta_sha256`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_revision: Option<i64>,
    /// Delta streams: the leases the stream's puts name that were alive when it ended, with
    /// their TTL then. Covered by `meta_sha256`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub leases: Vec<Lease>,
    /// Delta streams: a read that proves which etcd history the stream belongs to, so that a
    /// watch resumed after it can check it continues the same history (`etcd-watch --resume`).
    /// Not covered by the digests: it is only ever used to refuse, never to trust.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchor: Option<Anchor>,
}

/// A key as etcd must still answer it at a revision: the last put a watch wrote (or, before
/// any, the first key of the watched range at the watch's start). An etcd rebuilt with the same
/// cluster id answers differently, or not at all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anchor {
    /// The revision to read at.
    pub revision: i64,
    /// The key, base64.
    pub key_b64: String,
    /// Its mod_revision at that revision.
    pub mod_revision: i64,
    /// SHA-256 of its value then, hex.
    pub sha256: String,
}

impl Anchor {
    /// The anchor of `r` as read at `revision`.
    pub fn of(r: &Record, revision: i64) -> Anchor {
        Anchor {
            revision,
            key_b64: base64_simd::STANDARD.encode_to_string(&r.key),
            mod_revision: r.mod_revision,
            sha256: hex::encode(value_sha256(&r.value)),
        }
    }

    /// True when etcd answers the anchor's key with this mod_revision and value.
    pub fn matches(&self, mod_revision: i64, value: &[u8]) -> bool {
        mod_revision == self.mod_revision && hex::encode(value_sha256(value)) == self.sha256
    }

    /// The key.
    pub fn key(&self) -> Option<Vec<u8>> {
        base64_simd::STANDARD.decode_to_vec(&self.key_b64).ok()
    }
}

/// SHA-256 of a value: the per-key checksum of archives and the unit of the content digest.
pub fn value_sha256(value: &[u8]) -> [u8; 32] {
    Sha256::digest(value).into()
}

/// RFC 3339 UTC time with seconds, e.g. `2026-11-23T18:04:05Z`.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// A lease id as etcdctl prints it: 16 lowercase hex digits.
pub fn lease_hex(lease: i64) -> String {
    format!("{:016x}", lease as u64)
}

/// A lease (or cluster) id of 1 to 16 hex digits, either case.
pub fn parse_lease(s: &str) -> Option<i64> {
    if s.is_empty() || s.len() > 16 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(s, 16).ok().map(|v| v as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{Kind, Result};

    fn rec(key: &[u8], value: &[u8]) -> Record {
        Record { key: key.to_vec(), value: value.to_vec(), create_revision: 2, mod_revision: 3, version: 1, lease: 0 }
    }

    fn write_stream(records: &[Record]) -> Vec<u8> {
        let mut h = Header::new("test");
        h.time = "2026-01-01T00:00:00Z".into();
        let mut w = StreamWriter::new(Vec::new(), &h).unwrap();
        for r in records {
            w.write(r).unwrap();
        }
        w.finish().unwrap().0
    }

    fn read_all(bytes: &[u8]) -> Result<Vec<Record>> {
        StreamReader::new(bytes)?.collect()
    }

    #[test]
    fn record_lines_are_exact() {
        let mut out = Vec::new();
        encode_record(&mut out, &Record { lease: 0x694d7a8c3e1f2a05, ..rec(b"/a\"b", b"v\n\x01") });
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"key\":\"/a\\\"b\",\"create_revision\":2,\"mod_revision\":3,\"version\":1,\"lease\":\"694d7a8c3e1f2a05\",\"value_b64\":\"dgoB\"}\n"
        );
        let mut out = Vec::new();
        encode_record(&mut out, &rec(b"\xff\x00", b"caf\xc3\xa9\t"));
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"key_b64\":\"/wA=\",\"create_revision\":2,\"mod_revision\":3,\"version\":1,\"value\":\"caf\u{e9}\\t\"}\n"
        );
    }

    #[test]
    fn round_trip_is_byte_exact() {
        let mut recs = vec![rec(b"/a", b""), rec(b"/b", b"k8s\x00\x0a\x0b"), rec(b"/c\xff", b"\xc3\x28")];
        recs.push(Record { lease: -5, ..rec(b"/d", &[0u8; 300]) });
        let bytes = write_stream(&recs);
        assert_eq!(read_all(&bytes).unwrap(), recs);
    }

    #[test]
    fn escaped_plain_strings_are_read() {
        let s = "{\"type\":\"header\",\"format\":1,\"tool\":\"x\",\"time\":\"t\"}\n{\"key\":\"/\\u0041\\n\",\"create_revision\":0,\"mod_revision\":0,\"version\":0,\"value\":\"\\u0000\"}\n";
        let mut r = StreamReader::new(s.as_bytes()).unwrap();
        let rec = r.next_record().unwrap().unwrap();
        assert_eq!(rec.key, b"/A\n");
        assert_eq!(rec.value, b"\0");
    }

    #[test]
    fn truncated_stream_is_an_error() {
        let bytes = write_stream(&[rec(b"/a", b"1"), rec(b"/b", b"2")]);
        let cut = bytes.iter().rposition(|&b| b == b'{').unwrap();
        let err = read_all(&bytes[..cut]).unwrap_err();
        assert_eq!(err.kind(), Kind::Truncated);
        assert_eq!(
            err.to_string(),
            "stream ended after 2 records without its trailer: the input is truncated or its producer failed"
        );
        let err = read_all(&bytes[..cut - 5]).unwrap_err();
        assert_eq!(err.to_string(), "line 3: stream ends in the middle of a line: the input is truncated");
        assert_eq!(read_all(b"").unwrap_err().kind(), Kind::Truncated);
    }

    /// The fast path for base64 values reads what the general path reads: a value before other
    /// fields, and the general path's own error for a value that is not base64.
    #[test]
    fn base64_values_read_the_same_on_both_paths() {
        let later = br#"{"key":"k","create_revision":1,"mod_revision":2,"version":1,"value_b64":"AAE=","lease":"00000000000000ff"}"#;
        for head in [None, Some(1)] {
            let (r, len) = crate::read::parse_record_head(later, head).unwrap();
            assert_eq!((r.lease, len, r.value[0]), (255, 2, 0), "{head:?}");
        }
        let bad = b"{\"key\":\"k\",\"create_revision\":1,\"mod_revision\":2,\"version\":1,\"value_b64\":\"AA\x01=\"}";
        assert_eq!(crate::read::parse_record(bad).unwrap_err(), "invalid JSON at column 76");
        assert_eq!(crate::read::parse_record_head(bad, Some(1)).unwrap_err(), "invalid JSON at column 76");
        let bad = br#"{"key":"k","create_revision":1,"mod_revision":2,"version":1,"value_b64":"A*E="}"#;
        assert_eq!(crate::read::parse_record(bad).unwrap_err(), "value_b64 is not base64");
    }

    #[test]
    fn bad_lines_say_where() {
        let good = String::from_utf8(write_stream(&[rec(b"/a", b"1")])).unwrap();
        let lines: Vec<&str> = good.lines().collect();
        let cases = [
            (
                "{\"key\":\"/b\",\"create_revision\":1,\"mod_revision\":1,\"version\":1,\"value_b64\":\"!!\"}",
                "line 3: value_b64 is not base64",
            ),
            (
                "{\"key\":\"/b\",\"mod_revision\":1,\"version\":1,\"value\":\"\"}",
                "line 3: missing field create_revision",
            ),
            (
                "{\"key\":\"/b\",\"create_revision\":1,\"mod_revision\":1,\"version\":1,\"value\":\"\",\"x\":1}",
                "line 3: unknown field x, expected one of key, key_b64, value, value_b64, create_revision, mod_revision, version, lease, object, object_sha256",
            ),
            ("{\"key\":\"/b\",", "line 3: invalid JSON: the line ends inside the object"),
            ("{\"key\":\"/b\" x}", "line 3: invalid JSON at column 13"),
            ("[1]", "line 3: not a JSON object"),
            ("{\"type\":\"footer\"}", "line 3: unknown line type \"footer\""),
            (
                "{\"create_revision\":1,\"mod_revision\":1,\"version\":1,\"value\":\"\"}",
                "line 3: record has no key (nor key_b64)",
            ),
        ];
        for (bad, msg) in cases {
            let s = format!("{}\n{}\n{}\n{}\n", lines[0], lines[1], bad, lines[2]);
            let err = read_all(s.as_bytes()).unwrap_err();
            assert_eq!(err.to_string(), msg, "for {bad}");
            assert_eq!(err.kind(), Kind::BadInput);
        }
    }

    #[test]
    fn altered_streams_fail_the_trailer() {
        let good = String::from_utf8(write_stream(&[rec(b"/a", b"1"), rec(b"/b", b"2")])).unwrap();
        let altered = good.replace("\"value\":\"2\"", "\"value\":\"3\"");
        let err = read_all(altered.as_bytes()).unwrap_err();
        assert_eq!(err.kind(), Kind::Integrity);
        let lines: Vec<&str> = good.lines().collect();
        let dropped = format!("{}\n{}\n{}\n", lines[0], lines[1], lines[3]);
        let err = read_all(dropped.as_bytes()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "line 3: the trailer counts 2 records but the stream held 1: records were lost or added"
        );
        let extra = format!("{good}{}\n", lines[3]);
        assert_eq!(read_all(extra.as_bytes()).unwrap_err().to_string(), "line 5: data after the trailer");
        let unsorted = format!("{}\n{}\n{}\n{}\n", lines[0], lines[2], lines[1], lines[3]);
        assert_eq!(
            read_all(unsorted.as_bytes()).unwrap_err().to_string(),
            "line 3: key is not greater than the previous key, but the header says the stream is sorted"
        );
    }

    #[test]
    fn narrowing() {
        let v = |x: &[&str]| x.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(narrowed(&v(&[""]), &v(&["/registry/pods/"])), v(&["/registry/pods/"]));
        assert_eq!(narrowed(&v(&["/registry/pods/"]), &v(&["/registry/"])), v(&["/registry/pods/"]));
        assert_eq!(narrowed(&v(&[]), &v(&["/a", "/a/b"])), v(&["/a"]));
        assert!(narrowed(&v(&["/a/"]), &v(&["/b/"])).is_empty());
        let mut h = Header::new("t");
        h.complete = true;
        h.prefixes = v(&["/a/"]);
        let n = narrowed_header(&h, &v(&["/b/"]), "x".into());
        assert_eq!((n.prefixes, n.complete), (v(&["/b/"]), false));
        let n = narrowed_header(&h, &v(&["/a/x"]), "x".into());
        assert_eq!((n.prefixes, n.complete), (v(&["/a/x"]), true));
        h.format = 1;
        assert!(!narrowed_header(&h, &v(&["/a/x"]), "x".into()).complete, "format 1 claims nothing");
    }

    #[test]
    fn plain_rule() {
        assert!(is_plain(b"/registry/pods/a"));
        assert!(is_plain(b"{\"a\":\n\t1}"));
        assert!(!is_plain(b"k8s\x00abc"));
        assert!(!is_plain(b"\xff"));
        assert!(is_plain(b""));
    }
}
