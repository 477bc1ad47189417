//! The reshifter stream: NDJSON, one JSON object per line, specified in docs/FORMAT.md.
//!
//! ```text
//! {"type":"header","format":1,...}                       line 1, exactly once
//! {"key":"/registry/...","create_revision":..,"value_b64":"..."}   one line per key
//! {"type":"trailer","count":N,"bytes":B,"sha256":"..","meta_sha256":".."}   last line
//! ```
//!
//! Records never carry a `type` field, so `jq 'select(.type or ...)'` keeps header and trailer.
//! This module is the only place that reads or writes the format.

use std::borrow::Cow;
use std::io::{BufRead, Write};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::error::{Error, Kind, Result};

/// The stream format version this build writes and the newest it reads.
pub const FORMAT_VERSION: u32 = 1;

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
}

/// A lease seen at dump time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// Lease id, 16 hex digits as etcdctl prints it.
    pub id: String,
    /// Seconds the lease had left when the dump started.
    pub ttl: i64,
    /// The TTL the lease was granted with.
    pub granted_ttl: i64,
}

/// First line of every stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    #[serde(rename = "type")]
    pub line_type: String,
    pub format: u32,
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
    /// Key prefixes the stream covers; `[""]` is the whole keyspace.
    #[serde(default)]
    pub prefixes: Vec<String>,
    /// True when records are in strictly ascending key order (byte order).
    #[serde(default)]
    pub sorted: bool,
    /// Leases alive at dump time, with their remaining TTL.
    #[serde(default)]
    pub leases: Vec<Lease>,
    /// Transformations applied since the dump, oldest first (e.g. a kv-filter command line).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<String>,
    /// Fields this version does not know are kept as they are.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Header {
    /// A header for a new stream produced by `tool` now.
    pub fn new(tool: &str) -> Self {
        Header {
            line_type: "header".into(),
            format: FORMAT_VERSION,
            tool: tool.to_string(),
            time: now_rfc3339(),
            endpoints: Vec::new(),
            cluster_id: None,
            member_id: None,
            etcd_version: None,
            revision: 0,
            prefixes: vec![String::new()],
            sorted: true,
            leases: Vec::new(),
            history: Vec::new(),
            extra: Default::default(),
        }
    }

    /// The TTL recorded for a lease id, if the header lists it.
    pub fn lease_ttl(&self, lease: i64) -> Option<i64> {
        let id = lease_hex(lease);
        self.leases.iter().find(|l| l.id == id).map(|l| l.ttl)
    }
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

fn parse_lease(s: &str) -> Option<i64> {
    if s.is_empty() || s.len() > 16 {
        return None;
    }
    u64::from_str_radix(s, 16).ok().map(|v| v as i64)
}

/// The two running digests of a stream (see FORMAT.md, "Digests").
#[derive(Clone, Default)]
pub struct Digests {
    content: Sha256,
    meta: Sha256,
    count: u64,
    bytes: u64,
}

impl Digests {
    pub fn update(&mut self, r: &Record) {
        let h = value_sha256(&r.value);
        self.update_hashed(&r.key, &h, r.value.len(), r.revs());
    }

    pub fn update_parts(&mut self, key: &[u8], value: &[u8], create: i64, modr: i64, version: i64, lease: i64) {
        self.update_hashed(key, &value_sha256(value), value.len(), [create, modr, version, lease]);
    }

    /// Update with the value's SHA-256 already computed (`value_len` is its length) and the
    /// record's [`Record::revs`].
    pub fn update_hashed(&mut self, key: &[u8], value_hash: &[u8; 32], value_len: usize, revs: [i64; 4]) {
        self.content.update((key.len() as u64).to_le_bytes());
        self.content.update(key);
        self.content.update(value_hash);
        self.meta.update((key.len() as u64).to_le_bytes());
        self.meta.update(key);
        for n in revs {
            self.meta.update(n.to_le_bytes());
        }
        self.count += 1;
        self.bytes += (key.len() + value_len) as u64;
    }

    /// Count a record without hashing it (for a light check: count and bytes only).
    pub fn update_counts(&mut self, key_len: usize, value_len: usize) {
        self.count += 1;
        self.bytes += (key_len + value_len) as u64;
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    pub fn trailer(&self) -> Trailer {
        Trailer {
            line_type: "trailer".into(),
            count: self.count,
            bytes: self.bytes,
            sha256: hex::encode(self.content.clone().finalize()),
            meta_sha256: hex::encode(self.meta.clone().finalize()),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Writing

/// True when `bytes` go into a plain JSON string: valid UTF-8 without control characters other
/// than tab, newline and carriage return. Everything else is written as base64.
pub fn is_plain(bytes: &[u8]) -> bool {
    !bytes.iter().any(|&b| b < 0x20 && b != b'\t' && b != b'\n' && b != b'\r') && std::str::from_utf8(bytes).is_ok()
}

/// Append `s` as a JSON string literal (quotes included). `s` must be valid UTF-8.
pub fn push_json_str(out: &mut Vec<u8>, s: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let mut start = 0;
    for (i, &b) in s.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => {
                out.extend_from_slice(&s[start..i]);
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(b >> 4) as usize]);
                out.push(HEX[(b & 15) as usize]);
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&s[start..i]);
        out.extend_from_slice(esc);
        start = i + 1;
    }
    out.extend_from_slice(&s[start..]);
    out.push(b'"');
}

fn push_b64(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'"');
    base64_simd::STANDARD.encode_append(bytes, out);
    out.push(b'"');
}

/// Append `"name":<bytes as string or base64>` choosing `name` or `name_b64`.
pub fn push_bytes_field(out: &mut Vec<u8>, name: &str, bytes: &[u8]) {
    out.push(b'"');
    out.extend_from_slice(name.as_bytes());
    if is_plain(bytes) {
        out.extend_from_slice(b"\":");
        push_json_str(out, bytes);
    } else {
        out.extend_from_slice(b"_b64\":");
        push_b64(out, bytes);
    }
}

fn push_int(out: &mut Vec<u8>, n: i64) {
    // Writing to a Vec cannot fail.
    let _ = write!(out, "{n}");
}

/// Encode one record as a line (newline included) into `out`.
pub fn encode_record_parts(
    out: &mut Vec<u8>,
    key: &[u8],
    value: &[u8],
    create: i64,
    modr: i64,
    version: i64,
    lease: i64,
) {
    out.push(b'{');
    push_bytes_field(out, "key", key);
    out.extend_from_slice(b",\"create_revision\":");
    push_int(out, create);
    out.extend_from_slice(b",\"mod_revision\":");
    push_int(out, modr);
    out.extend_from_slice(b",\"version\":");
    push_int(out, version);
    if lease != 0 {
        out.extend_from_slice(b",\"lease\":\"");
        out.extend_from_slice(lease_hex(lease).as_bytes());
        out.push(b'"');
    }
    out.push(b',');
    push_bytes_field(out, "value", value);
    out.extend_from_slice(b"}\n");
}

/// Encode one record as a line (newline included) into `out`.
pub fn encode_record(out: &mut Vec<u8>, r: &Record) {
    encode_record_parts(out, &r.key, &r.value, r.create_revision, r.mod_revision, r.version, r.lease);
}

/// Writes a stream: the header on creation, records, and the trailer on [`StreamWriter::finish`].
/// Dropping a writer without `finish` leaves the stream without trailer: incomplete, as it should
/// be when the producer failed.
pub struct StreamWriter<W: Write> {
    out: W,
    buf: Vec<u8>,
    digests: Digests,
}

impl<W: Write> StreamWriter<W> {
    pub fn new(mut out: W, header: &Header) -> std::io::Result<Self> {
        let mut line = serde_json::to_vec(header).map_err(std::io::Error::other)?;
        line.push(b'\n');
        out.write_all(&line)?;
        Ok(StreamWriter { out, buf: Vec::with_capacity(64 * 1024), digests: Digests::default() })
    }

    /// Start a stream with a header line given verbatim (it must be a valid header).
    pub fn with_header_line(mut out: W, line: &[u8]) -> std::io::Result<Self> {
        out.write_all(line)?;
        out.write_all(b"\n")?;
        Ok(StreamWriter { out, buf: Vec::with_capacity(64 * 1024), digests: Digests::default() })
    }

    pub fn write(&mut self, r: &Record) -> std::io::Result<()> {
        self.write_parts(&r.key, &r.value, r.create_revision, r.mod_revision, r.version, r.lease)
    }

    pub fn write_parts(
        &mut self,
        key: &[u8],
        value: &[u8],
        create: i64,
        modr: i64,
        version: i64,
        lease: i64,
    ) -> std::io::Result<()> {
        self.digests.update_parts(key, value, create, modr, version, lease);
        encode_record_parts(&mut self.buf, key, value, create, modr, version, lease);
        if self.buf.len() >= 64 * 1024 {
            self.out.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    /// Write a record line as it is (it must encode `r`), with the value's SHA-256 known.
    pub fn write_line_hashed(&mut self, line: &[u8], r: &Record, value_hash: &[u8; 32]) -> std::io::Result<()> {
        self.write_line_meta(line, &r.key, value_hash, r.value.len(), r.revs())
    }

    /// Write a record line as it is, given the record's key, value hash and length, and
    /// `[create_revision, mod_revision, version, lease]`.
    pub fn write_line_meta(
        &mut self,
        line: &[u8],
        key: &[u8],
        value_hash: &[u8; 32],
        value_len: usize,
        revs: [i64; 4],
    ) -> std::io::Result<()> {
        self.digests.update_hashed(key, value_hash, value_len, revs);
        self.buf.extend_from_slice(line);
        self.buf.push(b'\n');
        if self.buf.len() >= 64 * 1024 {
            self.out.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    pub fn count(&self) -> u64 {
        self.digests.count()
    }

    pub fn bytes(&self) -> u64 {
        self.digests.bytes()
    }

    /// Write the trailer, flush, and hand back the output and the trailer written.
    pub fn finish(mut self) -> std::io::Result<(W, Trailer)> {
        let trailer = self.digests.trailer();
        self.out.write_all(&self.buf)?;
        let mut line = serde_json::to_vec(&trailer).map_err(std::io::Error::other)?;
        line.push(b'\n');
        self.out.write_all(&line)?;
        self.out.flush()?;
        Ok((self.out, trailer))
    }
}

// ---------------------------------------------------------------------------------------------
// Reading

/// A string that borrows from the line when it has no escapes.
struct Str<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> std::result::Result<Self::Value, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> std::result::Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> std::result::Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRecord<'a> {
    #[serde(borrow, default)]
    key: Option<Str<'a>>,
    #[serde(borrow, default)]
    key_b64: Option<Str<'a>>,
    #[serde(borrow, default)]
    value: Option<Str<'a>>,
    #[serde(borrow, default)]
    value_b64: Option<Str<'a>>,
    create_revision: i64,
    mod_revision: i64,
    version: i64,
    #[serde(borrow, default)]
    lease: Option<Str<'a>>,
}

fn bytes_field(plain: Option<Str>, b64: Option<Str>, name: &str) -> std::result::Result<Vec<u8>, String> {
    match (plain, b64) {
        (Some(s), None) => Ok(s.0.into_owned().into_bytes()),
        (None, Some(s)) => {
            base64_simd::STANDARD.decode_to_vec(s.0.as_bytes()).map_err(|_| format!("{name}_b64 is not base64"))
        }
        (Some(_), Some(_)) => Err(format!("record has both {name} and {name}_b64")),
        (None, None) => Err(format!("record has no {name} (nor {name}_b64)")),
    }
}

/// Parse one record line (without checking order or digests). `Err` is the message, without the
/// line number.
pub fn parse_record(line: &[u8]) -> std::result::Result<Record, String> {
    parse_record_head(line, None).map(|(r, _)| r)
}

/// Fast path for [`parse_record_head`] with a head: lines laid out exactly as our writer lays
/// them out with a base64 value, whose value then needs no JSON scanning (it runs to the `"}` at
/// the end of the line). `None` when the line is laid out otherwise.
fn parse_canonical_b64(line: &[u8], n: usize) -> Option<std::result::Result<(Record, usize), String>> {
    let body = line.strip_suffix(b"\"}")?;
    // A quote inside a JSON string is escaped, so the first match is the field itself.
    let at = memchr::memmem::find(body, b",\"value_b64\":\"")?;
    let b64 = &body[at + 14..];
    // Everything before the value, closed as an object, goes through serde: it is short.
    let mut front = Vec::with_capacity(at + 16);
    front.extend_from_slice(&body[..at]);
    front.extend_from_slice(b",\"value\":\"\"}");
    let (mut r, _) = match parse_record_head_serde(&front, None) {
        Ok(x) => x,
        Err(_) => return None,
    };
    let e = base64_simd::STANDARD;
    let checked = e.decoded_length(b64).and_then(|len| e.check(b64).map(|()| len));
    let Ok(len) = checked else { return Some(Err("value_b64 is not base64".into())) };
    let take = (n.div_ceil(3) * 4).min(b64.len());
    match e.decode_to_vec(&b64[..take]) {
        Ok(mut v) => {
            v.truncate(n);
            r.value = v;
            Some(Ok((r, len)))
        }
        Err(_) => Some(Err("value_b64 is not base64".into())),
    }
}

/// Like [`parse_record`]; with `head = Some(n)` the value is checked but only its first `n` bytes
/// are decoded into the record. Returns the full value length too.
pub fn parse_record_head(line: &[u8], head: Option<usize>) -> std::result::Result<(Record, usize), String> {
    if let Some(n) = head
        && let Some(r) = parse_canonical_b64(line, n)
    {
        return r;
    }
    parse_record_head_serde(line, head)
}

fn parse_record_head_serde(line: &[u8], head: Option<usize>) -> std::result::Result<(Record, usize), String> {
    if line.first() != Some(&b'{') {
        return Err("not a JSON object".into());
    }
    let raw: RawRecord = serde_json::from_slice(line).map_err(json_error_text)?;
    let key = bytes_field(raw.key, raw.key_b64, "key")?;
    if key.is_empty() {
        return Err("key is empty (etcd does not allow empty keys)".into());
    }
    let (value, value_len) = match (head, raw.value_b64) {
        (Some(n), Some(b64)) if raw.value.is_none() => {
            let b = b64.0.as_bytes();
            let b64e = base64_simd::STANDARD;
            let len = b64e.decoded_length(b).map_err(|_| "value_b64 is not base64".to_string())?;
            b64e.check(b).map_err(|_| "value_b64 is not base64".to_string())?;
            let take = (n.div_ceil(3) * 4).min(b.len());
            let mut v = b64e.decode_to_vec(&b[..take]).map_err(|_| "value_b64 is not base64".to_string())?;
            v.truncate(n);
            (v, len)
        }
        (_, b64) => {
            let v = bytes_field(raw.value, b64, "value")?;
            let len = v.len();
            (v, len)
        }
    };
    let lease = match raw.lease {
        None => 0,
        Some(s) => parse_lease(&s.0).ok_or("lease is not a lease id of up to 16 hex digits")?,
    };
    for (name, n) in
        [("create_revision", raw.create_revision), ("mod_revision", raw.mod_revision), ("version", raw.version)]
    {
        if n < 0 {
            return Err(format!("{name} is negative"));
        }
    }
    let r = Record {
        key,
        value,
        create_revision: raw.create_revision,
        mod_revision: raw.mod_revision,
        version: raw.version,
        lease,
    };
    Ok((r, value_len))
}

fn json_error_text(e: serde_json::Error) -> String {
    if e.is_syntax() || e.is_eof() {
        if e.is_eof() {
            return "invalid JSON: the line ends inside the object".into();
        }
        return format!("invalid JSON at column {}", e.column());
    }
    // serde's data errors read "missing field `x` at line 1 column 5": keep the first part.
    let text = e.to_string();
    match text.find(" at line ") {
        Some(i) => text[..i].replace('`', ""),
        None => text,
    }
}

/// What a line of a stream is, judged from its `type` field.
enum Special {
    Header(Box<Header>),
    Trailer(Trailer),
}

fn parse_special(line: &[u8]) -> Option<std::result::Result<Special, String>> {
    let v: serde_json::Value = serde_json::from_slice(line).ok()?;
    let t = v.get("type")?;
    Some(match t.as_str() {
        Some("header") => serde_json::from_value::<Header>(v)
            .map(|h| Special::Header(Box::new(h)))
            .map_err(|e| format!("bad header: {e}")),
        Some("trailer") => {
            serde_json::from_value::<Trailer>(v).map(Special::Trailer).map_err(|e| format!("bad trailer: {e}"))
        }
        _ => Err(format!("unknown line type {t}")),
    })
}

/// How strictly a reader checks the trailer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    /// Count and both digests must match (the default).
    Full,
    /// The trailer must be present, its numbers are not checked (for re-sealing after jq).
    PresenceOnly,
    /// Count and byte total must match; values are checked to be base64 but not decoded or
    /// hashed (for fast read-only reports: kv-stats).
    Light,
}

/// One line of a stream after the header, parsed without context.
pub enum Line {
    Record(Record),
    Trailer(Trailer),
}

/// Parse one line after the header. `complete` tells whether it ended with a newline.
pub fn parse_line(line: &[u8], line_no: u64, complete: bool) -> Result<Line> {
    parse_line_head(line, line_no, complete, None).map(|(l, _)| l)
}

/// [`parse_line`], decoding only the first `head` bytes of values when given; also returns the
/// value length of a record.
pub fn parse_line_head(line: &[u8], line_no: u64, complete: bool, head: Option<usize>) -> Result<(Line, usize)> {
    if line.is_empty() {
        return Err(Error::bad_line(line_no, "empty line"));
    }
    let cut = || {
        Error::new(
            Kind::Truncated,
            format!("line {line_no}: stream ends in the middle of a line: the input is truncated"),
        )
    };
    match parse_record_head(line, head) {
        Ok((rec, len)) if complete => Ok((Line::Record(rec), len)),
        Ok(_) => Err(cut()),
        Err(record_err) => match parse_special(line) {
            Some(Ok(Special::Trailer(t))) => Ok((Line::Trailer(t), 0)),
            Some(Ok(Special::Header(_))) => {
                Err(Error::bad_line(line_no, "a second header: streams cannot be concatenated"))
            }
            Some(Err(e)) => Err(Error::bad_line(line_no, e)),
            None if !complete => Err(cut()),
            None => Err(Error::bad_line(line_no, record_err)),
        },
    }
}

/// The checks that need the records in order: key order (when the header says sorted), the
/// digests, and the trailer against them.
pub struct Checker {
    digests: Digests,
    prev_key: Option<Vec<u8>>,
    verify: Verify,
}

impl Checker {
    pub fn new(header: &Header, verify: Verify) -> Self {
        Checker { digests: Digests::default(), prev_key: header.sorted.then(Vec::new), verify }
    }

    /// Account for a record (its value given by length and SHA-256, and its [`Record::revs`]).
    pub fn record(
        &mut self,
        line_no: u64,
        key: &[u8],
        value_hash: &[u8; 32],
        value_len: usize,
        revs: [i64; 4],
    ) -> Result<()> {
        if let Some(prev) = &mut self.prev_key {
            if self.digests.count() > 0 && key <= prev.as_slice() {
                return Err(Error::bad_line(
                    line_no,
                    "key is not greater than the previous key, but the header says the stream is sorted",
                ));
            }
            prev.clear();
            prev.extend_from_slice(key);
        }
        if self.verify == Verify::Light {
            // Only count and bytes are compared with the trailer: no digests to build.
            self.digests.update_counts(key.len(), value_len);
        } else {
            self.digests.update_hashed(key, value_hash, value_len, revs);
        }
        Ok(())
    }

    /// Check the trailer against the records seen.
    pub fn trailer(&self, t: &Trailer, line_no: u64) -> Result<()> {
        if self.verify == Verify::PresenceOnly {
            return Ok(());
        }
        let mine = self.digests.trailer();
        if self.verify == Verify::Light && t.count == mine.count && t.bytes == mine.bytes {
            return Ok(());
        }
        if t.count != mine.count {
            return Err(Error::new(
                Kind::Integrity,
                format!(
                    "line {line_no}: the trailer counts {} records but the stream held {}: records were lost or added",
                    t.count, mine.count
                ),
            ));
        }
        if t.sha256 != mine.sha256 || t.meta_sha256 != mine.meta_sha256 || t.bytes != mine.bytes {
            return Err(Error::new(
                Kind::Integrity,
                format!(
                    "line {line_no}: the stream's digest does not match its trailer: records were altered (after jq, re-seal with kv-seal)"
                ),
            ));
        }
        Ok(())
    }

    /// The error for input that ended before its trailer.
    pub fn truncated(&self) -> Error {
        Error::new(
            Kind::Truncated,
            format!(
                "stream ended after {} records without its trailer: the input is truncated or its producer failed",
                self.digests.count()
            ),
        )
    }

    pub fn digests(&self) -> &Digests {
        &self.digests
    }
}

/// Read the header line of a stream: its raw bytes and the parsed header.
pub fn read_header<R: BufRead>(input: &mut R) -> Result<(Vec<u8>, Header)> {
    let mut buf = Vec::new();
    let n = input.read_until(b'\n', &mut buf)?;
    if n == 0 {
        return Err(Error::new(Kind::Truncated, "empty input: no stream header (is the producer failing?)"));
    }
    let line = trim_newline(&buf).to_vec();
    let header = match parse_special(&line) {
        Some(Ok(Special::Header(h))) => *h,
        Some(Err(e)) => return Err(Error::bad_line(1, e)),
        _ => {
            return Err(Error::bad_line(
                1,
                "not a reshifter stream: the first line must be the header {\"type\":\"header\",...}",
            ));
        }
    };
    if header.format > FORMAT_VERSION || header.format == 0 {
        return Err(Error::bad_line(
            1,
            format!("stream format {} is not supported (this tool reads format {FORMAT_VERSION})", header.format),
        ));
    }
    Ok((line, header))
}

/// Reads and validates a stream. Yields records; a truncated, malformed or altered stream yields
/// an error instead of its end. Holds one line at a time.
pub struct StreamReader<R: BufRead> {
    input: R,
    line_no: u64,
    buf: Vec<u8>,
    header: Header,
    header_line: Vec<u8>,
    checker: Checker,
    trailer: Option<Trailer>,
    failed: bool,
}

impl<R: BufRead> StreamReader<R> {
    /// Read and check the header.
    pub fn new(input: R) -> Result<Self> {
        Self::with_verify(input, Verify::Full)
    }

    pub fn with_verify(mut input: R, verify: Verify) -> Result<Self> {
        let (header_line, header) = read_header(&mut input)?;
        let checker = Checker::new(&header, verify);
        Ok(StreamReader {
            input,
            line_no: 1,
            buf: Vec::with_capacity(64 * 1024),
            header,
            header_line,
            checker,
            trailer: None,
            failed: false,
        })
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The header line exactly as read (without its newline).
    pub fn header_line(&self) -> &[u8] {
        &self.header_line
    }

    /// The digests of the records read so far.
    pub fn digests(&self) -> &Digests {
        self.checker.digests()
    }

    /// The trailer, once the stream has been read to its end.
    pub fn trailer(&self) -> Option<&Trailer> {
        self.trailer.as_ref()
    }

    /// The last record line exactly as read (without its newline).
    pub fn last_line(&self) -> &[u8] {
        trim_newline(&self.buf)
    }

    /// Line number of the last line read.
    pub fn line(&self) -> u64 {
        self.line_no
    }

    /// Records read so far.
    pub fn records_read(&self) -> u64 {
        self.checker.digests().count()
    }

    /// Next record; `Ok(None)` after a valid trailer.
    pub fn next_record(&mut self) -> Result<Option<Record>> {
        Ok(self.next_record_hashed()?.map(|(r, _)| r))
    }

    /// Next record with the SHA-256 of its value (computed for the digest anyway).
    pub fn next_record_hashed(&mut self) -> Result<Option<(Record, [u8; 32])>> {
        if self.trailer.is_some() || self.failed {
            return Ok(None);
        }
        let r = self.read_line();
        if r.is_err() {
            self.failed = true;
        }
        r
    }

    fn read_line(&mut self) -> Result<Option<(Record, [u8; 32])>> {
        self.buf.clear();
        if self.input.read_until(b'\n', &mut self.buf)? == 0 {
            return Err(self.checker.truncated());
        }
        self.line_no += 1;
        let complete = self.buf.last() == Some(&b'\n');
        match parse_line(trim_newline(&self.buf), self.line_no, complete)? {
            Line::Record(rec) => {
                let h = value_sha256(&rec.value);
                self.checker.record(self.line_no, &rec.key, &h, rec.value.len(), rec.revs())?;
                Ok(Some((rec, h)))
            }
            Line::Trailer(t) => {
                self.checker.trailer(&t, self.line_no)?;
                self.trailer = Some(t);
                self.buf.clear();
                if self.input.read_until(b'\n', &mut self.buf)? != 0 {
                    return Err(Error::bad_line(self.line_no + 1, "data after the trailer"));
                }
                Ok(None)
            }
        }
    }
}

impl<R: BufRead> Iterator for StreamReader<R> {
    type Item = Result<Record>;
    fn next(&mut self) -> Option<Self::Item> {
        self.next_record().transpose()
    }
}

/// A line without its `\\n` (and a `\\r` before it).
pub fn trim_newline(buf: &[u8]) -> &[u8] {
    let mut s = buf;
    if s.last() == Some(&b'\n') {
        s = &s[..s.len() - 1];
    }
    if s.last() == Some(&b'\r') {
        s = &s[..s.len() - 1];
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

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
                "line 3: unknown field x, expected one of key, key_b64, value, value_b64, create_revision, mod_revision, version, lease",
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
    fn plain_rule() {
        assert!(is_plain(b"/registry/pods/a"));
        assert!(is_plain(b"{\"a\":\n\t1}"));
        assert!(!is_plain(b"k8s\x00abc"));
        assert!(!is_plain(b"\xff"));
        assert!(is_plain(b""));
    }
}
