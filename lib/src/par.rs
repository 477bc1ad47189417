//! Reading a stream on several threads, with the same checks as [`StreamReader`].
//!
//! A reader thread cuts the input into chunks of whole lines; worker threads parse the lines,
//! hash the values and run the caller's `map` on each record; the calling thread receives the
//! results in stream order, performs the in-order checks ([`Checker`]: key order, digests,
//! trailer) and hands each result to `sink`. Because the content digest is built from per-value
//! SHA-256s, the expensive hashing happens in parallel and the in-order part stays cheap.
//!
//! [`StreamReader`]: crate::format::StreamReader

use std::collections::BTreeMap;
use std::io::{BufRead, Read};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};

use crate::error::{Error, Kind, Result};
use crate::format::{Checker, Header, Line, Record, Trailer, Verify, parse_line_head, read_header, value_sha256};

/// Bytes of each value decoded in [`Verify::Light`] mode.
pub const LIGHT_HEAD: usize = 128;

/// Bytes per chunk handed to a worker (a chunk grows to hold a longer line).
const CHUNK: usize = 2 << 20;

struct Chunk {
    seq: u64,
    data: Vec<u8>,
}

/// A record's value as the workers saw it: its SHA-256 (zero in light mode) and full length.
pub struct ValueInfo {
    pub sha256: [u8; 32],
    pub len: usize,
}

/// What the in-order stage needs to know of a record. Line numbers are relative to the chunk
/// (workers do not know where their chunk starts); the in-order stage adds the offset.
struct Check {
    line_no: u64,
    key: Vec<u8>,
    hash: [u8; 32],
    value_len: usize,
    revs: [i64; 4],
}

enum Item<T> {
    Record(Check, T),
    Trailer(Trailer, u64),
    /// A line that failed, kept to be parsed again with its absolute line number; or an error
    /// from `map`.
    BadLine {
        rel: u64,
        line: Vec<u8>,
        complete: bool,
    },
    Failed(Error),
}

/// A worker's results for one chunk, and how many lines the chunk held.
struct Done<T> {
    seq: u64,
    lines: u64,
    items: Vec<Item<T>>,
}

/// A stream whose header has been read, ready to be read in parallel.
pub struct ParReader {
    input: Box<dyn BufRead + Send>,
    header: Header,
    header_line: Vec<u8>,
    verify: Verify,
}

impl ParReader {
    pub fn new(mut input: Box<dyn BufRead + Send>, verify: Verify) -> Result<Self> {
        let (header_line, header) = read_header(&mut input)?;
        Ok(ParReader { input, header, header_line, verify })
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    pub fn header_line(&self) -> &[u8] {
        &self.header_line
    }

    /// Read every record: `map(record, value_sha256, raw_line)` on `threads` workers, then
    /// `sink(result)` in stream order on this thread. Returns the verified trailer.
    /// With [`Verify::Light`], `record.value` holds only the first [`LIGHT_HEAD`] bytes of the
    /// value and the hash is zero (the raw line still has everything).
    pub fn run<T, M, S>(self, threads: usize, map: M, mut sink: S) -> Result<Trailer>
    where
        T: Send,
        M: Fn(Record, &ValueInfo, &[u8]) -> Result<T> + Sync,
        S: FnMut(T) -> Result<()>,
    {
        let threads = threads.max(1);
        let mut checker = Checker::new(&self.header, self.verify);
        let input = self.input;
        let (chunk_tx, chunk_rx) = sync_channel::<Chunk>(threads * 2);
        let chunk_rx = Arc::new(Mutex::new(chunk_rx));
        let (done_tx, done_rx) = sync_channel::<Done<T>>(threads * 2);
        // Chunk buffers go back to the reader: no fresh pages (and page faults) per chunk.
        let (free_tx, free_rx) = sync_channel::<Vec<u8>>(threads * 4 + 2);
        std::thread::scope(|s| {
            // Owned by this closure so that an early return stops every thread.
            let (done_rx, chunk_rx) = (done_rx, chunk_rx);
            let reader = s.spawn(move || read_chunks(input, chunk_tx, free_rx));
            for _ in 0..threads {
                let (rx, tx, free, map) = (chunk_rx.clone(), done_tx.clone(), free_tx.clone(), &map);
                let light = self.verify == Verify::Light;
                s.spawn(move || work(rx, tx, free, map, light));
            }
            drop(free_tx);
            drop(done_tx);
            drop(chunk_rx);
            let mut pending: BTreeMap<u64, Done<T>> = BTreeMap::new();
            let mut next = 0u64;
            // Absolute line number of the current chunk's first line (the header is line 1).
            let mut base = 2u64;
            let mut trailer: Option<(Trailer, u64)> = None;
            let light = self.verify == Verify::Light;
            for done in done_rx.iter() {
                pending.insert(done.seq, done);
                while let Some(done) = pending.remove(&next) {
                    next += 1;
                    for item in done.items {
                        if let Some((_, line)) = &trailer {
                            return Err(Error::bad_line(line + 1, "data after the trailer"));
                        }
                        match item {
                            Item::Record(c, t) => {
                                let [cr, mr, v, l] = c.revs;
                                checker.record(base + c.line_no, &c.key, &c.hash, c.value_len, cr, mr, v, l)?;
                                sink(t)?;
                            }
                            Item::Trailer(t, rel) => {
                                checker.trailer(&t, base + rel)?;
                                trailer = Some((t, base + rel));
                            }
                            Item::BadLine { rel, line, complete } => {
                                let head = light.then_some(LIGHT_HEAD);
                                return Err(parse_line_head(&line, base + rel, complete, head).err().unwrap_or_else(
                                    || Error::new(Kind::Failure, "a line failed to parse, then parsed"),
                                ));
                            }
                            Item::Failed(e) => return Err(e),
                        }
                    }
                    base += done.lines;
                }
            }
            reader.join().map_err(|_| Error::new(Kind::Failure, "the stream reader panicked"))??;
            trailer.map(|(t, _)| t).ok_or_else(|| checker.truncated())
        })
    }
}

/// Cut the input into chunks that end at a newline (the last one may not).
fn read_chunks(mut input: Box<dyn BufRead + Send>, tx: SyncSender<Chunk>, free: Receiver<Vec<u8>>) -> Result<()> {
    let mut seq = 0u64;
    let mut carry: Vec<u8> = Vec::new();
    loop {
        let mut data = free.try_recv().unwrap_or_default();
        data.clear();
        data.append(&mut carry);
        data.reserve(CHUNK);
        let want = CHUNK as u64;
        let got = (&mut input).take(want).read_to_end(&mut data)? as u64;
        let eof = got < want;
        let cut = if eof {
            data.len()
        } else {
            match memchr::memrchr(b'\n', &data) {
                Some(i) => i + 1,
                None => {
                    // A line longer than a chunk: read on.
                    carry = data;
                    continue;
                }
            }
        };
        carry.extend_from_slice(&data[cut..]);
        data.truncate(cut);
        if data.is_empty() {
            return Ok(());
        }
        if tx.send(Chunk { seq, data }).is_err() {
            return Ok(());
        }
        seq += 1;
        if eof {
            return Ok(());
        }
    }
}

fn work<T, M>(rx: Arc<Mutex<Receiver<Chunk>>>, tx: SyncSender<Done<T>>, free: SyncSender<Vec<u8>>, map: &M, light: bool)
where
    M: Fn(Record, &ValueInfo, &[u8]) -> Result<T>,
{
    loop {
        let next = rx.lock().expect("chunk queue").recv();
        let Ok(chunk) = next else { return };
        let mut items = Vec::new();
        let mut line_no = 0u64;
        let mut rest = &chunk.data[..];
        while !rest.is_empty() {
            let (line, complete, after) = match memchr::memchr(b'\n', rest) {
                Some(i) => (&rest[..i], true, &rest[i + 1..]),
                None => (rest, false, &rest[rest.len()..]),
            };
            rest = after;
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            match parse_line_head(line, line_no, complete, light.then_some(LIGHT_HEAD)) {
                Ok((Line::Record(r), value_len)) => {
                    // In light mode the value is only its head: no hash.
                    let hash = if light { [0u8; 32] } else { value_sha256(&r.value) };
                    let check = Check {
                        line_no,
                        key: r.key.clone(),
                        hash,
                        value_len,
                        revs: [r.create_revision, r.mod_revision, r.version, r.lease],
                    };
                    match map(r, &ValueInfo { sha256: hash, len: value_len }, line) {
                        Ok(t) => items.push(Item::Record(check, t)),
                        Err(e) => {
                            items.push(Item::Failed(e));
                            break;
                        }
                    }
                }
                Ok((Line::Trailer(t), _)) => items.push(Item::Trailer(t, line_no)),
                Err(_) => {
                    items.push(Item::BadLine { rel: line_no, line: line.to_vec(), complete });
                    break;
                }
            }
            line_no += 1;
        }
        let _ = free.try_send(chunk.data);
        if tx.send(Done { seq: chunk.seq, lines: line_no, items }).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{StreamReader, StreamWriter};

    fn stream(n: usize) -> Vec<u8> {
        let mut w = StreamWriter::new(Vec::new(), &Header::new("t")).unwrap();
        for i in 0..n {
            let r = Record {
                key: format!("/k/{i:08}").into_bytes(),
                value: vec![b'x'; i % 3000],
                create_revision: 1,
                mod_revision: 2,
                version: 1,
                lease: 0,
            };
            w.write(&r).unwrap();
        }
        w.finish().unwrap().0
    }

    fn par_keys(bytes: Vec<u8>) -> Result<Vec<Vec<u8>>> {
        let r = ParReader::new(Box::new(std::io::Cursor::new(bytes)), Verify::Full)?;
        let mut keys = Vec::new();
        r.run(
            3,
            |rec, _, _| Ok(rec.key),
            |k| {
                keys.push(k);
                Ok(())
            },
        )?;
        Ok(keys)
    }

    #[test]
    fn same_records_and_errors_as_the_sequential_reader() {
        let s = stream(5000);
        let seq: Vec<Vec<u8>> = StreamReader::new(&s[..]).unwrap().map(|r| r.unwrap().key).collect();
        assert!(par_keys(s.clone()).unwrap() == seq);
        for cut in [s.len() - 1, s.len() - 2, s.len() - 300, s.len() / 2, 2_000_000] {
            let a = par_keys(s[..cut].to_vec()).map(|k| k.len()).map_err(|e| e.to_string());
            let b = StreamReader::new(&s[..cut])
                .unwrap()
                .collect::<Result<Vec<_>>>()
                .map(|k| k.len())
                .map_err(|e| e.to_string());
            assert_eq!(a, b, "cut at {cut}");
        }
        let mut extra = s.clone();
        extra.extend_from_slice(b"{}\n");
        assert_eq!(par_keys(extra).unwrap_err().to_string(), "line 5003: data after the trailer");
    }
}
