//! Writing a stream: record lines in the canonical layout, header first, trailer last.

use std::io::Write;

use super::{Digests, Frame, Header, Record, RecordMeta, Trailer, lease_hex};
use crate::framed::FrameWriter;

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

pub(crate) fn push_int(out: &mut Vec<u8>, n: i64) {
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
    push_record_fields(out, key, value, create, modr, version, lease);
}

/// A record's fields after the opening brace, closing brace and newline included (an event
/// line is `{"op":"put",` followed by them).
pub(crate) fn push_record_fields(
    out: &mut Vec<u8>,
    key: &[u8],
    value: &[u8],
    create: i64,
    modr: i64,
    version: i64,
    lease: i64,
) {
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
/// be when the producer failed. A record out of key order (when the header says sorted) or
/// outside the header's prefixes is refused: a writer never makes a stream readers refuse.
pub struct StreamWriter<W: Write> {
    out: FrameWriter<W>,
    digests: Digests,
    frame: Frame,
    prev: Option<Vec<u8>>,
}

impl<W: Write> StreamWriter<W> {
    pub fn new(out: W, header: &Header) -> std::io::Result<Self> {
        Ok(Self::started(FrameWriter::new(out, header)?, header))
    }

    /// Start a stream with a header line given verbatim; `header` is that line, parsed.
    pub fn with_header_line(out: W, line: &[u8], header: &Header) -> std::io::Result<Self> {
        Ok(Self::started(FrameWriter::with_header_line(out, line)?, header))
    }

    fn started(out: FrameWriter<W>, header: &Header) -> Self {
        StreamWriter { out, digests: Digests::default(), frame: Frame::of(header), prev: None }
    }

    fn admit(&mut self, key: &[u8]) -> std::io::Result<()> {
        let bad = |what: &str| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("key {:?} {what}", String::from_utf8_lossy(key)),
            )
        };
        if !self.frame.within(key) {
            return Err(bad("lies outside the stream's prefixes"));
        }
        if self.frame.sorted() {
            match &mut self.prev {
                Some(p) if key == p.as_slice() => return Err(bad("appears twice")),
                Some(p) if key < p.as_slice() => return Err(bad("is out of order")),
                Some(p) => {
                    p.clear();
                    p.extend_from_slice(key);
                }
                None => self.prev = Some(key.to_vec()),
            }
        }
        Ok(())
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
        self.write_with_hash(key, value, [create, modr, version, lease], &crate::value_sha256(value))
    }

    /// Write a record whose value's SHA-256 is known (checked by the caller): hashed once, not
    /// again for the digests.
    pub fn write_hashed(&mut self, r: &Record, value_hash: &[u8; 32]) -> std::io::Result<()> {
        self.write_with_hash(&r.key, &r.value, r.revs(), value_hash)
    }

    /// A record's parts (`revs` as [`Record::revs`]) with its value's SHA-256.
    fn write_with_hash(
        &mut self,
        key: &[u8],
        value: &[u8],
        revs: [i64; 4],
        value_hash: &[u8; 32],
    ) -> std::io::Result<()> {
        self.admit(key)?;
        self.digests.add(key, value_hash, value.len(), revs);
        let [create, modr, version, lease] = revs;
        encode_record_parts(self.out.buf(), key, value, create, modr, version, lease);
        self.out.wrote()
    }

    /// Write a record line as it is (it must encode `r`), with the value's SHA-256 known.
    pub fn write_line_hashed(&mut self, line: &[u8], r: &Record, value_hash: &[u8; 32]) -> std::io::Result<()> {
        self.write_line_raw(line, &r.key, value_hash, r.value.len(), r.revs())
    }

    /// Write a record line as it is, given the record's metadata (the line must encode it).
    pub fn write_line_meta(&mut self, line: &[u8], m: &RecordMeta) -> std::io::Result<()> {
        self.write_line_raw(line, &m.key, &m.sha256, m.len, m.revs())
    }

    fn write_line_raw(
        &mut self,
        line: &[u8],
        key: &[u8],
        value_hash: &[u8; 32],
        value_len: usize,
        revs: [i64; 4],
    ) -> std::io::Result<()> {
        self.admit(key)?;
        self.digests.add(key, value_hash, value_len, revs);
        self.out.line(line)
    }

    pub fn count(&self) -> u64 {
        self.digests.count()
    }

    pub fn bytes(&self) -> u64 {
        self.digests.bytes()
    }

    /// The output (lines still in the writer's buffer are not in it yet).
    pub fn get_mut(&mut self) -> &mut W {
        self.out.get_mut()
    }

    /// Finish with a trailer line given verbatim (without its newline): one the caller checked
    /// covers exactly the records written (an input's own, passed through unchanged).
    pub fn finish_with_line(self, line: &[u8]) -> std::io::Result<W> {
        self.out.finish_with_line(line)
    }

    /// Write the trailer, flush, and hand back the output and the trailer written.
    pub fn finish(self) -> std::io::Result<(W, Trailer)> {
        let trailer = self.digests.trailer(&self.frame);
        let out = self.out.finish(&trailer)?;
        Ok((out, trailer))
    }
}
