//! archive-unpack: a ZIP archive in, the stream out, every entry verified.
//!
//! Our own archives stream from a pipe in bounded memory: entries are read in order with the zip
//! crate's stream reader (CRC-32 checked), each value is checked against the SHA-256 in its
//! metadata, and at the end the manifest is checked line by line against what was read (a spool
//! file on disk remembers the entries) and its trailer against the stream digests. Only then is
//! the trailer written: a corrupt, truncated or incomplete archive yields a stream that every
//! consumer refuses.
//!
//! Archives written by other tools (ReShifter's `<backup id>/<key path>/content`) are read with
//! random access; from a pipe they are first spooled to a temporary file.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Cursor, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::time::Instant;

use sha2::{Digest, Sha256};
use zip::result::ZipError;

use super::crypt::{AGE_MAGIC, KeyArgs};
use super::path::{key_of, reshifter_key};
use super::{HEADER_ENTRY, MANIFEST_ENTRY, decode_meta};
use crate::cli::{Progress, human_bytes, secs};
use crate::error::{Error, Kind, Result};
use crate::format::{Digests, Header, Record, StreamWriter, lease_hex, push_bytes_field, push_json_str};
use crate::io::{BUF_SIZE, Output};

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

#[derive(Debug, Clone)]
pub struct UnpackOptions {
    pub input: Option<PathBuf>,
    pub output: Option<PathBuf>,
    pub mode: Mode,
    pub prefixes: Vec<String>,
    pub keys: KeyArgs,
    pub quiet: bool,
}

/// Largest value we accept from an archive (etcd's own limit is far below).
const MAX_VALUE: u64 = 256 << 20;

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
struct Sink {
    mode: Mode,
    prefixes: Vec<Vec<u8>>,
    stream: Option<StreamWriter<Output>>,
    list: Option<Output>,
    line: Vec<u8>,
}

impl Sink {
    fn new(o: &UnpackOptions, header_line: &[u8], header: &Header) -> Result<Self> {
        let prefixes: Vec<Vec<u8>> = o.prefixes.iter().map(|p| p.as_bytes().to_vec()).collect();
        let (mut stream, mut list) = (None, None);
        match o.mode {
            Mode::Stream => {
                let out = Output::create(o.output.as_deref())?;
                stream = Some(if prefixes.is_empty() {
                    StreamWriter::with_header_line(out, header_line)?
                } else {
                    let mut h = header.clone();
                    h.prefixes = o.prefixes.clone();
                    h.history.push(format!("archive-unpack --prefix {}", o.prefixes.join(" --prefix ")));
                    StreamWriter::new(out, &h)?
                });
            }
            Mode::List => list = Some(Output::create(o.output.as_deref())?),
            Mode::Verify => {}
        }
        Ok(Sink { mode: o.mode, prefixes, stream, list, line: Vec::new() })
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
            Mode::Verify => {}
        }
        Ok(())
    }

    /// Everything checked: write the trailer and put the output in place.
    fn finish(self) -> Result<()> {
        if let Some(w) = self.stream {
            let (out, _) = w.finish()?;
            out.finish()?;
        }
        if let Some(l) = self.list {
            l.finish()?;
        }
        Ok(())
    }
}

/// Summary counters.
#[derive(Default)]
struct Count {
    keys: u64,
    bytes: u64,
}

/// Run archive-unpack.
pub fn unpack(o: UnpackOptions) -> anyhow::Result<()> {
    let started = Instant::now();
    let input = crate::io::open_input(o.input.as_deref())?;
    let (head, input) = peek(input, AGE_MAGIC.len())?;
    if head.is_empty() {
        return Err(Error::new(Kind::Truncated, "empty input: no archive").into());
    }
    let encrypted = head.starts_with(AGE_MAGIC);
    let reader: Box<dyn Read + Send> =
        if encrypted { o.keys.decrypt(BufReader::with_capacity(BUF_SIZE, input))? } else { Box::new(input) };
    let (head, reader) = peek(reader, 30 + HEADER_ENTRY.len())?;
    let count = match first_entry_name(&head) {
        Some(name) if name == HEADER_ENTRY.as_bytes() => native(BufReader::with_capacity(BUF_SIZE, reader), &o)?,
        Some(_) => {
            // Another writer's archive: random access. A plain file is read in place.
            let file = match &o.input {
                Some(p) if !encrypted && !crate::io::is_stdio(Some(p)) => File::open(p)?,
                _ => {
                    let mut f = tempfile::tempfile()?;
                    std::io::copy(&mut { reader }, &mut f)?;
                    f.seek(SeekFrom::Start(0))?;
                    f
                }
            };
            foreign(file, &o)?
        }
        None if head.starts_with(b"PK\x05\x06") => {
            return Err(Error::new(Kind::BadInput, "the archive is empty").into());
        }
        None => {
            return Err(Error::new(
                Kind::BadInput,
                "not a ZIP archive (nor an age-encrypted one): it does not start with a ZIP entry",
            )
            .into());
        }
    };
    if !o.quiet {
        let what = match o.mode {
            Mode::Verify => "verified",
            Mode::List => "listed",
            Mode::Stream => "unpacked",
        };
        eprintln!(
            "archive-unpack: {what} {} keys, {} in {}",
            count.keys,
            human_bytes(count.bytes),
            secs(started.elapsed())
        );
    }
    Ok(())
}

/// Name the entry an error happened in.
fn entry_error(after: &str, e: ZipError) -> Error {
    match e {
        ZipError::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => Error::new(
            Kind::Truncated,
            format!("the archive is truncated (in or after entry {after}): it is incomplete"),
        ),
        ZipError::Io(io) if io.to_string().contains("checksum") => {
            Error::new(Kind::Integrity, format!("entry {after}: CRC-32 mismatch: the archive is corrupt"))
        }
        ZipError::Io(io) => Error::new(Kind::BadInput, format!("entry {after}: {io}: the archive is corrupt")),
        other => Error::new(Kind::BadInput, format!("after entry {after}: {other}: the archive is corrupt")),
    }
}

fn read_entry_data(f: &mut impl Read, name: &str, size: u64) -> Result<Vec<u8>> {
    if size > MAX_VALUE {
        return Err(Error::new(Kind::BadInput, format!("entry {name} claims {size} bytes: the archive is corrupt")));
    }
    let mut v = Vec::with_capacity(size as usize);
    f.read_to_end(&mut v).map_err(|e| entry_error(name, ZipError::Io(e)))?;
    if v.len() as u64 != size {
        return Err(Error::new(
            Kind::Integrity,
            format!("entry {name}: {} bytes instead of {size}: the archive is corrupt", v.len()),
        ));
    }
    Ok(v)
}

/// Our own archive, read as a stream.
fn native<R: BufRead>(mut rd: R, o: &UnpackOptions) -> Result<Count> {
    let mut f = zip::read::read_zipfile_from_stream(&mut rd)
        .map_err(|e| entry_error("(start)", e))?
        .ok_or_else(|| Error::new(Kind::BadInput, "the archive has no entries"))?;
    let size = f.size();
    let header_line = read_entry_data(&mut f, HEADER_ENTRY, size.min(16 << 20))?;
    drop(f);
    let header: Header = serde_json::from_slice(&header_line)
        .map_err(|e| Error::new(Kind::BadInput, format!("entry {HEADER_ENTRY}: not a stream header: {e}")))?;
    if header.format > crate::format::FORMAT_VERSION {
        return Err(Error::new(
            Kind::BadInput,
            format!("the archive holds stream format {}, newer than this tool reads", header.format),
        ));
    }
    let mut sink = Sink::new(o, &header_line, &header)?;
    let mut digests = Digests::default();
    let mut spool = BufWriter::new(tempfile::tempfile()?);
    let mut last = HEADER_ENTRY.to_string();
    let mut manifest_done = false;
    let mut count = Count::default();
    let mut progress = Progress::new("archive-unpack");
    loop {
        let next = zip::read::read_zipfile_from_stream(&mut rd).map_err(|e| entry_error(&last, e))?;
        let Some(mut f) = next else { break };
        let name = String::from_utf8_lossy(f.name_raw()).into_owned();
        if manifest_done {
            return Err(Error::new(
                Kind::BadInput,
                format!("entry {name} follows the manifest: the archive was altered"),
            ));
        }
        if name == MANIFEST_ENTRY {
            let spool_file = spool.into_inner().map_err(|e| e.into_error())?;
            check_manifest(&mut f, &header_line, spool_file, &digests)?;
            manifest_done = true;
            spool = BufWriter::new(tempfile::tempfile()?);
            last = name;
            continue;
        }
        let meta = f.extra_data().and_then(|x| decode_meta(&x)).ok_or_else(|| {
            Error::new(
                Kind::BadInput,
                format!("entry {name} has no reshifter metadata: it was not written by archive-pack"),
            )
        })?;
        let key = match meta.key.clone() {
            Some(k) => k,
            None => key_of(&name).ok_or_else(|| Error::new(Kind::BadInput, format!("entry {name}: not a key path")))?,
        };
        let size = f.size();
        let value = read_entry_data(&mut f, &name, size)?;
        drop(f);
        let sha: [u8; 32] = Sha256::digest(&value).into();
        if sha != meta.sha256 {
            return Err(Error::new(
                Kind::Integrity,
                format!("entry {name}: the value does not match its SHA-256: the archive is corrupt"),
            ));
        }
        let r = Record {
            key,
            value,
            create_revision: meta.create_revision,
            mod_revision: meta.mod_revision,
            version: meta.version,
            lease: meta.lease,
        };
        digests.update_hashed(&r.key, &sha, r.value.len(), r.revs());
        spool.write_all(name.as_bytes())?;
        spool.write_all(b"\t")?;
        spool.write_all(hex::encode(sha).as_bytes())?;
        spool.write_all(b"\n")?;
        sink.put(&r, &name, &sha)?;
        count.keys += 1;
        count.bytes += r.value.len() as u64;
        last = name;
        progress.update(|| format!("{} keys, {}", count.keys, human_bytes(count.bytes)));
    }
    if !manifest_done {
        return Err(Error::new(
            Kind::Truncated,
            format!("the archive has no manifest ({MANIFEST_ENTRY}) after entry {last}: it is incomplete"),
        ));
    }
    check_tail(&mut rd)?;
    progress.clear();
    sink.finish()?;
    Ok(count)
}

/// After the last entry comes the central directory; its end record must be there.
fn check_tail<R: Read>(rd: &mut R) -> Result<()> {
    let mut tail: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = rd.read(&mut buf)?;
        if n == 0 {
            break;
        }
        tail.extend_from_slice(&buf[..n]);
        if tail.len() > 256 * 1024 {
            tail.drain(..tail.len() - 128 * 1024);
        }
    }
    let eocd = [0x50, 0x4b, 0x05, 0x06];
    let found = tail.len() >= 22 && tail.windows(4).rev().take(64 * 1024).any(|w| w == eocd);
    if !found {
        return Err(Error::new(Kind::Truncated, "the archive's central directory is cut short: it is incomplete"));
    }
    Ok(())
}

#[derive(serde::Deserialize)]
struct ManifestLine {
    #[serde(rename = "type")]
    line_type: Option<String>,
    path: Option<String>,
    sha256: Option<String>,
}

/// The manifest against the entries read (spooled as `path\tsha256`) and the digests.
fn check_manifest(f: &mut impl Read, header_line: &[u8], mut spool: File, digests: &Digests) -> Result<()> {
    spool.seek(SeekFrom::Start(0))?;
    let mut seen = BufReader::new(spool).lines();
    let mut lines = BufReader::new(f).split(b'\n');
    let bad = |m: String| Error::new(Kind::Integrity, m);
    let first = lines.next().transpose().map_err(|e| entry_error(MANIFEST_ENTRY, ZipError::Io(e)))?.unwrap_or_default();
    if first != header_line {
        return Err(bad(format!("{MANIFEST_ENTRY}: its header differs from {HEADER_ENTRY}: the archive was altered")));
    }
    let mine = digests.trailer();
    for line in lines {
        let line = line.map_err(|e| entry_error(MANIFEST_ENTRY, ZipError::Io(e)))?;
        let m: ManifestLine = serde_json::from_slice(&line)
            .map_err(|e| Error::new(Kind::BadInput, format!("{MANIFEST_ENTRY}: bad line: {e}")))?;
        if m.line_type.as_deref() == Some("trailer") {
            if let Some(extra) = seen.next() {
                let extra = extra?;
                let path = extra.split('\t').next().unwrap_or("");
                return Err(bad(format!("entry {path} is not listed in the manifest: the archive was altered")));
            }
            let t: crate::format::Trailer = serde_json::from_slice(&line)
                .map_err(|e| Error::new(Kind::BadInput, format!("{MANIFEST_ENTRY}: bad trailer: {e}")))?;
            if t.count != mine.count {
                return Err(bad(format!("the manifest lists {} keys but the archive holds {}", t.count, mine.count)));
            }
            if t != mine {
                return Err(bad(
                    "the archive's contents do not match the digests in its manifest: the archive was altered".into(),
                ));
            }
            return Ok(());
        }
        let (path, sha) = (m.path.unwrap_or_default(), m.sha256.unwrap_or_default());
        let Some(got) = seen.next() else {
            return Err(bad(format!("entry {path} is listed in the manifest but missing from the archive")));
        };
        let got = got?;
        let (gpath, gsha) = got.split_once('\t').unwrap_or((&got, ""));
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

/// An archive in ReShifter's layout: `<backup id>/<key path>/content`, no metadata.
fn foreign(file: File, o: &UnpackOptions) -> Result<Count> {
    let mut za = zip::ZipArchive::new(BufReader::new(file))
        .map_err(|e| Error::new(Kind::BadInput, format!("not a readable ZIP archive: {e}")))?;
    let mut entries: Vec<(Vec<u8>, usize, String)> = Vec::with_capacity(za.len());
    let mut backup_ids = std::collections::BTreeSet::new();
    for i in 0..za.len() {
        let f = za.by_index_raw(i).map_err(|e| Error::new(Kind::BadInput, format!("entry #{i}: {e}")))?;
        if f.is_dir() {
            continue;
        }
        let name = String::from_utf8_lossy(f.name_raw()).into_owned();
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
        let key = reshifter_key(&name).ok_or_else(|| {
            Error::new(
                Kind::BadInput,
                format!(
                    "entry {name} is in neither reshifter's layout nor ReShifter's (<backup id>/<key path>/content)"
                ),
            )
        })?;
        backup_ids.insert(name.split('/').next().unwrap_or("").to_string());
        entries.push((key, i, name));
    }
    entries.sort();
    if let Some(w) = entries.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(Error::new(Kind::BadInput, format!("entries {} and {} hold the same key", w[0].2, w[1].2)));
    }
    let mut h = Header::new(&format!("archive-unpack {}", env!("CARGO_PKG_VERSION")));
    let mut roots: Vec<String> = entries
        .iter()
        .filter_map(|(k, _, _)| {
            let s = std::str::from_utf8(k).ok()?;
            let first = s.strip_prefix('/')?.split('/').next()?;
            Some(format!("/{first}/"))
        })
        .collect();
    roots.dedup();
    h.prefixes = roots;
    // ReShifter's backup ids are the Unix time of the backup.
    if let Some(secs) = backup_ids.iter().next().and_then(|id| id.parse::<u64>().ok()) {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
        h.time = humantime::format_rfc3339_seconds(t).to_string();
    }
    h.sorted = true;
    h.extra.insert(
        "source_archive".into(),
        serde_json::json!({"layout": "reshifter", "backup_ids": backup_ids.into_iter().collect::<Vec<_>>()}),
    );
    let header_line = serde_json::to_vec(&h).map_err(std::io::Error::other)?;
    let mut sink = Sink::new(o, &header_line, &h)?;
    let mut count = Count::default();
    for (key, i, name) in entries {
        let mut f = za.by_index(i).map_err(|e| entry_error(&name, e))?;
        let size = f.size();
        let value = read_entry_data(&mut f, &name, size)?;
        let sha: [u8; 32] = Sha256::digest(&value).into();
        let r = Record { key, value, create_revision: 0, mod_revision: 0, version: 0, lease: 0 };
        sink.put(&r, &name, &sha)?;
        count.keys += 1;
        count.bytes += r.value.len() as u64;
    }
    sink.finish()?;
    Ok(count)
}
