//! archive-unpack: a ZIP archive in, the stream out, every entry verified.
//!
//! Our own archives stream from a pipe in bounded memory: entries are read in order with the zip
//! crate's stream reader (CRC-32 checked), each value is checked against the SHA-256 in its
//! metadata, every record goes through the stream's own checks (key order, prefixes, digests),
//! and at the end the manifest is checked line by line against what was read (a spool file on
//! disk remembers the entries), its trailer against the digests and the header, and the central
//! directory record by record against the entries (names, CRCs, sizes, count) up to an end
//! record that ends the input exactly. Only then is the trailer written: a corrupt, truncated or
//! incomplete archive yields a stream that every consumer refuses.
//!
//! Archives written by other tools (ReShifter's `<backup id>/<key path>/content`) are read with
//! random access; from a pipe they are first spooled to a temporary file.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Seek, SeekFrom};
use std::path::Path;

use crate::HEADER_ENTRY;
use crate::crypt::{AGE_MAGIC, KeyArgs};
use reshifter_format::error::{Error, Kind, Result};
use reshifter_format::io::{BUF_SIZE, Output};
use reshifter_format::pipeline::{FilesSource, Run, Source};
use reshifter_format::report::{human_bytes, secs};
use reshifter_format::{StreamKind, StreamReader};

pub(crate) mod entry;
mod foreign;
mod local;
mod native;
pub(crate) mod options;
mod target;

pub use entry::is_archive;
use entry::{first_entry_name, peek};
use foreign::foreign;
use native::native;
pub use options::{Mode, UnpackOptions};
use target::Unpacked;

/// Run archive-unpack.
pub fn unpack(o: UnpackOptions) -> Result<()> {
    let input = reshifter_format::io::open_input(o.input.as_deref())?;
    unpack_from(&o, input, None)
}

/// A stream or an archive (ZIP or age-encrypted, our layout or ReShifter's) as a [`Source`]. An
/// archive is unpacked on a thread into a pipe; the stream it makes gets its trailer only once
/// the whole archive was verified, and a failure of the unpacking is the records' last item.
pub fn open_records(path: Option<&Path>, keys: KeyArgs) -> Result<Source> {
    match open_any(path, keys, false)? {
        Items::Records(s) => Ok(s),
        Items::Files(f) => Err(Error::bad_line(1, f.header.require_full().err().unwrap_or_default())),
    }
}

/// What an input holds: a keyspace's records, or a files stream's entries.
pub enum Items {
    Records(Source),
    Files(FilesSource),
}

/// [`open_records`] for a tool that also reads files streams: a stream, an archive of either
/// kind, or, with `node_files`, the node's files a keyspace archive carries.
pub fn open_any(path: Option<&Path>, keys: KeyArgs, node_files: bool) -> Result<Items> {
    let input = reshifter_format::io::open_input(path)?;
    let (head, input) = peek(input, AGE_MAGIC.len())?;
    let input: Box<dyn BufRead + Send> = Box::new(BufReader::with_capacity(BUF_SIZE, input));
    if !is_archive(&head) {
        if node_files {
            return Err(Error::new(Kind::Usage, "--node-files reads archives: this input is a stream"));
        }
        return items(input);
    }
    let o = UnpackOptions {
        input: path.map(Path::to_path_buf),
        output: None,
        list: false,
        verify: false,
        prefixes: Vec::new(),
        passphrase_file: keys.passphrase_file,
        identity_file: keys.identity_files,
        encryption_config: None,
        node_files,
        etcd_prefix: Default::default(),
        quiet: true,
        report: Default::default(),
    };
    let (rd, wr) = std::io::pipe()?;
    let job = std::thread::spawn(move || {
        let out = Output::Writer(BufWriter::with_capacity(BUF_SIZE, Box::new(wr)));
        unpack_from(&o, input, Some(out))
    });
    let mut job = Some(job);
    match items(Box::new(BufReader::with_capacity(BUF_SIZE, rd))) {
        Ok(Items::Records(s)) => {
            let it = ArchiveItems { items: s.records, job };
            Ok(Items::Records(Source { header: s.header, records: Box::new(it) }))
        }
        Ok(Items::Files(f)) => {
            let it = ArchiveItems { items: f.entries, job };
            Ok(Items::Files(FilesSource { header: f.header, entries: Box::new(it) }))
        }
        Err(e) => Err(unpacking_error(&mut job).unwrap_or(e)),
    }
}

/// The items of a stream read from `input`, by the kind its header says.
fn items(mut input: Box<dyn BufRead + Send>) -> Result<Items> {
    let (line, header) = reshifter_format::read_any_header(&mut input)?;
    match header.kind {
        StreamKind::Files => {
            let r = reshifter_format::files::FilesReader::after_header(input, line, header.clone())?;
            Ok(Items::Files(FilesSource { header, entries: Box::new(r) }))
        }
        _ => {
            let mut first = line;
            first.push(b'\n');
            let whole: Box<dyn BufRead + Send> = Box::new(std::io::Cursor::new(first).chain(input));
            let r = StreamReader::new(whole)?;
            Ok(Items::Records(Source { header: r.header().clone(), records: Box::new(r) }))
        }
    }
}

type Job = Option<std::thread::JoinHandle<Result<()>>>;

/// The unpacking thread's own error, once it has ended.
fn unpacking_error(job: &mut Job) -> Option<Error> {
    match job.take()?.join() {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e),
        Err(_) => Some(Error::new(Kind::Failure, "the archive reader failed")),
    }
}

/// Items read back from an archive unpacked on a thread: its failure is their last item.
struct ArchiveItems<T> {
    items: Box<dyn Iterator<Item = Result<T>> + Send>,
    job: Job,
}

impl<T> Iterator for ArchiveItems<T> {
    type Item = Result<T>;
    fn next(&mut self) -> Option<Result<T>> {
        match self.items.next() {
            Some(Err(e)) => Some(Err(unpacking_error(&mut self.job).unwrap_or(e))),
            None => unpacking_error(&mut self.job).map(Err),
            some => some,
        }
    }
}

/// archive-unpack on an opened input, writing to `into` when given (else what `o` names).
/// Unpack (or with `o.verify`, check) an archive read from `input`, written nowhere but
/// `o.output` (in memory callers: [`crate::payload`]).
pub fn unpack_reader(o: &UnpackOptions, input: Box<dyn BufRead + Send>) -> Result<()> {
    unpack_from(o, input, None)
}

fn unpack_from(o: &UnpackOptions, input: Box<dyn BufRead + Send>, into: Option<Output>) -> Result<()> {
    let mut run = Run::new(&o.report.or_name("archive-unpack"), o.quiet);
    let (head, input) = peek(input, AGE_MAGIC.len())?;
    if head.is_empty() {
        return Err(Error::new(Kind::Truncated, "empty input: no archive"));
    }
    let encrypted = head.starts_with(AGE_MAGIC);
    let reader: Box<dyn Read + Send> =
        if encrypted { o.keys().decrypt(BufReader::with_capacity(BUF_SIZE, input))? } else { Box::new(input) };
    let (head, reader) = peek(reader, 30 + HEADER_ENTRY.len())?;
    let target = match first_entry_name(&head) {
        Some(name) if name == HEADER_ENTRY.as_bytes() => {
            native(BufReader::with_capacity(BUF_SIZE, reader), o, &mut run, into)?
        }
        Some(_) => {
            // Another writer's archive: random access. A plain file is read in place.
            let file = match &o.input {
                Some(p) if !encrypted && !reshifter_format::io::is_stdio(Some(p)) => File::open(p)?,
                _ => {
                    let mut f = tempfile::tempfile()?;
                    std::io::copy(&mut { reader }, &mut f)?;
                    f.seek(SeekFrom::Start(0))?;
                    f
                }
            };
            Unpacked::Keyspace(foreign(file, o, &mut run, into)?)
        }
        None if head.starts_with(b"PK\x05\x06") => {
            return Err(Error::new(Kind::BadInput, "the archive is empty"));
        }
        None => {
            return Err(Error::new(
                Kind::BadInput,
                "not a ZIP archive (nor an age-encrypted one): it does not start with a ZIP entry",
            ));
        }
    };
    let what = match o.mode() {
        Mode::Verify => "verified",
        Mode::List => "listed",
        Mode::Stream => "unpacked",
    };
    let items = match &target {
        Unpacked::Lines(l) => l.items(),
        Unpacked::Keyspace(_) => "keys",
    };
    run.end(target, |note, t| {
        format!("{what} {} {items}, {} in {}{note}", t.keys, human_bytes(t.bytes), secs(t.elapsed))
    })?;
    Ok(())
}
