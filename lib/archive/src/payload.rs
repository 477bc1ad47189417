//! What a payload is and whether it is whole, checked as it streams by (s3-push's upload): the
//! formats' own readers run over the bytes on a thread of their own, so "verified" means the
//! digests were checked, not that the input merely ended like a stream.
//!
//! - a reshifter stream (keyspace, delta or files): read through, every line and the trailer's digests;
//! - one of our archives: verified entry by entry as `archive-unpack --verify` does (another
//!   writer's ZIP, e.g. ReShifter's layout, is spooled to a temporary file and read whole);
//! - an age file: its content cannot be read without a key; archive-pack's end record after it
//!   gives its size and SHA-256, which the uploader compares with what it hashed;
//! - anything else: carried, and named for what it is: not checked.

use std::io::{BufRead, BufReader, Chain, Cursor, Read};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use reshifter_format::delta::DeltaReader;
use reshifter_format::error::{Error, Kind, Result};
use reshifter_format::{StreamKind, StreamReader, read_any_header};

use crate::crypt::{AGE_MAGIC, END_MAX, find_end_record};
use crate::unpack::{UnpackOptions, is_archive};

/// What was checked of a payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checked {
    /// A keyspace stream, its records and trailer digests.
    Stream,
    /// A delta stream, its events and trailer digests.
    Delta,
    /// A files stream (node-dump), its entries and trailer digests.
    Files,
    /// An archive, every entry, its manifest and its central directory.
    Archive,
    /// An age file: only its size and SHA-256 against archive-pack's end record can be checked
    /// (by the caller, who hashed it).
    Age,
    /// Neither: nothing could be checked.
    Nothing,
}

impl Checked {
    /// The name recorded beside an upload (`None`: nothing was checked).
    pub fn name(self) -> Option<&'static str> {
        match self {
            Checked::Stream => Some("stream"),
            Checked::Delta => Some("delta"),
            Checked::Files => Some("files"),
            Checked::Archive => Some("archive"),
            Checked::Age => Some("age"),
            Checked::Nothing => None,
        }
    }
}

/// Bytes handed to the checker at most at once, and how many such pieces may wait.
const PIECE: usize = 1 << 20;
const QUEUE: usize = 8;

/// A payload checked on its own thread as its bytes are fed.
pub struct PayloadCheck {
    tx: Option<SyncSender<Vec<u8>>>,
    job: Option<JoinHandle<Result<Checked>>>,
}

impl Default for PayloadCheck {
    fn default() -> Self {
        Self::start()
    }
}

impl PayloadCheck {
    pub fn start() -> Self {
        let (tx, rx) = sync_channel::<Vec<u8>>(QUEUE);
        let job =
            std::thread::spawn(move || check(BufReader::with_capacity(PIECE, Pieces { rx, piece: Vec::new(), at: 0 })));
        PayloadCheck { tx: Some(tx), job: Some(job) }
    }

    /// The next bytes of the payload. An error when the checker has already found it bad.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<()> {
        for piece in bytes.chunks(PIECE) {
            let sent = self.tx.as_ref().is_some_and(|tx| tx.send(piece.to_vec()).is_ok());
            if !sent {
                // The checker stopped: it knows why.
                self.tx = None;
                return match self.join() {
                    Err(e) => Err(e),
                    Ok(_) => Err(Error::new(Kind::BadInput, "the payload goes on after its end")),
                };
            }
        }
        Ok(())
    }

    /// The payload has ended: what was checked, or why it is not whole.
    pub fn finish(mut self) -> Result<Checked> {
        self.tx = None;
        self.join()
    }

    fn join(&mut self) -> Result<Checked> {
        match self.job.take() {
            Some(j) => j.join().unwrap_or_else(|_| Err(Error::new(Kind::Failure, "the payload check failed"))),
            None => Err(Error::new(Kind::Failure, "the payload check has ended already")),
        }
    }
}

/// The bytes fed, as a reader.
struct Pieces {
    rx: Receiver<Vec<u8>>,
    piece: Vec<u8>,
    at: usize,
}

impl Read for Pieces {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.piece.len() {
            match self.rx.recv() {
                Ok(p) => {
                    self.piece = p;
                    self.at = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.piece.len() - self.at);
        buf[..n].copy_from_slice(&self.piece[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Read what is left, so that the feeder never waits on a checker that is done.
fn drain(mut r: impl Read) -> Result<()> {
    std::io::copy(&mut r, &mut std::io::sink())?;
    Ok(())
}

fn check(mut input: BufReader<Pieces>) -> Result<Checked> {
    let head = input.fill_buf()?.to_vec();
    if head.starts_with(AGE_MAGIC) {
        drain(input)?;
        return Ok(Checked::Age);
    }
    if is_archive(&head) {
        let o = UnpackOptions { verify: true, quiet: true, ..UnpackOptions::default() };
        crate::unpack::unpack_reader(&o, Box::new(input))?;
        return Ok(Checked::Archive);
    }
    if head.first() == Some(&b'{') {
        let (line, header) = read_any_header(&mut input)?;
        if header.kind == StreamKind::Delta {
            let mut r = DeltaReader::after_header(input, line, header)?;
            while r.next_event()?.is_some() {}
            return Ok(Checked::Delta);
        }
        if header.kind == StreamKind::Files {
            let mut r = reshifter_format::files::FilesReader::after_header(input, line, header)?;
            while r.next_entry()?.is_some() {}
            return Ok(Checked::Files);
        }
        let mut first = line;
        first.push(b'\n');
        let whole: Chain<Cursor<Vec<u8>>, BufReader<Pieces>> = Cursor::new(first).chain(input);
        for r in StreamReader::new(whole)? {
            r?;
        }
        return Ok(Checked::Stream);
    }
    drain(input)?;
    Ok(Checked::Nothing)
}

/// What the end of an input says about its completeness.
#[derive(Debug, PartialEq, Eq)]
pub enum Completeness {
    /// Complete: what it is, and how many bytes at its end to leave out (an end record).
    Complete(&'static str, usize),
    /// A reshifter stream, ZIP archive or age file that was cut short.
    Incomplete(&'static str),
    /// Anything else: cannot tell.
    Unknown,
}

/// The first line of `head`, if it is a reshifter stream header (parsed, so a header that
/// jq re-encoded, keys sorted or spaced, is one too).
fn is_stream_header(head: &[u8]) -> bool {
    let Some(end) = memchr::memchr(b'\n', head) else { return false };
    serde_json::from_slice::<serde_json::Value>(&head[..end])
        .ok()
        .is_some_and(|v| v.get("type").and_then(|t| t.as_str()) == Some("header"))
}

/// The last line of a stream's tail, parsed: is it a trailer?
fn ends_with_trailer(tail: &[u8]) -> bool {
    let t = reshifter_format::trim_newline(tail);
    let last = t.rsplit(|&b| b == b'\n').next().unwrap_or(t);
    serde_json::from_slice::<serde_json::Value>(last)
        .ok()
        .is_some_and(|v| v.get("type").and_then(|t| t.as_str()) == Some("trailer"))
}

/// Judge an input of `total` bytes from its first bytes and its last bytes.
pub fn completeness(head: &[u8], tail: &[u8], total: u64) -> Completeness {
    if head.starts_with(AGE_MAGIC) {
        let t = &tail[tail.len().saturating_sub(END_MAX)..];
        return match find_end_record(t, total) {
            Some((n, _)) => Completeness::Complete("an age-encrypted archive with its end record", n),
            None => Completeness::Incomplete("an age-encrypted archive without archive-pack's end record"),
        };
    }
    if is_stream_header(head) || (head.first() == Some(&b'{') && memchr::memchr(b'\n', head).is_none()) {
        return if ends_with_trailer(tail) {
            Completeness::Complete("a reshifter stream with its trailer", 0)
        } else {
            Completeness::Incomplete("a reshifter stream without its trailer")
        };
    }
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        // The end of central directory record: 22 bytes plus a comment, at the very end.
        let found = (0..tail.len().saturating_sub(21)).rev().any(|i| {
            tail[i..].starts_with(b"PK\x05\x06") && {
                let clen = u16::from_le_bytes([tail[i + 20], tail[i + 21]]) as usize;
                i + 22 + clen == tail.len()
            }
        });
        return if found {
            Completeness::Complete("a ZIP archive with its end record", 0)
        } else {
            Completeness::Incomplete("a ZIP archive without its central directory")
        };
    }
    Completeness::Unknown
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypt::end_record;

    #[test]
    fn completeness_by_format() {
        let h = b"{\"type\":\"header\",\"format\":2}\n";
        assert_eq!(
            completeness(h, b"{\"key\":1}\n{\"type\":\"trailer\",\"count\":1}\n", 0),
            Completeness::Complete("a reshifter stream with its trailer", 0)
        );
        assert!(matches!(completeness(h, b"{\"key\":1}\n", 0), Completeness::Incomplete(_)));
        // jq -S sorts keys: still a stream, still judged.
        let sorted = b"{\"format\":2,\"type\":\"header\"}\n";
        assert!(matches!(completeness(sorted, b"{\"a\":1}\n", 0), Completeness::Incomplete(_)));
        assert!(matches!(
            completeness(sorted, b"{\"count\":0, \"type\":\"trailer\"}\n", 0),
            Completeness::Complete(..)
        ));
        let mut zip = b"PK\x03\x04....PK\x05\x06".to_vec();
        zip.extend_from_slice(&[0u8; 18]);
        assert!(matches!(completeness(&zip, &zip, 0), Completeness::Complete(..)));
        assert!(matches!(completeness(&zip, &zip[..zip.len() - 1], 0), Completeness::Incomplete(_)));
        let age = b"age-encryption.org/v1\n-> X25519 abc\n".to_vec();
        assert!(matches!(completeness(&age, &age, age.len() as u64), Completeness::Incomplete(_)));
        let rec = end_record(age.len() as u64, &[7u8; 32]);
        let whole = [age.clone(), rec.clone()].concat();
        assert_eq!(
            completeness(&whole, &whole, whole.len() as u64),
            Completeness::Complete("an age-encrypted archive with its end record", rec.len())
        );
        // A record that does not fit the size is no record.
        assert!(matches!(completeness(&whole, &whole, whole.len() as u64 + 1), Completeness::Incomplete(_)));
        assert_eq!(completeness(b"hello", b"hello", 5), Completeness::Unknown);
    }

    use reshifter_format::{Header, Record, StreamWriter};

    fn stream() -> Vec<u8> {
        let mut w = StreamWriter::new(Vec::new(), &Header::new("t")).unwrap();
        for i in 0..100u32 {
            w.write(&Record { key: format!("/k{i:03}").into_bytes(), value: vec![b'v'; 100], ..Record::default() })
                .unwrap();
        }
        w.finish().unwrap().0
    }

    fn run(bytes: &[u8]) -> Result<Checked> {
        let mut c = PayloadCheck::start();
        for chunk in bytes.chunks(333) {
            c.feed(chunk)?;
        }
        c.finish()
    }

    #[test]
    fn streams_are_checked_to_their_digests() {
        let s = stream();
        assert_eq!(run(&s).unwrap(), Checked::Stream);
        // A record dropped (as jq without kv-seal would), or a value edited: refused.
        let text = String::from_utf8(s.clone()).unwrap();
        let dropped: String =
            text.lines().enumerate().filter(|(i, _)| *i != 5).map(|(_, l)| format!("{l}\n")).collect();
        assert_eq!(run(dropped.as_bytes()).unwrap_err().kind(), Kind::Integrity);
        let edited = text.replacen("vvvv", "vvvw", 1);
        assert_eq!(run(edited.as_bytes()).unwrap_err().kind(), Kind::Integrity);
        assert_eq!(run(&s[..s.len() - 10]).unwrap_err().kind(), Kind::Truncated);
        assert_eq!(run(b"random bytes").unwrap(), Checked::Nothing);
        assert_eq!(run(b"").unwrap(), Checked::Nothing);
    }
}
