//! Reading a stream on several threads, with the same checks as [`StreamReader`].
//!
//! A reader thread cuts the input into chunks of whole lines; worker threads parse the lines,
//! hash the values and run the caller's `map` on each record; the calling thread receives the
//! results in stream order, performs the in-order checks ([`Checker`]: key order, digests,
//! trailer) and hands each result to `sink`. Because the content digest is built from per-value
//! SHA-256s, the expensive hashing happens in parallel and the in-order part stays cheap.
//!
//! A regular file named on the command line is mapped into memory instead of read: the chunks
//! are then slices of the mapping, with no copy (the kernel pages it in as the workers go).
//!
//! [`StreamReader`]: crate::StreamReader

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, Read};
use std::ops::Range;
use std::os::fd::AsFd;
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};

use crate::delta::DeltaReader;
use crate::error::{Error, Kind, Result};
use crate::{
    Checker, Header, Line, MAX_LINE, Record, RecordMeta, StreamKind, Trailer, Verify, parse_line_head, read_any_header,
    read_header, value_sha256,
};

/// Build a tokio runtime for a tool. Few worker threads: each thread that allocates gets its own
/// malloc arena, and arenas hold on to freed pages (RSS).
pub fn runtime(workers: usize) -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_all().build()?)
}

/// Worker threads for reading a stream: the cores, at most 4 (more only contend for the input).
pub fn workers() -> usize {
    cores().min(4)
}

/// The cores this process may use (2 when unknown): the default number of workers.
pub fn cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)
}

/// Bytes of each value decoded in [`Verify::Light`] mode.
pub const LIGHT_HEAD: usize = 128;

/// Bytes per chunk handed to a worker (a chunk grows to hold a longer line).
const CHUNK: usize = 2 << 20;

struct Chunk {
    seq: u64,
    data: Data,
}

/// A chunk's bytes: read into a buffer, or a range of a mapped file.
enum Data {
    Owned(Vec<u8>),
    Mapped(Arc<memmap2::Mmap>, Range<usize>),
}

impl std::ops::Deref for Data {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Data::Owned(v) => v,
            Data::Mapped(m, r) => &m[r.clone()],
        }
    }
}

/// Where the records come from once the header has been read.
enum Input {
    Stream(Box<dyn BufRead + Send>),
    /// A mapped file and the offset of its first record line.
    Mapped(Arc<memmap2::Mmap>, usize),
}

/// What the in-order stage needs to know of a record. Line numbers are relative to the chunk
/// (workers do not know where their chunk starts); the in-order stage adds the offset.
struct Check {
    line_no: u64,
    meta: RecordMeta,
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
    input: Input,
    header: Header,
    header_line: Vec<u8>,
    verify: Verify,
}

/// An input opened by [`ParReader::open_any`]: a keyspace stream, read in parallel, or a delta
/// stream, read in order. (Made once per run: its size does not matter.)
#[allow(clippy::large_enum_variant)]
pub enum Opened {
    Keyspace(ParReader),
    Delta(DeltaReader<Box<dyn BufRead + Send>>),
    Files(crate::files::FilesReader<Box<dyn BufRead + Send>>),
}

/// A mapped file read as a `BufRead` from an offset (for a delta stream in a mapped file).
struct MapRead {
    map: Arc<memmap2::Mmap>,
    pos: usize,
}

impl std::io::Read for MapRead {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = std::io::Read::read(&mut &self.map[self.pos..], buf)?;
        self.pos += n;
        Ok(n)
    }
}

impl BufRead for MapRead {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        let end = self.map.len().min(self.pos + crate::io::BUF_SIZE);
        Ok(&self.map[self.pos..end])
    }
    fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.map.len());
    }
}

impl ParReader {
    pub fn new(mut input: Box<dyn BufRead + Send>, verify: Verify) -> Result<Self> {
        let (header_line, header) = read_header(&mut input)?;
        Ok(ParReader { input: Input::Stream(input), header, header_line, verify })
    }

    /// [`ParReader::open`] for a tool that also takes delta and files streams.
    pub fn open_any(path: Option<&Path>, verify: Verify) -> Result<Opened> {
        let reader = Self::open_unchecked(path, verify)?;
        if reader.header.kind == StreamKind::Full {
            return Ok(Opened::Keyspace(reader));
        }
        let input: Box<dyn BufRead + Send> = match reader.input {
            Input::Stream(s) => s,
            Input::Mapped(map, pos) => Box::new(MapRead { map, pos }),
        };
        if reader.header.kind == StreamKind::Files {
            return Ok(Opened::Files(crate::files::FilesReader::after_header(
                input,
                reader.header_line,
                reader.header,
            )?));
        }
        Ok(Opened::Delta(DeltaReader::after_header(input, reader.header_line, reader.header)?))
    }

    /// Open the input named on the command line (`None` or `-`: stdin). A non-empty regular
    /// file is mapped; anything else (stdin, a pipe, a FIFO) is read as a stream. A delta
    /// stream is refused.
    pub fn open(path: Option<&Path>, verify: Verify) -> Result<Self> {
        let r = Self::open_unchecked(path, verify)?;
        r.header.require_full().map_err(|e| Error::bad_line(1, e))?;
        Ok(r)
    }

    fn open_unchecked(path: Option<&Path>, verify: Verify) -> Result<Self> {
        if let Some(p) = path.filter(|p| !crate::io::is_stdio(Some(p))) {
            let file = crate::io::open_file(p)?;
            return match Self::mapped(&file, 0, verify) {
                Some(r) => r,
                None => Self::new_any(Box::new(std::io::BufReader::with_capacity(crate::io::BUF_SIZE, file)), verify),
            };
        }
        // Standard input redirected from a file (`< f`) is mapped too, from where its offset is.
        if let Some(mut file) = std::io::stdin().as_fd().try_clone_to_owned().ok().map(File::from)
            && let Ok(pos) = std::io::Seek::stream_position(&mut file)
            && let Some(r) = Self::mapped(&file, pos, verify)
        {
            return r;
        }
        Self::new_any(crate::io::open_input(None)?, verify)
    }

    fn new_any(mut input: Box<dyn BufRead + Send>, verify: Verify) -> Result<Self> {
        let (header_line, header) = read_any_header(&mut input)?;
        Ok(ParReader { input: Input::Stream(input), header, header_line, verify })
    }

    /// Map `file` and read its header at `pos`, if it is a regular file with data after `pos`
    /// that can be mapped; `None` means: read it as a stream.
    fn mapped(file: &File, pos: u64, verify: Verify) -> Option<Result<Self>> {
        if !file.metadata().is_ok_and(|m| m.is_file() && m.len() > pos) {
            return None;
        }
        let map = map_file(file)?;
        let _ = map.advise(memmap2::Advice::Sequential);
        let start = usize::try_from(pos).ok()?;
        let mut head: &[u8] = &map[start..];
        let read = read_any_header(&mut head);
        let offset = map.len() - head.len();
        Some(read.map(|(header_line, header)| ParReader {
            input: Input::Mapped(Arc::new(map), offset),
            header,
            header_line,
            verify,
        }))
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    pub fn header_line(&self) -> &[u8] {
        &self.header_line
    }

    /// Read every record: `map(record, its metadata, raw_line)` on `threads` workers, then
    /// `sink(result)` in stream order on this thread. Returns the verified trailer.
    /// With [`Verify::Light`], `record.value` holds only the first [`LIGHT_HEAD`] bytes of the
    /// value and the hash is zero (the raw line still has everything).
    pub fn run<T, M, S>(self, threads: usize, map: M, mut sink: S) -> Result<Trailer>
    where
        T: Send,
        M: Fn(Record, &RecordMeta, &[u8]) -> Result<T> + Sync,
        S: FnMut(T) -> Result<()>,
    {
        let threads = threads.max(1);
        let light = self.verify == Verify::Light;
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
            let reader = s.spawn(move || match input {
                Input::Stream(input) => read_chunks(input, chunk_tx, free_rx),
                Input::Mapped(map, offset) => map_chunks(map, offset, chunk_tx),
            });
            for _ in 0..threads {
                let (rx, tx, free, map) = (chunk_rx.clone(), done_tx.clone(), free_tx.clone(), &map);
                // Decoded objects may nest as deep as the API server allows: a big stack.
                std::thread::Builder::new()
                    .stack_size(crate::json::WORKER_STACK)
                    .spawn_scoped(s, move || work(rx, tx, free, map, light))
                    .expect("cannot start a worker thread");
            }
            drop(free_tx);
            drop(done_tx);
            drop(chunk_rx);
            let mut pending: BTreeMap<u64, Done<T>> = BTreeMap::new();
            let mut next = 0u64;
            // Absolute line number of the current chunk's first line (the header is line 1).
            let mut base = 2u64;
            let mut trailer: Option<(Trailer, u64)> = None;
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
                                checker.record(base + c.line_no, &c.meta)?;
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

/// Cut the input into chunks that end at a newline (the last one may not). A line longer than a
/// chunk grows its chunk — scanning only the new bytes for its end — up to [`MAX_LINE`].
fn read_chunks(mut input: Box<dyn BufRead + Send>, tx: SyncSender<Chunk>, free: Receiver<Vec<u8>>) -> Result<()> {
    let mut seq = 0u64;
    let mut carry: Vec<u8> = Vec::new();
    // Bytes of `carry` known to hold no newline.
    let mut scanned = 0usize;
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
            match memchr::memrchr(b'\n', &data[scanned..]) {
                Some(i) => scanned + i + 1,
                None => {
                    // A line longer than a chunk: read on.
                    if data.len() > MAX_LINE {
                        return Err(line_too_long());
                    }
                    scanned = data.len();
                    carry = data;
                    continue;
                }
            }
        };
        scanned = 0;
        carry.extend_from_slice(&data[cut..]);
        data.truncate(cut);
        if data.is_empty() {
            return Ok(());
        }
        if tx.send(Chunk { seq, data: Data::Owned(data) }).is_err() {
            return Ok(());
        }
        seq += 1;
        if eof {
            return Ok(());
        }
    }
}

/// Map a file for reading. The one place (with [`release`]) where this crate uses `unsafe`.
#[allow(unsafe_code)]
fn map_file(file: &File) -> Option<memmap2::Mmap> {
    // SAFETY: the mapping is only read, never written. A file truncated by another process while
    // we read it would fault (SIGBUS) rather than be read short: either way the tool dies before
    // it writes a trailer, so nothing downstream looks complete.
    unsafe { memmap2::Mmap::map(file) }.ok()
}

/// Unmap the whole pages of `r` from this process; reading them again would fault them back in
/// from the file, unchanged.
#[allow(unsafe_code)]
fn release(map: &memmap2::Mmap, r: Range<usize>) {
    const PAGE: usize = 4096;
    let start = r.start.div_ceil(PAGE) * PAGE;
    let end = r.end / PAGE * PAGE;
    if end > start {
        // SAFETY: a read-only file mapping: after MADV_DONTNEED its pages read back from the file.
        let _ = unsafe { map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, start, end - start) };
    }
}

fn line_too_long() -> Error {
    Error::new(Kind::BadInput, format!("a line is longer than {} MiB: this is not a reshifter stream", MAX_LINE >> 20))
}

/// Cut a mapped file into chunks that end at a newline (the last one may not). A line longer
/// than a chunk extends its chunk up to [`MAX_LINE`].
fn map_chunks(map: Arc<memmap2::Mmap>, mut pos: usize, tx: SyncSender<Chunk>) -> Result<()> {
    let mut seq = 0u64;
    while pos < map.len() {
        let end = (pos + CHUNK).min(map.len());
        let cut = if end == map.len() {
            end
        } else {
            match memchr::memrchr(b'\n', &map[pos..end]) {
                Some(i) => pos + i + 1,
                // A line longer than a chunk (it starts at `pos`): up to its end, within the cap.
                None => {
                    let limit = (pos + MAX_LINE + 1).min(map.len());
                    match memchr::memchr(b'\n', &map[end..limit]) {
                        Some(i) => end + i + 1,
                        None if limit == map.len() && limit - pos <= MAX_LINE => limit,
                        None => return Err(line_too_long()),
                    }
                }
            }
        };
        if tx.send(Chunk { seq, data: Data::Mapped(map.clone(), pos..cut) }).is_err() {
            return Ok(());
        }
        seq += 1;
        pos = cut;
    }
    Ok(())
}

fn work<T, M>(rx: Arc<Mutex<Receiver<Chunk>>>, tx: SyncSender<Done<T>>, free: SyncSender<Vec<u8>>, map: &M, light: bool)
where
    M: Fn(Record, &RecordMeta, &[u8]) -> Result<T>,
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
                    let meta = RecordMeta { len: value_len, ..r.meta_with(hash) };
                    match map(r, &meta, line) {
                        Ok(t) => items.push(Item::Record(Check { line_no, meta }, t)),
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
        match chunk.data {
            Data::Owned(buf) => {
                let _ = free.try_send(buf);
            }
            // Done with these pages: drop them from this process (they stay in the page cache),
            // so that resident memory does not grow with the file.
            Data::Mapped(map, r) => release(&map, r),
        }
        if tx.send(Done { seq: chunk.seq, lines: line_no, items }).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{StreamReader, StreamWriter};

    fn stream(n: usize) -> Vec<u8> {
        let mut w = StreamWriter::new(Vec::new(), &Header::new("t")).unwrap();
        for i in 0..n {
            let r = Record {
                key: format!("/k/{i:08}").into_bytes(),
                // A few lines longer than a chunk.
                value: vec![b'x'; if i % 1700 == 1 { 3 * CHUNK + i } else { i % 3000 }],
                create_revision: 1,
                mod_revision: 2,
                version: 1,
                lease: 0,
            };
            w.write(&r).unwrap();
        }
        w.finish().unwrap().0
    }

    /// Read with the parallel reader, from a stream or (`mapped`) from a mapped file.
    fn par_keys(bytes: Vec<u8>, mapped: bool) -> Result<Vec<Vec<u8>>> {
        let file = tempfile::NamedTempFile::new().unwrap();
        let r = if mapped {
            std::fs::write(file.path(), &bytes).unwrap();
            let r = ParReader::open(Some(file.path()), Verify::Full)?;
            assert!(matches!(r.input, Input::Mapped(..)) || bytes.is_empty());
            r
        } else {
            ParReader::new(Box::new(std::io::Cursor::new(bytes)), Verify::Full)?
        };
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
        for mapped in [false, true] {
            assert!(par_keys(s.clone(), mapped).unwrap() == seq, "mapped: {mapped}");
            for cut in [s.len() - 1, s.len() - 2, s.len() - 300, s.len() / 2, 2_000_000, CHUNK * 3 + 1000] {
                let a = par_keys(s[..cut].to_vec(), mapped).map(|k| k.len()).map_err(|e| e.to_string());
                let b = StreamReader::new(&s[..cut])
                    .unwrap()
                    .collect::<Result<Vec<_>>>()
                    .map(|k| k.len())
                    .map_err(|e| e.to_string());
                assert_eq!(a, b, "cut at {cut}, mapped: {mapped}");
            }
            let mut extra = s.clone();
            extra.extend_from_slice(b"{}\n");
            assert_eq!(par_keys(extra, mapped).unwrap_err().to_string(), "line 5003: data after the trailer");
        }
    }
}
