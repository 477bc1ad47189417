//! Reading a stream: parsing lines, the in-order checks, and the sequential reader.

use std::borrow::Cow;
use std::io::BufRead;

use serde::Deserialize;

use super::{Digests, Frame, Header, MAX_LINE, Record, RecordMeta, Trailer, parse_lease, value_sha256};
use crate::error::{Error, Kind, Result};
use crate::framed::{Body, BodyLine, Framed};

// ---------------------------------------------------------------------------------------------
// Reading

/// A string that borrows from the line when it has no escapes.
pub(crate) struct Str<'a>(pub(crate) Cow<'a, str>);

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
    /// kv-decode's derived `object`: only kv-encode reads it (see [`OBJECT_REFUSED`]).
    #[serde(default)]
    object: Option<serde::de::IgnoredAny>,
    /// The digest kv-decode writes beside `object`: refused with it.
    #[serde(default)]
    object_sha256: Option<serde::de::IgnoredAny>,
}

/// Why a record with kv-decode's `object` is refused: an edit there would be lost by a tool that
/// reads only the value, so only kv-encode (which writes edits back into values) takes it.
pub const OBJECT_REFUSED: &str = "record has kv-decode's object field: pipe the stream through kv-encode first (it writes edited objects into their values and removes the field)";

pub(crate) fn bytes_field(plain: Option<Str>, b64: Option<Str>, name: &str) -> std::result::Result<Vec<u8>, String> {
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

/// Fast path for [`parse_record_head`]: lines laid out exactly as our writer lays them out with a
/// base64 value, whose value then needs no JSON scanning (it runs to the `"}` at the end of the
/// line); with `head`, only its first `head` bytes are decoded. `None` when the line is laid out
/// otherwise.
fn parse_canonical_b64(line: &[u8], head: Option<usize>) -> Option<std::result::Result<(Record, usize), String>> {
    let body = line.strip_suffix(b"\"}")?;
    // A quote inside a JSON string is escaped, so the first match is the field itself.
    let at = memchr::memmem::find(body, b",\"value_b64\":\"")?;
    let b64 = &body[at + 14..];
    // JSON escapes (`\/` is a valid way to write `/`), or fields after the value (any order is
    // valid): the general path reads them.
    if memchr::memchr2(b'\\', b'"', b64).is_some() {
        return None;
    }
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
    // What is wrong with a line the general path says, as it says it for every line.
    let Ok(len) = checked else { return None };
    let take = head.map_or(b64.len(), |n| n.div_ceil(3).saturating_mul(4).min(b64.len()));
    match e.decode_to_vec(&b64[..take]) {
        Ok(mut v) => {
            v.truncate(head.unwrap_or(len));
            r.value = v;
            Some(Ok((r, len)))
        }
        Err(_) => None,
    }
}

/// Like [`parse_record`]; with `head = Some(n)` the value is checked but only its first `n` bytes
/// are decoded into the record. Returns the full value length too.
pub fn parse_record_head(line: &[u8], head: Option<usize>) -> std::result::Result<(Record, usize), String> {
    if let Some(r) = parse_canonical_b64(line, head) {
        return r;
    }
    parse_record_head_serde(line, head)
}

fn parse_record_head_serde(line: &[u8], head: Option<usize>) -> std::result::Result<(Record, usize), String> {
    if line.first() != Some(&b'{') {
        return Err("not a JSON object".into());
    }
    let raw: RawRecord = serde_json::from_slice(line).map_err(json_error_text)?;
    if raw.object.is_some() || raw.object_sha256.is_some() {
        return Err(OBJECT_REFUSED.into());
    }
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

pub(crate) fn json_error_text(e: serde_json::Error) -> String {
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
pub(crate) enum Special {
    Header(Box<Header>),
    Trailer(Box<Trailer>),
}

pub(crate) fn parse_special(line: &[u8]) -> Option<std::result::Result<Special, String>> {
    let v: serde_json::Value = serde_json::from_slice(line).ok()?;
    let t = v.get("type")?;
    Some(match t.as_str() {
        Some("header") => serde_json::from_value::<Header>(v)
            .map(|h| Special::Header(Box::new(h)))
            .map_err(|e| format!("bad header: {e}")),
        Some("trailer") => serde_json::from_value::<Trailer>(v)
            .map(|t| Special::Trailer(Box::new(t)))
            .map_err(|e| format!("bad trailer: {e}")),
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
    Ok(match crate::framed::body_line(line, line_no, complete, |l| parse_record_head(l, head))? {
        BodyLine::Item((rec, len)) => (Line::Record(rec), len),
        BodyLine::Trailer(t) => (Line::Trailer(*t), 0),
    })
}

/// The checks that need the records in order: key order (when the header says sorted), the
/// header's prefixes, the digests, and the trailer against them and against the header.
pub struct Checker {
    digests: Digests,
    frame: Frame,
    prev_key: Option<Vec<u8>>,
    verify: Verify,
}

/// A key for a message: lossy UTF-8, at most 200 characters. Keys are names, not secrets; values
/// never appear in messages.
pub fn show_key(key: &[u8]) -> String {
    let s = String::from_utf8_lossy(key);
    match s.char_indices().nth(200) {
        Some((i, _)) => format!("{:?}...", &s[..i]),
        None => format!("{s:?}"),
    }
}

impl Checker {
    pub fn new(header: &Header, verify: Verify) -> Self {
        let frame = Frame::of(header);
        Checker { digests: Digests::default(), prev_key: frame.sorted().then(Vec::new), frame, verify }
    }

    /// Account for a record known by its metadata.
    pub fn record(&mut self, line_no: u64, m: &RecordMeta) -> Result<()> {
        self.check(line_no, &m.key, &m.sha256, m.len, m.revs())
    }

    /// Account for a record (its value given by length and SHA-256, and its [`Record::revs`]).
    pub(crate) fn check(
        &mut self,
        line_no: u64,
        key: &[u8],
        value_hash: &[u8; 32],
        value_len: usize,
        revs: [i64; 4],
    ) -> Result<()> {
        if let Some(prev) = &mut self.prev_key {
            if self.digests.count() > 0 && key <= prev.as_slice() {
                let msg = if key == prev.as_slice() {
                    format!("key {} appears twice: a stream holds each key once", show_key(key))
                } else {
                    "key is not greater than the previous key, but the header says the stream is sorted".to_string()
                };
                return Err(Error::bad_line(line_no, msg));
            }
            prev.clear();
            prev.extend_from_slice(key);
        }
        if !self.frame.within(key) {
            return Err(Error::bad_line(
                line_no,
                format!("key {} lies outside the prefixes the header lists", show_key(key)),
            ));
        }
        if self.verify == Verify::Light {
            // Only count and bytes are compared with the trailer: no digests to build.
            self.digests.update_counts(key.len(), value_len);
        } else {
            self.digests.add(key, value_hash, value_len, revs);
        }
        Ok(())
    }

    /// Check the trailer against the records seen and the header.
    pub fn trailer(&self, t: &Trailer, line_no: u64) -> Result<()> {
        if self.verify == Verify::PresenceOnly {
            return Ok(());
        }
        if t.end_revision.is_some() || !t.leases.is_empty() {
            return Err(Error::bad_line(
                line_no,
                "the trailer gives end_revision or leases, which only a delta stream's trailer has",
            ));
        }
        if let Some(want) = self.frame.header_sha256()
            && t.header_sha256.as_deref() != Some(want)
        {
            return Err(Error::new(
                Kind::Integrity,
                format!(
                    "line {line_no}: the header's claims (prefixes, revision, leases ...) do not match the trailer's \
                     header_sha256: the header was altered"
                ),
            ));
        }
        let mine = self.digests.trailer(&self.frame);
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

    pub fn frame(&self) -> &Frame {
        &self.frame
    }
}

/// `read_until(b'\n')` that stops with an error past `max` bytes: no input can make a reader
/// hold more than one capped line. Returns the bytes read (0 at the end of the input).
pub fn read_line_capped<R: BufRead + ?Sized>(input: &mut R, buf: &mut Vec<u8>, max: usize) -> Result<usize> {
    let start = buf.len();
    loop {
        let (done, used) = {
            let avail = input.fill_buf()?;
            if avail.is_empty() {
                return Ok(buf.len() - start);
            }
            match memchr::memchr(b'\n', avail) {
                Some(i) => {
                    buf.extend_from_slice(&avail[..=i]);
                    (true, i + 1)
                }
                None => {
                    buf.extend_from_slice(avail);
                    (false, avail.len())
                }
            }
        };
        input.consume(used);
        if buf.len() - start > max {
            return Err(Error::new(
                Kind::BadInput,
                format!("a line is longer than {} MiB: this is not a reshifter stream", max >> 20),
            ));
        }
        if done {
            return Ok(buf.len() - start);
        }
    }
}

/// Read the header line of a keyspace stream: its raw bytes and the parsed, validated header.
/// A delta stream is refused ([`Header::require_full`]).
pub fn read_header<R: BufRead>(input: &mut R) -> Result<(Vec<u8>, Header)> {
    let (line, header) = read_any_header(input)?;
    header.require_full().map_err(|e| Error::bad_line(1, e))?;
    Ok((line, header))
}

/// Read the header line of a keyspace or delta stream.
pub fn read_any_header<R: BufRead>(input: &mut R) -> Result<(Vec<u8>, Header)> {
    let mut buf = Vec::new();
    let n = read_line_capped(input, &mut buf, MAX_LINE)?;
    if n == 0 {
        return Err(Error::new(Kind::Truncated, "empty input: no stream header (is the producer failing?)"));
    }
    let line = trim_newline(&buf).to_vec();
    let header = parse_any_header(&line)?;
    Ok((line, header))
}

/// Parse and validate the header line (without its newline) of a keyspace stream.
pub fn parse_header(line: &[u8]) -> Result<Header> {
    let header = parse_any_header(line)?;
    header.require_full().map_err(|e| Error::bad_line(1, e))?;
    Ok(header)
}

/// Parse and validate a header line of a keyspace or delta stream.
pub fn parse_any_header(line: &[u8]) -> Result<Header> {
    let header = match parse_special(line) {
        Some(Ok(Special::Header(h))) => *h,
        Some(Err(e)) => return Err(Error::bad_line(1, e)),
        _ => {
            return Err(Error::bad_line(
                1,
                "not a reshifter stream: the first line must be the header {\"type\":\"header\",...}",
            ));
        }
    };
    header.validate().map_err(|e| Error::bad_line(1, e))?;
    Ok(header)
}

/// What a keyspace stream's body lines are: records, checked by a [`Checker`].
pub struct Keyspace;

impl Body for Keyspace {
    type Item = Record;
    type Checker = Checker;

    fn parse(line: &[u8], line_no: u64, complete: bool) -> Result<BodyLine<Record>> {
        Ok(match parse_line(line, line_no, complete)? {
            Line::Record(r) => BodyLine::Item(r),
            Line::Trailer(t) => BodyLine::Trailer(Box::new(t)),
        })
    }

    fn check(c: &mut Checker, line_no: u64, rec: &Record) -> Result<[u8; 32]> {
        let h = value_sha256(&rec.value);
        c.check(line_no, &rec.key, &h, rec.value.len(), rec.revs())?;
        Ok(h)
    }

    fn check_trailer(c: &Checker, t: &Trailer, line_no: u64) -> Result<()> {
        c.trailer(t, line_no)
    }

    fn truncated(c: &Checker) -> Error {
        c.truncated()
    }
}

/// Reads and validates a keyspace stream. Yields records; a truncated, malformed or altered
/// stream yields an error instead of its end. Holds one line at a time.
pub type StreamReader<R> = Framed<R, Keyspace>;

impl<R: BufRead> Framed<R, Keyspace> {
    /// Read and check the header.
    pub fn new(input: R) -> Result<Self> {
        Self::with_verify(input, Verify::Full)
    }

    pub fn with_verify(input: R, verify: Verify) -> Result<Self> {
        Self::open(input, verify, true)
    }

    /// A reader for an edited stream about to be re-sealed (kv-seal): the trailer must be there
    /// but its numbers are not checked, and records may come in any order.
    pub fn unordered(input: R) -> Result<Self> {
        Self::open(input, Verify::PresenceOnly, false)
    }

    fn open(mut input: R, verify: Verify, ordered: bool) -> Result<Self> {
        let (header_line, header) = read_header(&mut input)?;
        let mut checker = Checker::new(&header, verify);
        if !ordered {
            checker.prev_key = None;
        }
        Ok(Framed::after(input, header_line, header, checker))
    }

    /// The digests of the records read so far.
    pub fn digests(&self) -> &Digests {
        self.checker.digests()
    }

    /// Records read so far.
    pub fn records_read(&self) -> u64 {
        self.checker.digests().count()
    }

    /// Next record; `Ok(None)` after a valid trailer.
    pub fn next_record(&mut self) -> Result<Option<Record>> {
        self.next_item()
    }

    /// Next record with the SHA-256 of its value (computed for the digest anyway).
    pub fn next_record_hashed(&mut self) -> Result<Option<(Record, [u8; 32])>> {
        self.next_hashed()
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
