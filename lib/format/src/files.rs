//! Files streams: a node's files under a root, as node-dump writes them (docs/FORMAT.md,
//! "Files streams").
//!
//! ```text
//! {"type":"header","format":2,"kind":"files","tool":"node-dump 0.1.0",...,"root":"/","layouts":["kubeadm"],"sorted":true,"complete":true}
//! {"path":"etc/kubernetes","kind":"dir","mode":"0755","uid":0,"gid":0,"user":"root","group":"root","mtime":1733480000,"mtime_nsec":0}
//! {"path":"etc/kubernetes/admin.conf","kind":"file","mode":"0600",...,"size":5650,"value":"apiVersion: v1\n..."}
//! {"path":"var/lib/kubelet/pki/kubelet-client-current.pem","kind":"symlink",...,"target":"/var/lib/kubelet/pki/kubelet-client-2026-12-06-08-00-00.pem"}
//! {"type":"trailer","count":3,...}
//! ```
//!
//! Paths are relative, in strictly ascending byte order (a directory before what it holds),
//! never absolute, empty, `.` or `..` in any component; a symlink's relative target stays inside
//! the root (an absolute one is read from the root, as in a chroot). Devices, FIFOs and sockets are not carried. Keyspace readers refuse files streams
//! ([`crate::Header::require_full`]).

use std::io::{BufRead, Write};

use serde::Deserialize;

use crate::error::{Error, Kind, Result};
use crate::framed::{Body, BodyLine, FrameWriter, Framed};
use crate::read::{Str, json_error_text};
use crate::write::{push_bytes_field, push_int, push_json_str};
use crate::{Digests, Frame, Header, MAX_VALUE, StreamKind, Trailer, read_any_header, show_key, value_sha256};

/// What a path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// The metadata digest's byte is the discriminant + 1: 1 file, 2 directory, 3 symlink.
    File = 0,
    Dir = 1,
    Symlink = 2,
}

impl FileKind {
    /// The name a line gives it.
    pub fn name(self) -> &'static str {
        match self {
            FileKind::File => "file",
            FileKind::Dir => "dir",
            FileKind::Symlink => "symlink",
        }
    }
}

/// One file, directory or symlink: its place under the root, its metadata, and its content
/// (a file's bytes) or target (a symlink's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// Relative to the stream's root, `/`-separated.
    pub path: Vec<u8>,
    pub kind: FileKind,
    /// Permission bits with setuid, setgid and sticky (at most 0o7777).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// The owner's and group's names on the node, when it had them.
    pub user: Option<String>,
    pub group: Option<String>,
    /// Modification time: seconds since the Unix epoch, and nanoseconds.
    pub mtime: i64,
    pub mtime_nsec: u32,
    /// A symlink's target (empty otherwise).
    pub target: Vec<u8>,
    /// A file's bytes (empty otherwise).
    pub content: Vec<u8>,
}

impl FileEntry {
    /// The path as text, for messages.
    pub fn show(&self) -> String {
        show_key(&self.path)
    }
}

/// The deepest a path may go, and its longest length.
const MAX_DEPTH: usize = 64;
const MAX_PATH: usize = 4096;

/// Check a relative path as a stream may hold it: not empty, not absolute, no empty, `.` or `..`
/// component, no NUL, at most 4096 bytes and 64 components.
pub fn check_path(path: &[u8]) -> std::result::Result<(), String> {
    if path.is_empty() {
        return Err("path is empty".into());
    }
    if path.len() > MAX_PATH {
        return Err(format!("path is longer than {MAX_PATH} bytes"));
    }
    if path[0] == b'/' {
        return Err(format!("path {} is absolute: paths are relative to the root", show_key(path)));
    }
    if path.contains(&0) {
        return Err("path holds a NUL byte".into());
    }
    let mut depth = 0;
    for c in path.split(|&b| b == b'/') {
        depth += 1;
        match c {
            b"" => return Err(format!("path {} has an empty component", show_key(path))),
            b"." | b".." => return Err(format!("path {} has a {} component", show_key(path), show_key(c))),
            _ => {}
        }
    }
    if depth > MAX_DEPTH {
        return Err(format!("path {} is deeper than {MAX_DEPTH} directories", show_key(path)));
    }
    Ok(())
}

/// Check that a symlink at `path` whose target is `target` stays inside the root: a relative
/// target is resolved from the link's directory and must not climb above the root; an absolute
/// one is read as from the root (as in a chroot: the node's own absolute paths, and `..` at the
/// top stays at the top).
pub fn check_target(path: &[u8], target: &[u8]) -> std::result::Result<(), String> {
    if target.is_empty() || target.contains(&0) || target.len() > MAX_PATH {
        return Err(format!("symlink {} has an empty, overlong or NUL-holding target", show_key(path)));
    }
    if target[0] == b'/' {
        return Ok(());
    }
    let mut depth = path.split(|&b| b == b'/').count() - 1;
    for c in target.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." if depth == 0 => {
                return Err(format!("symlink {} points out of the root ({})", show_key(path), show_key(target)));
            }
            b".." => depth -= 1,
            _ => depth += 1,
        }
    }
    Ok(())
}

/// Encode one entry as a line (newline included) into `out`.
pub fn encode_file(out: &mut Vec<u8>, e: &FileEntry) {
    out.push(b'{');
    push_bytes_field(out, "path", &e.path);
    out.extend_from_slice(b",\"kind\":\"");
    out.extend_from_slice(e.kind.name().as_bytes());
    out.extend_from_slice(format!("\",\"mode\":\"{:04o}\",\"uid\":{},\"gid\":{}", e.mode, e.uid, e.gid).as_bytes());
    for (name, v) in [("user", &e.user), ("group", &e.group)] {
        if let Some(v) = v {
            out.extend_from_slice(format!(",\"{name}\":").as_bytes());
            push_json_str(out, v.as_bytes());
        }
    }
    out.extend_from_slice(b",\"mtime\":");
    push_int(out, e.mtime);
    out.extend_from_slice(b",\"mtime_nsec\":");
    push_int(out, i64::from(e.mtime_nsec));
    match e.kind {
        FileKind::File => {
            out.extend_from_slice(b",\"size\":");
            push_int(out, e.content.len() as i64);
            out.push(b',');
            push_bytes_field(out, "value", &e.content);
        }
        FileKind::Symlink => {
            out.push(b',');
            push_bytes_field(out, "target", &e.target);
        }
        FileKind::Dir => {}
    }
    out.extend_from_slice(b"}\n");
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile<'a> {
    #[serde(borrow, default)]
    path: Option<Str<'a>>,
    #[serde(borrow, default)]
    path_b64: Option<Str<'a>>,
    #[serde(borrow)]
    kind: Str<'a>,
    #[serde(borrow)]
    mode: Str<'a>,
    uid: u32,
    gid: u32,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    group: Option<String>,
    mtime: i64,
    #[serde(default)]
    mtime_nsec: u32,
    #[serde(default)]
    size: Option<u64>,
    #[serde(borrow, default)]
    value: Option<Str<'a>>,
    #[serde(borrow, default)]
    value_b64: Option<Str<'a>>,
    #[serde(borrow, default)]
    target: Option<Str<'a>>,
    #[serde(borrow, default)]
    target_b64: Option<Str<'a>>,
}

fn field(plain: Option<Str>, b64: Option<Str>, name: &str) -> std::result::Result<Option<Vec<u8>>, String> {
    match (plain, b64) {
        (None, None) => Ok(None),
        (p, b) => crate::read::bytes_field(p, b, name).map(Some),
    }
}

/// Parse one entry line (without checking its place in the stream). `Err` is the message.
pub fn parse_file(line: &[u8]) -> std::result::Result<FileEntry, String> {
    if line.first() != Some(&b'{') {
        return Err("not a JSON object".into());
    }
    let raw: RawFile = serde_json::from_slice(line).map_err(json_error_text)?;
    let path = field(raw.path, raw.path_b64, "path")?.ok_or("an entry needs path (or path_b64)")?;
    check_path(&path)?;
    let kind = match &*raw.kind.0 {
        "file" => FileKind::File,
        "dir" => FileKind::Dir,
        "symlink" => FileKind::Symlink,
        k @ ("device" | "char" | "block" | "fifo" | "socket") => {
            return Err(format!(
                "{} is a {k}: device nodes, FIFOs and sockets are not carried by a files stream",
                show_key(&path)
            ));
        }
        other => return Err(format!("unknown kind {other:?} (file, dir or symlink)")),
    };
    let m = &*raw.mode.0;
    let mode = (m.len() == 4 && m.bytes().all(|b| (b'0'..=b'7').contains(&b)))
        .then(|| u32::from_str_radix(m, 8).ok())
        .flatten()
        .ok_or_else(|| format!("mode {m:?} is not 4 octal digits"))?;
    if raw.mtime_nsec >= 1_000_000_000 {
        return Err("mtime_nsec must be below 1000000000".into());
    }
    // A claim past the limit is refused before the content is decoded.
    if let Some(size) = raw.size.filter(|&n| n > MAX_VALUE as u64) {
        return Err(format!("{} claims {size} bytes: files are at most {} MiB", show_key(&path), MAX_VALUE >> 20));
    }
    let value = field(raw.value, raw.value_b64, "value")?;
    let target = field(raw.target, raw.target_b64, "target")?;
    let (content, target) = match (kind, value, target, raw.size) {
        (FileKind::File, Some(v), None, Some(size)) => {
            if v.len() as u64 != size {
                return Err(format!("{} holds {} bytes but claims {size}", show_key(&path), v.len()));
            }
            (v, Vec::new())
        }
        (FileKind::File, ..) => return Err("a file has size and value (or value_b64), and no target".into()),
        (FileKind::Symlink, None, Some(t), None) => (Vec::new(), t),
        (FileKind::Symlink, ..) => return Err("a symlink has target (or target_b64), and no value or size".into()),
        (FileKind::Dir, None, None, None) => (Vec::new(), Vec::new()),
        (FileKind::Dir, ..) => return Err("a directory has no value, size or target".into()),
    };
    Ok(FileEntry {
        path,
        kind,
        mode,
        uid: raw.uid,
        gid: raw.gid,
        user: raw.user,
        group: raw.group,
        mtime: raw.mtime,
        mtime_nsec: raw.mtime_nsec,
        target,
        content,
    })
}

/// Parse one line after the header of a files stream; `complete` tells whether it ended with a
/// newline.
fn parse_files_line(line: &[u8], line_no: u64, complete: bool) -> Result<BodyLine<FileEntry>> {
    crate::framed::body_line(line, line_no, complete, parse_file)
}

/// What a files stream's entries must satisfy in order: paths strictly ascending, under the
/// header's prefixes, symlinks inside the root; and the trailer against the digests.
pub struct FilesChecker {
    digests: Digests,
    frame: Frame,
    prev: Option<Vec<u8>>,
}

impl FilesChecker {
    pub fn new(header: &Header) -> Self {
        FilesChecker { digests: Digests::default(), frame: Frame::of(header), prev: None }
    }

    /// Account for an entry (its content's SHA-256 given).
    pub fn entry(&mut self, line_no: u64, e: &FileEntry, hash: &[u8; 32]) -> Result<()> {
        if let Some(p) = &self.prev
            && e.path.as_slice() <= p.as_slice()
        {
            let what = if e.path == *p { "appears twice" } else { "is out of order (paths are in byte order)" };
            return Err(Error::bad_line(line_no, format!("path {} {what}", e.show())));
        }
        if !self.frame.within(&e.path) {
            return Err(Error::bad_line(
                line_no,
                format!("path {} lies outside the prefixes the header lists", e.show()),
            ));
        }
        if e.kind == FileKind::Symlink {
            check_target(&e.path, &e.target).map_err(|m| Error::bad_line(line_no, m))?;
        }
        self.digests.add_file(e, hash);
        match &mut self.prev {
            Some(p) => {
                p.clear();
                p.extend_from_slice(&e.path);
            }
            None => self.prev = Some(e.path.clone()),
        }
        Ok(())
    }

    /// Check the trailer against the entries seen and the header.
    pub fn trailer(&self, t: &Trailer, line_no: u64) -> Result<()> {
        let altered = |what: &str| Error::new(Kind::Integrity, format!("line {line_no}: {what}"));
        if t.header_sha256.as_deref() != self.frame.header_sha256() {
            return Err(altered(
                "the header's claims (root, prefixes ...) do not match the trailer's header_sha256: the header was altered",
            ));
        }
        let mine = self.digests.trailer(&self.frame);
        if t.count != mine.count {
            return Err(altered(&format!(
                "the trailer counts {} entries but the stream held {}: entries were lost or added",
                t.count, mine.count
            )));
        }
        if t.sha256 != mine.sha256 || t.meta_sha256 != mine.meta_sha256 || t.bytes != mine.bytes {
            return Err(altered(
                "the stream's digest does not match its trailer: files or their metadata were altered",
            ));
        }
        Ok(())
    }

    /// The error for input that ended before its trailer.
    pub fn truncated(&self) -> Error {
        Error::new(
            Kind::Truncated,
            format!(
                "files stream ended after {} entries without its trailer: the input is truncated or its producer failed",
                self.digests.count()
            ),
        )
    }

    pub fn count(&self) -> u64 {
        self.digests.count()
    }
}

/// What a files stream's body lines are: entries, checked by a [`FilesChecker`].
pub struct Files;

impl Body for Files {
    type Item = FileEntry;
    type Checker = FilesChecker;

    fn parse(line: &[u8], line_no: u64, complete: bool) -> Result<BodyLine<FileEntry>> {
        parse_files_line(line, line_no, complete)
    }

    fn check(c: &mut FilesChecker, line_no: u64, e: &FileEntry) -> Result<[u8; 32]> {
        let h = value_sha256(&e.content);
        c.entry(line_no, e, &h)?;
        Ok(h)
    }

    fn check_trailer(c: &FilesChecker, t: &Trailer, line_no: u64) -> Result<()> {
        c.trailer(t, line_no)
    }

    fn truncated(c: &FilesChecker) -> Error {
        c.truncated()
    }
}

/// Reads and validates a files stream; a truncated, malformed or altered one yields an error
/// instead of its end. Holds one line at a time.
pub type FilesReader<R> = Framed<R, Files>;

impl<R: BufRead> Framed<R, Files> {
    /// Read and check the header: another kind of stream is refused.
    pub fn new(mut input: R) -> Result<Self> {
        let (header_line, header) = read_any_header(&mut input)?;
        Self::after_header(input, header_line, header)
    }

    /// A reader for a stream whose header line was already read.
    pub fn after_header(input: R, header_line: Vec<u8>, header: Header) -> Result<Self> {
        if header.kind != StreamKind::Files {
            return Err(Error::bad_line(
                1,
                "this is an etcd stream (etcd-dump or etcd-watch), not a files stream (node-dump)",
            ));
        }
        let checker = FilesChecker::new(&header);
        Ok(Framed::after(input, header_line, header, checker))
    }

    /// Entries read so far.
    pub fn entries_read(&self) -> u64 {
        self.checker.count()
    }

    /// The next entry; `Ok(None)` after a valid trailer.
    pub fn next_entry(&mut self) -> Result<Option<FileEntry>> {
        self.next_item()
    }
}

/// Writes a files stream: the header on creation, entries in path order, the trailer on
/// [`FilesWriter::finish`]. An entry the readers would refuse is refused.
pub struct FilesWriter<W: Write> {
    out: FrameWriter<W>,
    checker: FilesChecker,
}

impl<W: Write> FilesWriter<W> {
    pub fn new(out: W, header: &Header) -> std::io::Result<Self> {
        if header.kind != StreamKind::Files {
            return Err(std::io::Error::other("a files writer needs a files header"));
        }
        header.validate().map_err(std::io::Error::other)?;
        Ok(FilesWriter { out: FrameWriter::new(out, header)?, checker: FilesChecker::new(header) })
    }

    pub fn write(&mut self, e: &FileEntry) -> std::io::Result<()> {
        let invalid = |m: String| std::io::Error::new(std::io::ErrorKind::InvalidData, m);
        check_path(&e.path).map_err(invalid)?;
        if e.mode > 0o7777 || e.mtime_nsec >= 1_000_000_000 || e.content.len() > MAX_VALUE {
            return Err(invalid(format!("{}: mode, mtime or size out of range", e.show())));
        }
        let line = self.checker.count() + 2;
        self.checker.entry(line, e, &value_sha256(&e.content)).map_err(|err| invalid(err.to_string()))?;
        encode_file(self.out.buf(), e);
        self.out.wrote()
    }

    pub fn count(&self) -> u64 {
        self.checker.count()
    }

    pub fn bytes(&self) -> u64 {
        self.checker.digests.bytes()
    }

    /// Write the trailer, flush, and hand back the output and the trailer.
    pub fn finish(self) -> std::io::Result<(W, Trailer)> {
        let trailer = self.checker.digests.trailer(&self.checker.frame);
        let out = self.out.finish(&trailer)?;
        Ok((out, trailer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        let mut h = Header::new("t");
        h.kind = StreamKind::Files;
        h.root = Some("/".into());
        h.complete = true;
        h
    }

    fn entry(path: &str, kind: FileKind) -> FileEntry {
        FileEntry {
            path: path.into(),
            kind,
            mode: 0o640,
            uid: 0,
            gid: 5,
            user: Some("root".into()),
            group: None,
            mtime: 1_733_480_000,
            mtime_nsec: 7,
            target: if kind == FileKind::Symlink { b"../b".to_vec() } else { Vec::new() },
            content: if kind == FileKind::File { b"k8s\0\x01".to_vec() } else { Vec::new() },
        }
    }

    #[test]
    fn a_stream_reads_back_as_written() {
        let entries =
            [entry("etc", FileKind::Dir), entry("etc/a", FileKind::File), entry("etc/a/l", FileKind::Symlink)];
        let mut w = FilesWriter::new(Vec::new(), &header()).unwrap();
        for e in &entries {
            w.write(e).unwrap();
        }
        let (out, t) = w.finish().unwrap();
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(text.contains(r#"{"path":"etc/a","kind":"file","mode":"0640","uid":0,"gid":5,"user":"root","mtime":1733480000,"mtime_nsec":7,"size":5,"value_b64":"azhzAAE="}"#), "{text}");
        let got: Vec<FileEntry> = FilesReader::new(&out[..]).unwrap().collect::<Result<_>>().unwrap();
        assert_eq!(got, entries);
        assert_eq!(t.count, 3);
        // A keyspace reader refuses it, naming what reads it.
        let e = crate::StreamReader::new(&out[..]).err().unwrap().to_string();
        assert!(e.contains("files stream") && e.contains("node-load"), "{e}");
    }

    #[test]
    fn hostile_entries_are_refused() {
        for (line, why) in [
            (r#"{"path":"/etc/passwd","kind":"dir","mode":"0755","uid":0,"gid":0,"mtime":0}"#, "is absolute"),
            (r#"{"path":"a/../../x","kind":"dir","mode":"0755","uid":0,"gid":0,"mtime":0}"#, "a \"..\" component"),
            (r#"{"path":"dev/sda","kind":"device","mode":"0660","uid":0,"gid":0,"mtime":0}"#, "device nodes"),
            (r#"{"path":"p","kind":"fifo","mode":"0660","uid":0,"gid":0,"mtime":0}"#, "FIFOs"),
            (
                r#"{"path":"big","kind":"file","mode":"0600","uid":0,"gid":0,"mtime":0,"size":2147483648,"value":""}"#,
                "claims 2147483648 bytes",
            ),
            (r#"{"path":"m","kind":"dir","mode":"755","uid":0,"gid":0,"mtime":0}"#, "4 octal digits"),
            // The claim is judged before the content is decoded.
            (
                r#"{"path":"big","kind":"file","mode":"0600","uid":0,"gid":0,"mtime":0,"size":2147483648,"value_b64":"!"}"#,
                "claims 2147483648 bytes",
            ),
        ] {
            let e = parse_file(line.as_bytes()).err().unwrap();
            assert!(e.contains(why), "{line}: {e}");
        }
        assert_eq!(
            check_target(b"etc/l", b"../../x").unwrap_err(),
            "symlink \"etc/l\" points out of the root (\"../../x\")"
        );
        assert!(check_target(b"etc/l", b"../x").is_ok());
        assert!(check_target(b"etc/l", b"a/../../x").is_ok());
        assert!(check_target(b"etc/l", b"a/../../../x").is_err());
        assert!(check_target(b"a/l", b"/var/lib/kubelet/pki/kubelet-client-2026.pem").is_ok());
    }
}
