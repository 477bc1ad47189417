//! Delta streams: every change to a keyspace after a revision, as etcd-watch writes them
//! (docs/FORMAT.md, "Delta streams").
//!
//! ```text
//! {"type":"header","format":2,"kind":"delta",...,"revision":R,"prefixes":[""],"complete":true}
//! {"op":"put","key":"/a","create_revision":12,"mod_revision":14,"version":2,"value":"x"}
//! {"op":"delete","key":"/b","mod_revision":15}
//! {"type":"trailer","count":2,...,"end_revision":17}
//! ```
//!
//! Events are in revision order (the order etcd sent them, a revision's events together);
//! the header's `revision` is where the stream starts (exclusive), the trailer's
//! `end_revision` where it ends (inclusive): it holds every change under its prefixes between
//! the two. Keyspace readers refuse delta streams ([`crate::Header::require_full`]).

use std::io::{BufRead, Write};

use serde::Deserialize;

use crate::error::{Error, Kind, Result};
use crate::framed::{Body, BodyLine, FrameWriter, Framed};
use crate::read::{Str, bytes_field, json_error_text};
use crate::write::{push_bytes_field, push_int, push_record_fields};
use crate::{
    Digests, Frame, Header, Lease, Record, StreamKind, Trailer, parse_lease, read_any_header, show_key, value_sha256,
};

/// What an event does to its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Put,
    Delete,
}

impl Op {
    /// The byte the digests use: 1 for a put, 2 for a delete.
    pub fn byte(self) -> u8 {
        match self {
            Op::Put => 1,
            Op::Delete => 2,
        }
    }
}

/// One change: a put (the key's new record) or a delete (the key and the revision that
/// deleted it, in `record.mod_revision`; the other fields zero, the value empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub op: Op,
    pub record: Record,
}

impl Event {
    pub fn put(record: Record) -> Self {
        Event { op: Op::Put, record }
    }

    pub fn delete(key: Vec<u8>, revision: i64) -> Self {
        Event { op: Op::Delete, record: Record { key, mod_revision: revision, ..Record::default() } }
    }

    /// The revision of the change.
    pub fn revision(&self) -> i64 {
        self.record.mod_revision
    }

    pub fn key(&self) -> &[u8] {
        &self.record.key
    }
}

/// Encode one event as a line (newline included) into `out`.
pub fn encode_event(out: &mut Vec<u8>, e: &Event) {
    let r = &e.record;
    match e.op {
        Op::Put => {
            out.extend_from_slice(b"{\"op\":\"put\",");
            push_record_fields(out, &r.key, &r.value, r.create_revision, r.mod_revision, r.version, r.lease);
        }
        Op::Delete => {
            out.extend_from_slice(b"{\"op\":\"delete\",");
            push_bytes_field(out, "key", &r.key);
            out.extend_from_slice(b",\"mod_revision\":");
            push_int(out, r.mod_revision);
            out.extend_from_slice(b"}\n");
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEvent<'a> {
    #[serde(borrow)]
    op: Str<'a>,
    #[serde(borrow, default)]
    key: Option<Str<'a>>,
    #[serde(borrow, default)]
    key_b64: Option<Str<'a>>,
    #[serde(borrow, default)]
    value: Option<Str<'a>>,
    #[serde(borrow, default)]
    value_b64: Option<Str<'a>>,
    #[serde(default)]
    create_revision: Option<i64>,
    mod_revision: i64,
    #[serde(default)]
    version: Option<i64>,
    #[serde(borrow, default)]
    lease: Option<Str<'a>>,
}

/// Parse one event line (without checking its place in the stream). `Err` is the message.
pub fn parse_event(line: &[u8]) -> std::result::Result<Event, String> {
    if line.first() != Some(&b'{') {
        return Err("not a JSON object".into());
    }
    let raw: RawEvent = serde_json::from_slice(line).map_err(json_error_text)?;
    let key = bytes_field(raw.key, raw.key_b64, "key")?;
    if key.is_empty() {
        return Err("key is empty (etcd does not allow empty keys)".into());
    }
    if raw.mod_revision <= 0 {
        return Err("mod_revision must be positive".into());
    }
    match &*raw.op.0 {
        "put" => {
            let value = bytes_field(raw.value, raw.value_b64, "value")?;
            let (Some(create), Some(version)) = (raw.create_revision, raw.version) else {
                return Err("a put needs create_revision and version".into());
            };
            if create <= 0 || create > raw.mod_revision {
                return Err("create_revision must be positive and not above mod_revision".into());
            }
            if version <= 0 {
                return Err("version must be positive".into());
            }
            let lease = match raw.lease {
                None => 0,
                Some(s) => parse_lease(&s.0).ok_or("lease is not a lease id of up to 16 hex digits")?,
            };
            let record = Record { key, value, create_revision: create, mod_revision: raw.mod_revision, version, lease };
            Ok(Event::put(record))
        }
        "delete" => {
            if raw.value.is_some()
                || raw.value_b64.is_some()
                || raw.create_revision.is_some()
                || raw.version.is_some()
                || raw.lease.is_some()
            {
                return Err("a delete has only op, key and mod_revision".into());
            }
            Ok(Event::delete(key, raw.mod_revision))
        }
        other => Err(format!("unknown op {other:?} (put or delete)")),
    }
}

/// One line of a delta stream after the header.
pub enum DeltaLine {
    Event(Event),
    Trailer(Trailer),
}

/// Parse one line after the header of a delta stream; `complete` tells whether it ended with a
/// newline.
pub fn parse_delta_line(line: &[u8], line_no: u64, complete: bool) -> Result<DeltaLine> {
    Ok(match crate::framed::body_line(line, line_no, complete, parse_event)? {
        BodyLine::Item(e) => DeltaLine::Event(e),
        BodyLine::Trailer(t) => DeltaLine::Trailer(*t),
    })
}

/// What a delta stream's events must satisfy in order: after the start revision, in revision
/// order, under the header's prefixes; and the trailer against the digests.
pub struct DeltaChecker {
    digests: Digests,
    frame: Frame,
    start: i64,
    last_rev: i64,
}

impl DeltaChecker {
    pub fn new(header: &Header) -> Self {
        DeltaChecker { digests: Digests::default(), frame: Frame::of(header), start: header.revision, last_rev: 0 }
    }

    /// Account for an event (the SHA-256 of a put's value given).
    pub fn event(&mut self, line_no: u64, e: &Event, value_hash: &[u8; 32]) -> Result<()> {
        let rev = e.revision();
        if rev <= self.start {
            return Err(Error::bad_line(
                line_no,
                format!("an event at revision {rev} is not after the stream's start revision {}", self.start),
            ));
        }
        if rev < self.last_rev {
            return Err(Error::bad_line(
                line_no,
                format!(
                    "an event at revision {rev} follows one at revision {}: a delta stream is in revision order",
                    self.last_rev
                ),
            ));
        }
        if !self.frame.within(e.key()) {
            return Err(Error::bad_line(
                line_no,
                format!("key {} lies outside the prefixes the header lists", show_key(e.key())),
            ));
        }
        self.last_rev = rev;
        let r = &e.record;
        let hash = (e.op == Op::Put).then_some(value_hash);
        self.digests.add_event(e.op.byte(), &r.key, hash, r.value.len(), r.revs());
        Ok(())
    }

    /// Check the trailer against the events seen and the header.
    pub fn trailer(&self, t: &Trailer, line_no: u64) -> Result<()> {
        let altered = |what: &str| Error::new(Kind::Integrity, format!("line {line_no}: {what}"));
        if t.header_sha256.as_deref() != self.frame.header_sha256() {
            return Err(altered(
                "the header's claims (prefixes, revision ...) do not match the trailer's header_sha256: the header was altered",
            ));
        }
        let Some(end) = t.end_revision else {
            return Err(Error::bad_line(line_no, "a delta stream's trailer must give end_revision"));
        };
        if end < self.start || end < self.last_rev {
            return Err(Error::bad_line(
                line_no,
                format!(
                    "end_revision {end} is before the stream's start ({}) or its last event ({})",
                    self.start, self.last_rev
                ),
            ));
        }
        if let Some(l) = t.leases.iter().find(|l| parse_lease(&l.id).is_none()) {
            return Err(Error::bad_line(line_no, format!("lease id {:?} is not 1 to 16 hex digits", l.id)));
        }
        let mine = self.digests.delta_trailer(&self.frame, end, t.leases.clone());
        if t.count != mine.count {
            return Err(altered(&format!(
                "the trailer counts {} events but the stream held {}: events were lost or added",
                t.count, mine.count
            )));
        }
        if t.sha256 != mine.sha256 || t.meta_sha256 != mine.meta_sha256 || t.bytes != mine.bytes {
            return Err(altered("the stream's digest does not match its trailer: events or end claims were altered"));
        }
        Ok(())
    }

    /// The error for input that ended before its trailer.
    pub fn truncated(&self) -> Error {
        Error::new(
            Kind::Truncated,
            format!(
                "delta stream ended after {} events without its trailer: the input is truncated or its producer failed",
                self.digests.count()
            ),
        )
    }

    pub fn count(&self) -> u64 {
        self.digests.count()
    }

    pub fn last_revision(&self) -> i64 {
        self.last_rev
    }
}

/// Writes a delta stream: the header on creation, events, and the trailer (with its end
/// revision and leases) on [`DeltaWriter::finish`]. An event the readers would refuse (before
/// the start, out of revision order, outside the prefixes) is refused.
pub struct DeltaWriter<W: Write> {
    out: FrameWriter<W>,
    checker: DeltaChecker,
}

impl<W: Write> DeltaWriter<W> {
    pub fn new(out: W, header: &Header) -> std::io::Result<Self> {
        if header.kind != StreamKind::Delta {
            return Err(std::io::Error::other("a delta writer needs a delta header"));
        }
        Ok(DeltaWriter { out: FrameWriter::new(out, header)?, checker: DeltaChecker::new(header) })
    }

    /// Write a delta stream whose header line is given verbatim; `header` is that line, parsed.
    pub fn with_header_line(out: W, line: &[u8], header: &Header) -> std::io::Result<Self> {
        Ok(DeltaWriter { out: FrameWriter::with_header_line(out, line)?, checker: DeltaChecker::new(header) })
    }

    pub fn write(&mut self, e: &Event) -> std::io::Result<()> {
        let hash = if e.op == Op::Put { value_sha256(&e.record.value) } else { [0; 32] };
        self.admit(e, &hash)?;
        encode_event(self.out.buf(), e);
        self.out.wrote()
    }

    /// Write an event line as it is (it must encode `e`; `hash` is its value's SHA-256).
    pub fn write_line(&mut self, line: &[u8], e: &Event, hash: &[u8; 32]) -> std::io::Result<()> {
        self.admit(e, hash)?;
        self.out.line(line)
    }

    fn admit(&mut self, e: &Event, hash: &[u8; 32]) -> std::io::Result<()> {
        let line = self.checker.count() + 2;
        self.checker
            .event(line, e, hash)
            .map_err(|err| std::io::Error::new(std::io::ErrorKind::InvalidData, err.to_string()))
    }

    pub fn count(&self) -> u64 {
        self.checker.count()
    }

    pub fn bytes(&self) -> u64 {
        self.checker.digests.bytes()
    }

    /// The revision of the last event written (0 before the first).
    pub fn last_revision(&self) -> i64 {
        self.checker.last_revision()
    }

    /// Write what is buffered to the output and flush it.
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }

    /// Write the trailer (the stream covers every change up to `end_revision`; `leases` are
    /// the leases its puts name that are still alive; `anchor` proves the history it belongs
    /// to), flush, and hand back the output.
    pub fn finish(
        self,
        end_revision: i64,
        leases: Vec<Lease>,
        anchor: Option<crate::Anchor>,
    ) -> std::io::Result<(W, Trailer)> {
        if end_revision < self.checker.start.max(self.checker.last_rev) {
            return Err(std::io::Error::other(format!(
                "end revision {end_revision} is before the stream's start or its last event"
            )));
        }
        let mut trailer = self.checker.digests.delta_trailer(&self.checker.frame, end_revision, leases);
        trailer.anchor = anchor;
        let out = self.out.finish(&trailer)?;
        Ok((out, trailer))
    }
}

/// What a delta stream's body lines are: events, checked by a [`DeltaChecker`].
pub struct Delta;

impl Body for Delta {
    type Item = Event;
    type Checker = DeltaChecker;

    fn parse(line: &[u8], line_no: u64, complete: bool) -> Result<BodyLine<Event>> {
        Ok(match parse_delta_line(line, line_no, complete)? {
            DeltaLine::Event(e) => BodyLine::Item(e),
            DeltaLine::Trailer(t) => BodyLine::Trailer(Box::new(t)),
        })
    }

    fn check(c: &mut DeltaChecker, line_no: u64, e: &Event) -> Result<[u8; 32]> {
        let h = if e.op == Op::Put { value_sha256(&e.record.value) } else { [0; 32] };
        c.event(line_no, e, &h)?;
        Ok(h)
    }

    fn check_trailer(c: &DeltaChecker, t: &Trailer, line_no: u64) -> Result<()> {
        c.trailer(t, line_no)
    }

    fn truncated(c: &DeltaChecker) -> Error {
        c.truncated()
    }
}

/// Reads and validates a delta stream; a truncated, malformed or altered one yields an error
/// instead of its end. Holds one line at a time.
pub type DeltaReader<R> = Framed<R, Delta>;

impl<R: BufRead> Framed<R, Delta> {
    /// Read and check the header: a keyspace stream is refused.
    pub fn new(mut input: R) -> Result<Self> {
        let (header_line, header) = read_any_header(&mut input)?;
        Self::after_header(input, header_line, header)
    }

    /// A reader for a stream whose header line was already read.
    pub fn after_header(input: R, header_line: Vec<u8>, header: Header) -> Result<Self> {
        if header.kind != StreamKind::Delta {
            return Err(Error::bad_line(
                1,
                "this is a keyspace stream (etcd-dump), not a delta stream (etcd-watch): give it as the base",
            ));
        }
        let checker = DeltaChecker::new(&header);
        Ok(Framed::after(input, header_line, header, checker))
    }

    /// Events read so far.
    pub fn events_read(&self) -> u64 {
        self.checker.count()
    }

    /// Next event; `Ok(None)` after a valid trailer.
    pub fn next_event(&mut self) -> Result<Option<Event>> {
        self.next_item()
    }

    /// Next event with the SHA-256 of its value (zero for a delete).
    pub fn next_event_hashed(&mut self) -> Result<Option<(Event, [u8; 32])>> {
        self.next_hashed()
    }
}

/// `delta-<first>-<last>`: the segment of revisions `first..=last`.
pub fn segment_name(first: i64, last: i64) -> String {
    format!("delta-{first:020}-{last:020}")
}

/// The revisions a segment's name (any extension after it) says it holds.
pub fn parse_segment_name(name: &str) -> Option<(i64, i64)> {
    let rest = name.strip_prefix("delta-")?;
    let (first, rest) = rest.split_at_checked(20)?;
    let rest = rest.strip_prefix('-')?;
    let (last, ext) = rest.split_at_checked(20)?;
    if !(ext.is_empty() || ext.starts_with('.')) || !first.bytes().chain(last.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (first, last) = (first.parse().ok()?, last.parse().ok()?);
    (first >= 1 && last >= first - 1).then_some((first, last))
}

/// A header for a delta stream from `tool` starting after `revision` under `prefixes`.
pub fn delta_header(tool: &str, revision: i64, prefixes: Vec<String>) -> Header {
    let mut h = Header::new(tool);
    h.kind = StreamKind::Delta;
    h.sorted = false;
    h.revision = revision;
    h.prefixes = if prefixes.is_empty() { vec![String::new()] } else { prefixes };
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(key: &str, value: &str, create: i64, rev: i64, version: i64) -> Event {
        Event::put(Record {
            key: key.as_bytes().to_vec(),
            value: value.as_bytes().to_vec(),
            create_revision: create,
            mod_revision: rev,
            version,
            lease: 0,
        })
    }

    fn stream(events: &[Event], end: i64) -> Vec<u8> {
        let mut h = delta_header("test", 10, vec!["/a/".into()]);
        h.time = "2026-01-01T00:00:00Z".into();
        h.complete = true;
        let mut w = DeltaWriter::new(Vec::new(), &h).unwrap();
        for e in events {
            w.write(e).unwrap();
        }
        w.finish(end, vec![Lease { id: "00000000000000ab".into(), ttl: 5, granted_ttl: 10 }], None).unwrap().0
    }

    fn read(bytes: &[u8]) -> Result<Vec<Event>> {
        DeltaReader::new(bytes)?.collect()
    }

    #[test]
    fn lines_are_exact_and_round_trip() {
        let events =
            vec![put("/a/x", "1", 11, 11, 1), Event::delete(b"/a/y".to_vec(), 12), put("/a/x", "k8s\0", 11, 12, 2)];
        let bytes = stream(&events, 15);
        let text = String::from_utf8(bytes.clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[1],
            r#"{"op":"put","key":"/a/x","create_revision":11,"mod_revision":11,"version":1,"value":"1"}"#
        );
        assert_eq!(lines[2], r#"{"op":"delete","key":"/a/y","mod_revision":12}"#);
        assert!(lines[0].contains(r#""kind":"delta""#) && lines[0].contains(r#""sorted":false"#), "{}", lines[0]);
        assert!(lines[4].contains(r#""end_revision":15"#), "{}", lines[4]);
        assert_eq!(read(&bytes).unwrap(), events);
    }

    #[test]
    fn keyspace_readers_refuse_deltas_and_back() {
        let bytes = stream(&[], 10);
        let err = crate::StreamReader::new(&bytes[..]).err().unwrap();
        assert!(err.to_string().starts_with("line 1: this is a delta stream (changes after revision 10"), "{err}");
        let mut h = Header::new("t");
        h.time = "2026-01-01T00:00:00Z".into();
        let full = crate::StreamWriter::new(Vec::new(), &h).unwrap().finish().unwrap().0;
        let err = DeltaReader::new(&full[..]).err().unwrap();
        assert!(err.to_string().contains("not a delta stream"), "{err}");
    }

    #[test]
    fn damage_is_refused() {
        let events = vec![put("/a/x", "1", 11, 11, 1), Event::delete(b"/a/y".to_vec(), 12)];
        let good = String::from_utf8(stream(&events, 15)).unwrap();
        let cases = [
            (good.replace("\"end_revision\":15", "\"end_revision\":16"), "digest does not match"),
            (good.replace("\"ttl\":5", "\"ttl\":6"), "digest does not match"),
            (good.replace("\"mod_revision\":12", "\"mod_revision\":13"), "digest does not match"),
            (good.replace("\"revision\":10", "\"revision\":9"), "header was altered"),
            (good.replace("\"op\":\"delete\"", "\"op\":\"remove\""), "unknown op \"remove\""),
            (good.replace(",\"mod_revision\":12}", ",\"mod_revision\":12,\"value\":\"\"}"), "a delete has only"),
            (good.replace("\"mod_revision\":12", "\"mod_revision\":10"), "not after the stream's start revision 10"),
            (good.replace("\"end_revision\":15", "\"end_revision\":11"), "before the stream's start"),
        ];
        for (bad, want) in cases {
            let err = read(bad.as_bytes()).unwrap_err();
            assert!(err.to_string().contains(want), "{want}: {err}");
        }
        let cut = good.rfind("{\"type\"").unwrap();
        assert_eq!(read(&good.as_bytes()[..cut]).unwrap_err().kind(), Kind::Truncated);
        let lines: Vec<&str> = good.lines().collect();
        let swapped = format!("{}\n{}\n{}\n{}\n", lines[0], lines[2], lines[1], lines[3]);
        assert!(read(swapped.as_bytes()).unwrap_err().to_string().contains("revision order"));
    }

    #[test]
    fn writers_refuse_what_readers_refuse() {
        let h = delta_header("t", 10, vec!["/a/".into()]);
        let mut w = DeltaWriter::new(Vec::new(), &h).unwrap();
        assert!(w.write(&put("/b/x", "1", 11, 11, 1)).is_err());
        assert!(w.write(&put("/a/x", "1", 10, 10, 1)).is_err());
        w.write(&put("/a/x", "1", 11, 12, 1)).unwrap();
        assert!(w.write(&put("/a/x", "1", 11, 11, 1)).is_err());
        assert!(w.finish(11, vec![], None).is_err());
    }
    #[test]
    fn names() {
        assert_eq!(segment_name(11, 20), "delta-00000000000000000011-00000000000000000020");
        assert_eq!(parse_segment_name("delta-00000000000000000011-00000000000000000020.zip"), Some((11, 20)));
        assert_eq!(parse_segment_name("delta-00000000000000000011-00000000000000000020"), Some((11, 20)));
        assert_eq!(parse_segment_name("delta-00000000000000000011.partial"), None);
        assert_eq!(parse_segment_name(".delta-00000000000000000011-00000000000000000020.ndjson"), None);
        assert_eq!(parse_segment_name("delta-00000000000000000011-00000000000000000020x"), None);
        assert_eq!(parse_segment_name("delta-00000000000000000021-00000000000000000011"), None);
    }
}
