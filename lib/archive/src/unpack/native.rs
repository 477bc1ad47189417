//! Our own archives, read as a stream: entry by entry, then the manifest and the central
//! directory against what was read.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};

use sha2::{Digest, Sha256};
use zip::result::ZipError;

use crate::cdir::{EntryLog, check_central_directory};
use crate::path::{is_hashed, key_of};
use crate::{HEADER_ENTRY, MANIFEST_ENTRY, decode_meta};
use reshifter_format::error::{Error, Kind, Result};
use reshifter_format::io::Output;
use reshifter_format::pipeline::Run;
use reshifter_format::{
    Checker, Header, MAX_LINE, MAX_VALUE, Record, StreamKind, Verify, parse_any_header, read_line_capped,
};

use super::entry::{EofSeen, cut_or, entry_error, read_entry_data};
use super::options::UnpackOptions;
use super::target::{Target, Unpacked, progress_line};

/// A `kv-long/<sha256 of key>/key` entry: the key of the `content` entry that follows.
pub(super) fn long_key_dir(name: &str) -> Option<&str> {
    name.strip_prefix("kv-long/")?.strip_suffix("/key")
}

/// Our own archive, read as a stream.
pub(super) fn native<R: BufRead>(rd: R, o: &UnpackOptions, run: &mut Run, into: Option<Output>) -> Result<Unpacked> {
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
    let target = match header.kind {
        StreamKind::Full => return keyspace(rd, o, run, into, header_line, header, log, ended),
        StreamKind::Delta => {
            let c = reshifter_format::delta::DeltaChecker::new(&header);
            let read = crate::lines::unpack_lines::<_, reshifter_format::delta::Delta>;
            read(&mut rd, o, run, into, &header_line, &header, c, &mut log)?
        }
        StreamKind::Files => {
            let c = reshifter_format::files::FilesChecker::new(&header);
            let read = crate::lines::unpack_lines::<_, reshifter_format::files::Files>;
            read(&mut rd, o, run, into, &header_line, &header, c, &mut log)?
        }
    };
    check_central_directory(&mut rd, log)?;
    Ok(Unpacked::Lines(target))
}
/// The rest of a keyspace archive, its header entry read.
#[allow(clippy::too_many_arguments)]
fn keyspace<R: BufRead>(
    mut rd: EofSeen<R>,
    o: &UnpackOptions,
    run: &mut Run,
    into: Option<Output>,
    header_line: Vec<u8>,
    header: reshifter_format::Header,
    mut log: EntryLog,
    ended: std::rc::Rc<std::cell::Cell<bool>>,
) -> Result<Unpacked> {
    // With --node-files the node's files are the output; the keyspace is verified all the same.
    let (keyspace_opts, node_out, into) = if o.node_files {
        let out = match (o.verify, into) {
            (true, _) => None,
            (false, Some(out)) => Some(out),
            (false, None) => Some(Output::create(o.output.as_deref())?),
        };
        (UnpackOptions { verify: true, output: None, ..o.clone() }, out, None)
    } else {
        (o.clone(), None, into)
    };
    let mut target = Target::new(&keyspace_opts, &header_line, &header, into)?;
    let mut entries = Entries::new(&header)?;
    // The summary counts what is written: the node's files with --node-files.
    let mut keyspace_run = Run::new(&o.report, true);
    let (krun, nrun) = if o.node_files { (&mut keyspace_run, run) } else { (run, &mut keyspace_run) };
    let mut inflater = libdeflater::Decompressor::new();
    loop {
        let next = super::local::next_local(&mut rd);
        let next = next.map_err(|e| cut_or(entry_error(&entries.last, e), ended.get(), &entries.last))?;
        let Some(l) = next else {
            return Err(Error::new(
                Kind::Truncated,
                format!(
                    "the archive has no manifest ({MANIFEST_ENTRY}) after entry {}: it is incomplete",
                    entries.last
                ),
            ));
        };
        log.log_parts(&l.name, l.crc, l.csize, l.size);
        let name = l.name_lossy();
        if name == MANIFEST_ENTRY {
            let mut data = (&mut rd).take(l.csize);
            let mut f = l.stream(&mut data).map_err(|e| entry_error(&name, ZipError::Io(e)))?;
            entries.check_manifest(&mut f, &header_line)?;
            drop(f);
            // The reader stands after the manifest's data.
            std::io::copy(&mut data, &mut std::io::sink())
                .map_err(|e| cut_or(entry_error(&name, ZipError::Io(e)), ended.get(), &name))?;
            break;
        }
        if let Some((r, sha)) = entries.entry(&l, &mut rd, name, &mut inflater)? {
            target.put(&r, &entries.last, &sha)?;
            krun.record(r.value.len() as u64, progress_line);
        }
    }
    let node = node_part(&mut rd, nrun, &mut log, &ended, node_out)?;
    check_central_directory(&mut rd, log)?;
    match node {
        Some(node) if o.node_files => {
            // The keyspace was verified: its own checks (--encryption-config) end too.
            reshifter_format::pipeline::Sink::close(target)?;
            Ok(Unpacked::Lines(node))
        }
        None if o.node_files => Err(Error::new(
            Kind::BadInput,
            "the archive carries no node files (it was packed without --node-files): --node-files has nothing to write",
        )),
        _ => Ok(Unpacked::Keyspace(target)),
    }
}

/// True when the next bytes are a local entry's header (not the central directory).
fn local_entry_next<R: BufRead>(rd: &mut R) -> Result<bool> {
    let head = rd.fill_buf()?;
    Ok(head.len() >= 4 && head[..4] == [0x50, 0x4b, 0x03, 0x04])
}

/// The node's files after a keyspace's manifest (archive-pack --node-files), if the archive
/// carries them: a files stream's header entry, its chunks and its manifest, every line checked.
fn node_part<R: BufRead>(
    rd: &mut EofSeen<R>,
    run: &mut Run,
    log: &mut EntryLog,
    ended: &std::rc::Rc<std::cell::Cell<bool>>,
    out: Option<Output>,
) -> Result<Option<crate::lines::LinesTarget>> {
    use crate::{NODE_CHUNKS, NODE_HEADER_ENTRY, NODE_MANIFEST_ENTRY};
    use reshifter_format::files::{Files, FilesChecker};
    if !local_entry_next(rd)? {
        return Ok(None);
    }
    let mut out = out;
    let mut part: Option<crate::lines::LinesPart<Files>> = None;
    let mut last = MANIFEST_ENTRY.to_string();
    loop {
        let next = zip::read::read_zipfile_from_stream(&mut *rd);
        let next = next.map_err(|e| cut_or(entry_error(&last, e), ended.get(), &last))?;
        let Some(mut f) = next else {
            return Err(Error::new(
                Kind::Truncated,
                format!("the archive ends after entry {last}, before the node files' manifest: it is incomplete"),
            ));
        };
        log.log(&f);
        let name = String::from_utf8_lossy(f.name_raw()).into_owned();
        match (&mut part, name.as_str()) {
            (None, NODE_HEADER_ENTRY) => {
                let size = f.size();
                let line = read_entry_data(&mut f, NODE_HEADER_ENTRY, size, MAX_LINE)?;
                let h = parse_any_header(&line)
                    .map_err(|e| Error::new(e.kind(), format!("entry {NODE_HEADER_ENTRY}: {}", e.message())))?;
                if h.kind != StreamKind::Files {
                    return Err(Error::new(
                        Kind::BadInput,
                        format!("entry {NODE_HEADER_ENTRY} is not a files stream's header"),
                    ));
                }
                let checker = FilesChecker::new(&h);
                part = Some(crate::lines::LinesPart::new(&line, &h, checker, NODE_CHUNKS, out.take())?);
            }
            (None, _) => {
                return Err(Error::new(
                    Kind::BadInput,
                    format!("entry {name} follows the manifest: the archive was altered"),
                ));
            }
            (Some(_), NODE_MANIFEST_ENTRY) => {
                let p = part.take().expect("matched");
                return p.manifest(&mut f, NODE_MANIFEST_ENTRY).map(Some);
            }
            (Some(p), _) => p.chunk(&mut f, &name, run)?,
        }
        last = name;
    }
}

/// The entries of a native archive, checked as they come: keys from their paths (or the
/// `kv-long/` entry before them), values against the SHA-256 in their metadata, order and
/// digests by the stream's checker; names and hashes spooled for the manifest.
pub(super) struct Entries {
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
        f: &super::local::Local,
        rd: &mut R,
        name: String,
        inflater: &mut libdeflater::Decompressor,
    ) -> Result<Option<(Record, [u8; 32])>> {
        if let Some(dir) = long_key_dir(&name) {
            let key = f.whole(rd, &name, MAX_LINE, inflater)?;
            if hex::encode(Sha256::digest(&key)) != dir || self.pending_key.is_some() {
                return Err(Error::new(Kind::Integrity, format!("entry {name}: not the key its path names")));
            }
            self.pending_key = Some((dir.to_string(), key));
            self.last = name;
            return Ok(None);
        }
        let meta = decode_meta(&f.extra).ok_or_else(|| {
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
        let value = f.whole(rd, &name, MAX_VALUE, inflater)?;
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
    fn check_manifest(self, f: &mut impl Read, header_line: &[u8]) -> Result<()> {
        if let Some((dir, _)) = self.pending_key {
            return Err(Error::new(Kind::BadInput, format!("entry kv-long/{dir}/key has no content entry")));
        }
        let spool = self.spool.into_inner().map_err(|e| e.into_error())?;
        check_manifest(f, header_line, spool, &self.checker)
    }
}

#[derive(serde::Deserialize)]
pub(super) struct ManifestLine {
    #[serde(rename = "type")]
    line_type: Option<String>,
    path: Option<String>,
    sha256: Option<String>,
}

/// The manifest against the entries read (spooled as `path\tsha256`), the digests and the
/// header.
pub(super) fn check_manifest(f: &mut impl Read, header_line: &[u8], mut spool: File, checker: &Checker) -> Result<()> {
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
