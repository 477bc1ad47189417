//! What a payload is and whether it is whole, checked as it streams by (s3-push's upload): the
//! formats' own readers run over the bytes on a thread of their own, so "verified" means the
//! digests were checked, not that the input merely ended like a stream.
//!
//! - a reshifter stream (keyspace or delta): read through, every line and the trailer's digests;
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

use crate::crypt::AGE_MAGIC;
use crate::unpack::{UnpackOptions, is_archive};

/// What was checked of a payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checked {
    /// A keyspace stream, its records and trailer digests.
    Stream,
    /// A delta stream, its events and trailer digests.
    Delta,
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

#[cfg(test)]
mod tests {
    use super::*;
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
