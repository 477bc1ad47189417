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

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Cursor, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use zip::result::ZipError;

use super::cdir::{EntryLog, check_central_directory};
use super::crypt::{AGE_MAGIC, KeyArgs};
use super::path::{is_hashed, key_of, reshifter_key};
use super::{HEADER_ENTRY, MANIFEST_ENTRY, decode_meta};
use reshifter_format::error::{Error, Kind, Result};
use reshifter_format::io::{BUF_SIZE, Output};
use reshifter_format::pipeline::{self, Run, Source, Tally};
use reshifter_format::report::{human_bytes, secs};
use reshifter_format::{
    Checker, Header, MAX_LINE, MAX_VALUE, Record, StreamKind, StreamReader, StreamWriter, Verify, lease_hex,
    narrowed_header, parse_any_header, push_bytes_field, push_json_str, read_line_capped, show_key,
};
use reshifter_k8s::atrest::{self, AtRest};

/// What archive-unpack produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The stream.
    Stream,
    /// One NDJSON line per key: key, path, size, sha256, revisions, lease (no values).
    List,
    /// Nothing: check everything, report on stderr.
    Verify,
}

/// archive-unpack's command-line options.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct UnpackOptions {
    /// Archive to read (default: stdin)
    #[arg(value_name = "INPUT")]
    pub input: Option<PathBuf>,

    /// Write to FILE (renamed into place when complete) instead of stdout
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// List keys, paths, sizes, checksums and revisions as NDJSON, without values
    #[arg(long, conflicts_with = "verify")]
    pub list: bool,

    /// Check everything and output nothing
    #[arg(long)]
    pub verify: bool,

    /// Only keys starting with PREFIX (repeatable); the whole archive is still verified
    #[arg(long = "prefix", value_name = "PREFIX")]
    pub prefixes: Vec<String>,

    /// Passphrase of an encrypted archive, in FILE (or set RESHIFTER_PASSPHRASE)
    #[arg(long, value_name = "FILE", help_heading = "Decryption (age)")]
    pub passphrase_file: Option<PathBuf>,

    /// age identity (private key) file for an encrypted archive (or set RESHIFTER_IDENTITY_FILE)
    #[arg(long, value_name = "FILE", help_heading = "Decryption (age)")]
    pub identity_file: Vec<PathBuf>,

    /// With --verify: the API server's EncryptionConfiguration; every value encrypted at rest is
    /// decrypted, the count per key is reported, and any that does not decrypt fails (exit 5)
    #[arg(long, value_name = "FILE", requires = "verify")]
    pub encryption_config: Option<PathBuf>,

    /// No summary on stderr
    #[arg(short, long)]
    pub quiet: bool,
}

impl UnpackOptions {
    pub fn mode(&self) -> Mode {
        if self.list {
            Mode::List
        } else if self.verify {
            Mode::Verify
        } else {
            Mode::Stream
        }
    }

    pub fn keys(&self) -> KeyArgs {
        KeyArgs {
            passphrase_file: self.passphrase_file.clone(),
            identity_files: self.identity_file.clone(),
            ..Default::default()
        }
    }
}

/// Most entries a foreign archive may hold (they are sorted in memory).
const MAX_FOREIGN_ENTRIES: usize = 5_000_000;

/// The latest time a ReShifter backup id (Unix seconds) can name: 9999-12-31T23:59:59Z.
const MAX_BACKUP_ID: u64 = 253_402_300_799;

/// A reader with its first bytes put back in front.
type Peeked<R> = std::io::Chain<Cursor<Vec<u8>>, R>;

/// Read up to `n` bytes without losing them.
fn peek<R: Read>(mut r: R, n: usize) -> std::io::Result<(Vec<u8>, Peeked<R>)> {
    let mut head = Vec::with_capacity(n);
    (&mut r).take(n as u64).read_to_end(&mut head)?;
    Ok((head.clone(), Cursor::new(head).chain(r)))
}

/// The name of the first local file header in `head` (cut at the end of `head`), if it is one.
fn first_entry_name(head: &[u8]) -> Option<&[u8]> {
    if head.len() < 30 || head[..4] != [0x50, 0x4b, 0x03, 0x04] {
        return None;
    }
    let n = u16::from_le_bytes([head[26], head[27]]) as usize;
    Some(&head[30..(30 + n).min(head.len())])
}

/// Where records go, by mode.
struct Target {
    mode: Mode,
    prefixes: Vec<Vec<u8>>,
    stream: Option<StreamWriter<Output>>,
    list: Option<Output>,
    line: Vec<u8>,
    at_rest: Option<AtRestCheck>,
}

/// --verify --encryption-config: what each `provider/key name` decrypted, and what did not.
struct AtRestCheck {
    config: AtRest,
    /// `provider/key` → (decrypted, failed).
    keys: BTreeMap<String, (u64, u64)>,
    first_failure: Option<String>,
}

impl AtRestCheck {
    fn see(&mut self, r: &Record) {
        let Some((provider, _, name, _)) = atrest::envelope(&r.value) else { return };
        let slot = self.keys.entry(format!("{provider}/{name}")).or_default();
        match self.config.open(&r.key, &r.value) {
            Some(Ok(_)) => slot.0 += 1,
            Some(Err(e)) => {
                slot.1 += 1;
                self.first_failure.get_or_insert_with(|| format!("{}: {e}", show_key(&r.key)));
            }
            None => {}
        }
    }

    /// The report, or the error when any value did not decrypt.
    fn end(self) -> Result<String> {
        let per: Vec<String> = self
            .keys
            .iter()
            .map(
                |(k, (ok, bad))| {
                    if *bad > 0 { format!("{k} {ok} decrypted, {bad} not") } else { format!("{k} {ok} decrypted") }
                },
            )
            .collect();
        let bad: u64 = self.keys.values().map(|c| c.1).sum();
        if let Some(first) = self.first_failure {
            return Err(Error::new(
                Kind::Integrity,
                format!(
                    "{bad} encrypted values do not decrypt with --encryption-config (restored, the API server could not read them); the first: {first}"
                ),
            ));
        }
        Ok(if per.is_empty() {
            "; no value encrypted at rest".into()
        } else {
            format!("; encrypted at rest: {}", per.join(", "))
        })
    }
}

impl Target {
    /// `into`: the output to write instead of the one the options name.
    fn new(o: &UnpackOptions, header_line: &[u8], header: &Header, into: Option<Output>) -> Result<Self> {
        let prefixes: Vec<Vec<u8>> = o.prefixes.iter().map(|p| p.as_bytes().to_vec()).collect();
        let (mut stream, mut list) = (None, None);
        match o.mode() {
            Mode::Stream => {
                let out = match into {
                    Some(out) => out,
                    None => Output::create(o.output.as_deref())?,
                };
                stream = Some(if prefixes.is_empty() {
                    StreamWriter::with_header_line(out, header_line, header)?
                } else {
                    // Narrowed, never replaced: the output claims no more than the archive did.
                    let history = format!("archive-unpack --prefix {}", o.prefixes.join(" --prefix "));
                    StreamWriter::new(out, &narrowed_header(header, &o.prefixes, history))?
                });
            }
            Mode::List => list = Some(Output::create(o.output.as_deref())?),
            Mode::Verify => {}
        }
        let at_rest = match &o.encryption_config {
            Some(p) => Some(AtRestCheck {
                config: AtRest::load(p).map_err(|e| Error::new(Kind::Usage, e.to_string()))?,
                keys: BTreeMap::new(),
                first_failure: None,
            }),
            None => None,
        };
        Ok(Target { mode: o.mode(), prefixes, stream, list, line: Vec::new(), at_rest })
    }

    fn wanted(&self, key: &[u8]) -> bool {
        self.prefixes.is_empty() || self.prefixes.iter().any(|p| key.starts_with(p))
    }

    fn put(&mut self, r: &Record, path: &str, sha: &[u8; 32]) -> Result<()> {
        if !self.wanted(&r.key) {
            return Ok(());
        }
        match self.mode {
            Mode::Stream => self.stream.as_mut().expect("stream").write(r)?,
            Mode::List => {
                let l = &mut self.line;
                l.clear();
                l.push(b'{');
                push_bytes_field(l, "key", &r.key);
                l.extend_from_slice(b",\"path\":");
                push_json_str(l, path.as_bytes());
                let _ = write!(
                    l,
                    ",\"size\":{},\"sha256\":\"{}\",\"create_revision\":{},\"mod_revision\":{},\"version\":{}",
                    r.value.len(),
                    hex::encode(sha),
                    r.create_revision,
                    r.mod_revision,
                    r.version
                );
                if r.lease != 0 {
                    let _ = write!(l, ",\"lease\":\"{}\"", lease_hex(r.lease));
                }
                l.extend_from_slice(b"}\n");
                self.list.as_mut().expect("list").write_all(l)?;
            }
            Mode::Verify => {
                if let Some(c) = &mut self.at_rest {
                    c.see(r);
                }
            }
        }
        Ok(())
    }
}

/// What an archive unpacks into: a keyspace stream, or a delta stream.
enum Unpacked {
    Keyspace(Target),
    Delta(super::delta::DeltaTarget),
}

impl pipeline::Sink for Unpacked {
    /// What --encryption-config found (for the summary).
    type Closed = String;
    fn close(self) -> Result<String> {
        match self {
            Unpacked::Keyspace(t) => t.close(),
            Unpacked::Delta(t) => t.close().map(|()| String::new()),
        }
    }
}

impl pipeline::Sink for Target {
    type Closed = String;

    /// Everything checked: write the trailer and put the output in place.
    fn close(self) -> Result<String> {
        if let Some(w) = self.stream {
            w.close()?;
        }
        if let Some(l) = self.list {
            l.finish()?;
        }
        self.at_rest.map_or(Ok(String::new()), AtRestCheck::end)
    }
}

/// Run archive-unpack.
pub fn unpack(o: UnpackOptions) -> Result<()> {
    let input = reshifter_format::io::open_input(o.input.as_deref())?;
    unpack_from(&o, input, None)
}

/// True when input starting with `head` is an archive (a ZIP, or an age file) rather than a
/// stream.
pub fn is_archive(head: &[u8]) -> bool {
    head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") || head.starts_with(AGE_MAGIC)
}

/// A stream or an archive (ZIP or age-encrypted, our layout or ReShifter's) as a [`Source`]. An
/// archive is unpacked on a thread into a pipe; the stream it makes gets its trailer only once
/// the whole archive was verified, and a failure of the unpacking is the records' last item.
pub fn open_records(path: Option<&Path>, keys: KeyArgs) -> Result<Source> {
    let input = reshifter_format::io::open_input(path)?;
    let (head, input) = peek(input, AGE_MAGIC.len())?;
    let input: Box<dyn BufRead + Send> = Box::new(BufReader::with_capacity(BUF_SIZE, input));
    if !is_archive(&head) {
        let r = StreamReader::new(input)?;
        return Ok(Source { header: r.header().clone(), records: Box::new(r) });
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
        quiet: true,
    };
    let (rd, wr) = std::io::pipe()?;
    let job = std::thread::spawn(move || {
        let out = Output::Writer(BufWriter::with_capacity(BUF_SIZE, Box::new(wr)));
        unpack_from(&o, input, Some(out))
    });
    let mut job = Some(job);
    let reader = StreamReader::new(BufReader::with_capacity(BUF_SIZE, rd));
    let reader = match reader {
        Ok(r) => r,
        Err(e) => return Err(unpacking_error(&mut job).unwrap_or(e)),
    };
    Ok(Source { header: reader.header().clone(), records: Box::new(ArchiveRecords { reader, job }) })
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

/// Records read back from an archive unpacked on a thread.
struct ArchiveRecords {
    reader: StreamReader<BufReader<std::io::PipeReader>>,
    job: Job,
}

impl Iterator for ArchiveRecords {
    type Item = Result<Record>;
    fn next(&mut self) -> Option<Result<Record>> {
        match self.reader.next() {
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
    let mut run = Run::new("archive-unpack", o.quiet);
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
    run.end(target, |note, t| {
        format!("{what} {} keys, {} in {}{note}", t.keys, human_bytes(t.bytes), secs(t.elapsed))
    })?;
    Ok(())
}

fn progress_line(t: &Tally) -> String {
    format!("{} keys, {}", t.keys, human_bytes(t.bytes))
}

/// Name the entry an error happened in.
pub(crate) fn entry_error(after: &str, e: ZipError) -> Error {
    match e {
        ZipError::Io(io) => {
            if let Some(inner) = io.get_ref().and_then(|i| i.downcast_ref::<Error>()) {
                return Error::new(inner.kind(), format!("in or after entry {after}: {}", inner.message()));
            }
            match io.kind() {
                std::io::ErrorKind::UnexpectedEof => Error::new(
                    Kind::Truncated,
                    format!("the archive is truncated (in or after entry {after}): it is incomplete"),
                ),
                _ if io.to_string().contains("checksum") => {
                    Error::new(Kind::Integrity, format!("entry {after}: CRC-32 mismatch: the archive is corrupt"))
                }
                _ => Error::new(Kind::BadInput, format!("entry {after}: {io}: the archive is corrupt")),
            }
        }
        other => Error::new(Kind::BadInput, format!("after entry {after}: {other}: the archive is corrupt")),
    }
}

/// An entry's data, at most `cap` bytes, which must be the size its header claims.
pub(crate) fn read_entry_data(f: &mut impl Read, name: &str, claimed: u64, cap: usize) -> Result<Vec<u8>> {
    if claimed > cap as u64 {
        return Err(Error::new(
            Kind::BadInput,
            format!(
                "entry {name} claims {claimed} bytes, more than the {} MiB allowed: the archive is corrupt",
                cap >> 20
            ),
        ));
    }
    let mut v = Vec::with_capacity(claimed as usize);
    // One byte more than claimed tells a lying size from a true one, without inflating a bomb.
    f.take(claimed + 1).read_to_end(&mut v).map_err(|e| entry_error(name, ZipError::Io(e)))?;
    if v.len() as u64 != claimed {
        return Err(Error::new(
            Kind::Integrity,
            format!("entry {name}: {} bytes instead of {claimed}: the archive is corrupt", v.len()),
        ));
    }
    Ok(v)
}

/// A `kv-long/<sha256 of key>/key` entry: the key of the `content` entry that follows.
fn long_key_dir(name: &str) -> Option<&str> {
    name.strip_prefix("kv-long/")?.strip_suffix("/key")
}

/// A reader that remembers whether its input ended: an entry that cannot be read because the
/// input ended inside its local header is a truncated archive (exit 4), not a corrupt one.
struct EofSeen<R> {
    inner: R,
    eof: std::rc::Rc<std::cell::Cell<bool>>,
}

impl<R: Read> Read for EofSeen<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() {
            self.eof.set(true);
        }
        Ok(n)
    }
}

impl<R: BufRead> BufRead for EofSeen<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        let b = self.inner.fill_buf()?;
        if b.is_empty() {
            self.eof.set(true);
        }
        Ok(b)
    }
    fn consume(&mut self, n: usize) {
        self.inner.consume(n);
    }
}

/// A reading error, as truncation when the input had ended.
fn cut_or(e: Error, eof: bool, after: &str) -> Error {
    if eof && e.kind() != Kind::Truncated {
        return Error::new(
            Kind::Truncated,
            format!("the archive is truncated (in or after entry {after}): it is incomplete"),
        );
    }
    e
}

/// Our own archive, read as a stream.
fn native<R: BufRead>(rd: R, o: &UnpackOptions, run: &mut Run, into: Option<Output>) -> Result<Unpacked> {
    let ended = std::rc::Rc::new(std::cell::Cell::new(false));
    let mut rd = EofSeen { inner: rd, eof: ended.clone() };
    let mut log = EntryLog::default();
    let mut f = zip::read::read_zipfile_from_stream(&mut rd)
        .map_err(|e| entry_error("(start)", e))?
        .ok_or_else(|| Error::new(Kind::BadInput, "the archive has no entries"))?;
    log.log(&f);
    let size = f.size();
    let header_line = read_entry_data(&mut f, HEADER_ENTRY, size, MAX_LINE)?;
    drop(f);
    let header = parse_any_header(&header_line)
        .map_err(|e| Error::new(e.kind(), format!("entry {HEADER_ENTRY}: {}", e.message())))?;
    if header.kind == StreamKind::Delta {
        let target = super::delta::unpack_delta(&mut rd, o, run, into, &header_line, &header, &mut log)?;
        check_central_directory(&mut rd, log)?;
        return Ok(Unpacked::Delta(target));
    }
    let mut target = Target::new(o, &header_line, &header, into)?;
    let mut entries = Entries::new(&header)?;
    loop {
        let next = zip::read::read_zipfile_from_stream(&mut rd);
        let next = next.map_err(|e| cut_or(entry_error(&entries.last, e), ended.get(), &entries.last))?;
        let Some(mut f) = next else {
            return Err(Error::new(
                Kind::Truncated,
                format!(
                    "the archive has no manifest ({MANIFEST_ENTRY}) after entry {}: it is incomplete",
                    entries.last
                ),
            ));
        };
        log.log(&f);
        let name = String::from_utf8_lossy(f.name_raw()).into_owned();
        if name == MANIFEST_ENTRY {
            entries.check_manifest(&mut f, &header_line)?;
            break;
        }
        if let Some((r, sha)) = entries.entry(&mut f, name)? {
            target.put(&r, &entries.last, &sha)?;
            run.record(r.value.len() as u64, progress_line);
        }
    }
    check_central_directory(&mut rd, log)?;
    Ok(Unpacked::Keyspace(target))
}

/// The entries of a native archive, checked as they come: keys from their paths (or the
/// `kv-long/` entry before them), values against the SHA-256 in their metadata, order and
/// digests by the stream's checker; names and hashes spooled for the manifest.
struct Entries {
    checker: Checker,
    spool: BufWriter<File>,
    last: String,
    pending_key: Option<(String, Vec<u8>)>,
    line_no: u64,
}

impl Entries {
    fn new(header: &Header) -> Result<Self> {
        Ok(Entries {
            checker: Checker::new(header, Verify::Full),
            spool: BufWriter::new(tempfile::tempfile()?),
            last: HEADER_ENTRY.to_string(),
            pending_key: None,
            line_no: 1,
        })
    }

    /// One entry: `None` for a `kv-long/` key entry (its record is the next entry).
    fn entry<R: Read>(
        &mut self,
        f: &mut zip::read::ZipFile<'_, R>,
        name: String,
    ) -> Result<Option<(Record, [u8; 32])>> {
        if let Some(dir) = long_key_dir(&name) {
            let key = read_entry_data(f, &name, f.size(), MAX_LINE)?;
            if hex::encode(Sha256::digest(&key)) != dir || self.pending_key.is_some() {
                return Err(Error::new(Kind::Integrity, format!("entry {name}: not the key its path names")));
            }
            self.pending_key = Some((dir.to_string(), key));
            self.last = name;
            return Ok(None);
        }
        let meta = f.extra_data().and_then(|x| decode_meta(&x)).ok_or_else(|| {
            Error::new(
                Kind::BadInput,
                format!("entry {name} has no reshifter metadata: it was not written by archive-pack"),
            )
        })?;
        let key = match (meta.key.clone(), self.pending_key.take()) {
            (Some(k), None) => k,
            (None, Some((dir, k))) if name == format!("kv-long/{dir}/content") => k,
            (None, None) if !is_hashed(&name) => {
                key_of(&name).ok_or_else(|| Error::new(Kind::BadInput, format!("entry {name}: not a key path")))?
            }
            _ => return Err(Error::new(Kind::BadInput, format!("entry {name}: its key is missing"))),
        };
        let value = read_entry_data(f, &name, f.size(), MAX_VALUE)?;
        let sha: [u8; 32] = Sha256::digest(&value).into();
        if sha != meta.meta.sha256 {
            return Err(Error::new(
                Kind::Integrity,
                format!("entry {name}: the value does not match its SHA-256: the archive is corrupt"),
            ));
        }
        let r = meta.meta.record(key, value);
        self.line_no += 1;
        self.checker.record(self.line_no, &r.meta_with(sha))?;
        self.spool.write_all(name.as_bytes())?;
        self.spool.write_all(b"\t")?;
        self.spool.write_all(hex::encode(sha).as_bytes())?;
        self.spool.write_all(b"\n")?;
        self.last = name;
        Ok(Some((r, sha)))
    }

    /// The manifest entry: the last word on what the archive holds.
    fn check_manifest<R: Read>(self, f: &mut zip::read::ZipFile<'_, R>, header_line: &[u8]) -> Result<()> {
        if let Some((dir, _)) = self.pending_key {
            return Err(Error::new(Kind::BadInput, format!("entry kv-long/{dir}/key has no content entry")));
        }
        let spool = self.spool.into_inner().map_err(|e| e.into_error())?;
        check_manifest(f, header_line, spool, &self.checker)
    }
}

#[derive(serde::Deserialize)]
struct ManifestLine {
    #[serde(rename = "type")]
    line_type: Option<String>,
    path: Option<String>,
    sha256: Option<String>,
}

/// The manifest against the entries read (spooled as `path\tsha256`), the digests and the
/// header.
fn check_manifest(f: &mut impl Read, header_line: &[u8], mut spool: File, checker: &Checker) -> Result<()> {
    spool.seek(SeekFrom::Start(0))?;
    let mut seen = BufReader::new(spool);
    let mut manifest = BufReader::new(f);
    let bad = |m: String| Error::new(Kind::Integrity, m);
    let mut line = Vec::new();
    let mut next_line = |line: &mut Vec<u8>| -> Result<bool> {
        line.clear();
        let n = read_line_capped(&mut manifest, line, MAX_LINE).map_err(|e| match e.io() {
            Some(io) => entry_error(MANIFEST_ENTRY, ZipError::Io(std::io::Error::new(io.kind(), io.to_string()))),
            None => Error::new(e.kind(), format!("{MANIFEST_ENTRY}: {}", e.message())),
        })?;
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        Ok(n > 0)
    };
    next_line(&mut line)?;
    if line != header_line {
        return Err(bad(format!("{MANIFEST_ENTRY}: its header differs from {HEADER_ENTRY}: the archive was altered")));
    }
    let mut got = String::new();
    let mut line_no = 1u64;
    while next_line(&mut line)? {
        line_no += 1;
        let m: ManifestLine = serde_json::from_slice(&line)
            .map_err(|e| Error::new(Kind::BadInput, format!("{MANIFEST_ENTRY}: bad line {line_no}: {e}")))?;
        got.clear();
        let more = seen.read_line(&mut got)? > 0;
        if m.line_type.as_deref() == Some("trailer") {
            if more {
                let path = got.split('\t').next().unwrap_or("");
                return Err(bad(format!("entry {path} is not listed in the manifest: the archive was altered")));
            }
            let t: reshifter_format::Trailer = serde_json::from_slice(&line)
                .map_err(|e| Error::new(Kind::BadInput, format!("{MANIFEST_ENTRY}: bad trailer: {e}")))?;
            let held = checker.digests().count();
            if t.count != held {
                return Err(bad(format!("the manifest lists {} keys but the archive holds {held}", t.count)));
            }
            checker.trailer(&t, line_no).map_err(|e| {
                bad(format!("the archive's contents do not match its manifest's trailer: {}", e.message()))
            })?;
            if next_line(&mut line)? {
                return Err(bad(format!("{MANIFEST_ENTRY}: lines after its trailer: the archive was altered")));
            }
            return Ok(());
        }
        let (path, sha) = (m.path.unwrap_or_default(), m.sha256.unwrap_or_default());
        if !more {
            return Err(bad(format!("entry {path} is listed in the manifest but missing from the archive")));
        }
        let got = got.trim_end_matches('\n');
        let (gpath, gsha) = got.split_once('\t').unwrap_or((got, ""));
        if gpath != path {
            return Err(bad(format!(
                "entry {path} is listed in the manifest but missing from the archive (found {gpath} instead)"
            )));
        }
        if gsha != sha {
            return Err(bad(format!("entry {path}: its SHA-256 differs from the manifest's: the archive was altered")));
        }
    }
    Err(Error::new(Kind::Truncated, format!("{MANIFEST_ENTRY} has no trailer: the archive is incomplete")))
}

/// An archive in ReShifter's layout: `<backup id>/<key path>/content`, no metadata. It claims no
/// coverage: it may hold part of a keyspace.
fn foreign(file: File, o: &UnpackOptions, run: &mut Run, into: Option<Output>) -> Result<Target> {
    let mut za = zip::ZipArchive::new(BufReader::new(file))
        .map_err(|e| Error::new(Kind::BadInput, format!("not a readable ZIP archive: {e}")))?;
    if za.has_duplicate_names() {
        // A ZIP reader's index keeps one of them (the last): two values for one key.
        return Err(Error::new(
            Kind::BadInput,
            "the archive's central directory names an entry twice: two values for one key, and nothing says \
             which is right",
        ));
    }
    let (entries, backup_ids) = foreign_entries(&mut za)?;
    let h = foreign_header(backup_ids);
    let header_line = serde_json::to_vec(&h).map_err(std::io::Error::other)?;
    let mut target = Target::new(o, &header_line, &h, into)?;
    for (key, i, name) in entries {
        let mut f = za.by_index(i).map_err(|e| entry_error(&name, e))?;
        let size = f.size();
        let value = read_entry_data(&mut f, &name, size, MAX_VALUE)?;
        let sha: [u8; 32] = Sha256::digest(&value).into();
        let r = Record { key, value, create_revision: 0, mod_revision: 0, version: 0, lease: 0 };
        target.put(&r, &name, &sha)?;
        run.record(r.value.len() as u64, progress_line);
    }
    Ok(target)
}

/// A foreign archive's entries as (key, index, name), sorted by key, and its backup ids; unsafe
/// paths, our own entries out of place, unknown layouts and duplicate keys refused.
#[allow(clippy::type_complexity)]
fn foreign_entries(
    za: &mut zip::ZipArchive<BufReader<File>>,
) -> Result<(Vec<(Vec<u8>, usize, String)>, std::collections::BTreeSet<String>)> {
    if za.len() > MAX_FOREIGN_ENTRIES {
        return Err(Error::new(
            Kind::BadInput,
            format!("the archive holds {} entries, more than the {MAX_FOREIGN_ENTRIES} allowed", za.len()),
        ));
    }
    let mut entries: Vec<(Vec<u8>, usize, String)> = Vec::with_capacity(za.len());
    let mut backup_ids = std::collections::BTreeSet::new();
    for i in 0..za.len() {
        let f = za.by_index_raw(i).map_err(|e| Error::new(Kind::BadInput, format!("entry #{i}: {e}")))?;
        if f.is_dir() {
            continue;
        }
        let name = String::from_utf8_lossy(f.name_raw()).into_owned();
        let key = foreign_key(&name)?;
        backup_ids.insert(name.split('/').next().unwrap_or("").to_string());
        entries.push((key, i, name));
    }
    entries.sort();
    if let Some(w) = entries.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(Error::new(
            Kind::BadInput,
            format!("entries {} and {} hold the same key {}", w[0].2, w[1].2, show_key(&w[0].0)),
        ));
    }
    Ok((entries, backup_ids))
}

/// The key of a foreign archive's entry.
fn foreign_key(name: &str) -> Result<Vec<u8>> {
    if name == HEADER_ENTRY || name == MANIFEST_ENTRY {
        return Err(Error::new(
            Kind::BadInput,
            format!(
                "this reshifter archive was rewritten by another tool ({HEADER_ENTRY} is not its first entry): pack it again"
            ),
        ));
    }
    if name.starts_with('/') || name.split(['/', '\\']).any(|seg| seg == "..") {
        return Err(Error::new(
            Kind::BadInput,
            format!("entry {name:?} has an unsafe path (absolute or with ..): refusing the archive"),
        ));
    }
    reshifter_key(name).ok_or_else(|| {
        Error::new(
            Kind::BadInput,
            format!("entry {name} is in neither reshifter's layout nor ReShifter's (<backup id>/<key path>/content)"),
        )
    })
}

/// The header of a foreign archive's stream: every key starts with "/", nothing says the archive
/// holds all of them; ReShifter's backup ids are the Unix time of the backup.
fn foreign_header(backup_ids: std::collections::BTreeSet<String>) -> Header {
    let mut h = Header::new(&format!("archive-unpack {}", env!("CARGO_PKG_VERSION")));
    h.prefixes = vec!["/".into()];
    h.complete = false;
    if let Some(secs) = backup_ids.iter().next().and_then(|id| id.parse::<u64>().ok()).filter(|s| *s <= MAX_BACKUP_ID) {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
        h.time = humantime::format_rfc3339_seconds(t).to_string();
    }
    h.extra.insert(
        "source_archive".into(),
        serde_json::json!({"layout": "reshifter", "backup_ids": backup_ids.into_iter().collect::<Vec<_>>()}),
    );
    h
}
