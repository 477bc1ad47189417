//! node-load: a files stream written into a root.
//!
//! The stream is read through and verified first (spooled to an unnamed temporary file): a
//! truncated, altered or hostile stream writes nothing. Then every entry is judged against what
//! the root holds (create, change, metadata, same); `--plan` prints that and stops, and without
//! `--force` a file whose content differs stops the load before anything is written. Writing
//! goes through directory descriptors opened without following links, each file by a
//! temporary name (O_EXCL, 0600) and a rename; directories get their modes, owners and times
//! last, once everything inside them is written.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use rustix::fs::{AtFlags, Mode, OFlags, Timespec, Timestamps};
use rustix::io::Errno;
use sha2::{Digest, Sha256};

use reshifter_format::error::{Error, Kind, Result};
use reshifter_format::files::{FileEntry, FileKind, FilesReader};
use reshifter_format::io::open_input;
use reshifter_format::report::Reporter;

use crate::owners::Owners;

/// node-load's options (`Default`: stdin, no root: one must be named).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct LoadOptions {
    /// Where the plan's summary and warnings go.
    #[arg(skip)]
    pub report: Reporter,

    /// Files stream to read (default: stdin)
    #[arg(value_name = "INPUT")]
    pub input: Option<PathBuf>,

    /// Write under DIR (created when missing). `--root /` restores a node in place
    #[arg(long, value_name = "DIR", required = true)]
    pub root: PathBuf,

    /// Print what would be done (create, change, meta, same: one line per path) and write
    /// nothing
    #[arg(long, visible_alias = "dry-run")]
    pub plan: bool,

    /// Overwrite files whose content differs from the stream's (default: refuse, before writing
    /// anything)
    #[arg(long)]
    pub force: bool,

    /// Leave owners as the writing user's (default when not run as root)
    #[arg(long)]
    pub no_owners: bool,

    /// No summary on stderr
    #[arg(short, long)]
    pub quiet: bool,
}

/// What node-load did (or, with --plan, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Loaded {
    pub created: u64,
    pub changed: u64,
    pub meta: u64,
    pub same: u64,
}

/// What an entry needs.
#[derive(Debug, PartialEq, Eq)]
enum Action {
    Create,
    /// The content (or a link's target, or what kind of file it is) differs.
    Change,
    /// Only mode or owner differ: what differs.
    Meta(String),
    Same,
}

/// Copies what is read into a spool, so the stream is read once from its source.
struct Tee<R: Read> {
    input: R,
    spool: File,
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.input.read(buf)?;
        self.spool.write_all(&buf[..n])?;
        Ok(n)
    }
}

/// How owners are set: not at all, or mapped by name through the target's accounts.
struct Ownership {
    owners: Option<Owners>,
}

impl Ownership {
    fn ids(&self, e: &FileEntry) -> Option<(u32, u32)> {
        self.owners.as_ref().map(|o| (o.uid(e.user.as_deref(), e.uid), o.gid(e.group.as_deref(), e.gid)))
    }
}

fn show(p: &[u8]) -> String {
    String::from_utf8_lossy(p).into_owned()
}

/// A path in a plan line: as it is when it is plain text without spaces or quotes, else quoted
/// as a JSON-like string (so every line splits into its fields).
fn plan_path(p: &[u8]) -> String {
    match std::str::from_utf8(p) {
        Ok(s) if !s.chars().any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '\\') => s.to_string(),
        _ => reshifter_format::show_key(p),
    }
}

fn io_err(what: String, e: Errno) -> Error {
    Error::with_source(Kind::Failure, what, std::io::Error::from(e))
}

/// What is said of a path that must be a directory and is not (a symlink, most often).
fn not_a_dir(path: &[u8]) -> Error {
    Error::new(
        Kind::BadInput,
        format!(
            "{} is a symlink or not a directory under the root: node-load does not write through symlinks \
             (move it away, or restore into an empty --root)",
            show(path)
        ),
    )
}

/// A directory node-load made, or found, was gone when it came back to it: something else is
/// changing the root.
fn vanished(e: &FileEntry) -> Error {
    Error::new(
        Kind::Failure,
        format!(
            "a directory on the way to {} disappeared while node-load wrote: something else changes the root",
            e.show()
        ),
    )
}

/// The root, and the directory the last entry lived in (entries come in path order: most share
/// their parent with the one before), both opened without following links.
struct Dirs {
    root: OwnedFd,
    last: Option<(Vec<u8>, Rc<OwnedFd>)>,
}

impl Dirs {
    fn new(root: OwnedFd) -> Self {
        Dirs { root, last: None }
    }

    /// Where an entry lives: its parent directory and its name. `Ok(None)`: a directory on the
    /// way does not exist (yet); with `create`, such directories are made (mode 0755, the
    /// stream's own modes set last).
    fn parent(&mut self, path: &[u8], create: bool) -> Result<Option<(Rc<OwnedFd>, Vec<u8>)>> {
        let cut = path.iter().rposition(|&b| b == b'/');
        let (dir_path, name) = match cut {
            Some(i) => (&path[..i], path[i + 1..].to_vec()),
            None => (&path[..0], path.to_vec()),
        };
        if let Some((p, fd)) = &self.last
            && p.as_slice() == dir_path
        {
            return Ok(Some((fd.clone(), name)));
        }
        let Some(fd) = self.open_dir(dir_path, create)? else { return Ok(None) };
        let fd = Rc::new(fd);
        self.last = Some((dir_path.to_vec(), fd.clone()));
        Ok(Some((fd, name)))
    }

    fn open_dir(&self, dir_path: &[u8], create: bool) -> Result<Option<OwnedFd>> {
        let mut dir = rustix::io::dup(&self.root).map_err(|e| io_err("dup".into(), e))?;
        if dir_path.is_empty() {
            return Ok(Some(dir));
        }
        let mut walked = Vec::new();
        for c in dir_path.split(|&b| b == b'/') {
            walked.push(c);
            let flags = OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::RDONLY | OFlags::CLOEXEC;
            dir = match rustix::fs::openat(&dir, c, flags, Mode::empty()) {
                Ok(d) => d,
                Err(Errno::NOENT) if create => {
                    rustix::fs::mkdirat(&dir, c, Mode::from_raw_mode(0o755))
                        .map_err(|e| io_err(format!("cannot create {}", show(&walked.join(&b'/'))), e))?;
                    rustix::fs::openat(&dir, c, flags, Mode::empty())
                        .map_err(|e| io_err(format!("cannot open {}", show(&walked.join(&b'/'))), e))?
                }
                Err(Errno::NOENT) => return Ok(None),
                Err(Errno::LOOP | Errno::NOTDIR) => return Err(not_a_dir(&walked.join(&b'/'))),
                Err(e) => return Err(io_err(format!("cannot open {}", show(&walked.join(&b'/'))), e)),
            };
        }
        Ok(Some(dir))
    }
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Judge an entry against what the root holds. Errors are the conflicts no flag resolves.
fn judge(dirs: &mut Dirs, e: &FileEntry, own: &Ownership) -> Result<Action> {
    let Some((dir, name)) = dirs.parent(&e.path, false)? else { return Ok(Action::Create) };
    let st = match rustix::fs::statat(&dir, &name[..], AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(Errno::NOENT) => return Ok(Action::Create),
        Err(err) => return Err(io_err(format!("cannot look at {}", e.show()), err)),
    };
    let ftype = rustix::fs::FileType::from_raw_mode(st.st_mode);
    let differs = match (e.kind, ftype) {
        (FileKind::Dir, rustix::fs::FileType::Directory) => false,
        (FileKind::Dir, _) => return Err(not_a_dir(&e.path)),
        (_, rustix::fs::FileType::Directory) => {
            return Err(Error::new(
                Kind::BadInput,
                format!(
                    "{} is a directory under the root but a {} in the stream: move it away first",
                    show(&e.path),
                    e.kind.name()
                ),
            ));
        }
        (FileKind::File, rustix::fs::FileType::RegularFile) => {
            st.st_size as u64 != e.content.len() as u64 || !same_content(&dir, &name, &e.content)?
        }
        (FileKind::Symlink, rustix::fs::FileType::Symlink) => {
            rustix::fs::readlinkat(&dir, &name[..], Vec::new()).map(|t| t.into_bytes()).ok().as_deref()
                != Some(&e.target[..])
        }
        (FileKind::File | FileKind::Symlink, rustix::fs::FileType::RegularFile | rustix::fs::FileType::Symlink) => true,
        _ => {
            return Err(Error::new(
                Kind::BadInput,
                format!("{} is a device, FIFO or socket under the root: move it away first", e.show()),
            ));
        }
    };
    if differs {
        return Ok(Action::Change);
    }
    let mut what = Vec::new();
    let mode = st.st_mode & 0o7777;
    if e.kind != FileKind::Symlink && mode != e.mode {
        what.push(format!("mode {mode:04o} -> {:04o}", e.mode));
    }
    if let Some((uid, gid)) = own.ids(e)
        && (st.st_uid, st.st_gid) != (uid, gid)
    {
        what.push(format!("owner {}:{} -> {uid}:{gid}", st.st_uid, st.st_gid));
    }
    Ok(if what.is_empty() { Action::Same } else { Action::Meta(what.join(", ")) })
}

fn same_content(dir: &OwnedFd, name: &[u8], want: &[u8]) -> Result<bool> {
    let fd = match rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(_) => return Ok(false),
    };
    let mut h = Sha256::new();
    let mut f = File::from(fd);
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize()[..] == reshifter_format::value_sha256(want)[..])
}

fn times(e: &FileEntry) -> Timestamps {
    let t = Timespec { tv_sec: e.mtime, tv_nsec: i64::from(e.mtime_nsec) as _ };
    Timestamps { last_access: t, last_modification: t }
}

/// A temporary name beside `name`: unpredictable, and never one node-load would restore.
fn temp_name(name: &[u8]) -> Result<Vec<u8>> {
    let mut r = [0u8; 8];
    getrandom::fill(&mut r).map_err(|e| Error::new(Kind::Failure, format!("no randomness: {e}")))?;
    let short = &name[..name.len().min(64)];
    Ok([b".", short, b".node-load-", hex::encode(r).as_bytes()].concat())
}

/// Set what an open file or directory should have: owner first (chown clears setuid bits),
/// then mode, then times.
fn set_meta(fd: impl AsFd, e: &FileEntry, own: &Ownership) -> Result<()> {
    let fd = fd.as_fd();
    if let Some((uid, gid)) = own.ids(e) {
        rustix::fs::fchown(fd, Some(rustix::fs::Uid::from_raw(uid)), Some(rustix::fs::Gid::from_raw(gid)))
            .map_err(|err| io_err(format!("cannot set the owner of {}", e.show()), err))?;
    }
    rustix::fs::fchmod(fd, Mode::from_raw_mode(e.mode))
        .map_err(|err| io_err(format!("cannot set the mode of {}", e.show()), err))?;
    rustix::fs::futimens(fd, &times(e)).map_err(|err| io_err(format!("cannot set the time of {}", e.show()), err))
}

/// A temporary file or link removed unless it was renamed into place (and on a signal).
struct Temp<'a> {
    dir: &'a OwnedFd,
    name: Vec<u8>,
    path: PathBuf,
    done: bool,
}

impl<'a> Temp<'a> {
    fn new(dir: &'a OwnedFd, name: Vec<u8>, path: PathBuf) -> Self {
        reshifter_format::signals::register_temp(&path);
        Temp { dir, name, path, done: false }
    }

    fn commit(mut self, to: &[u8], e: &FileEntry) -> Result<()> {
        rustix::fs::renameat(self.dir, &self.name[..], self.dir, to)
            .map_err(|err| io_err(format!("cannot put {} in place", e.show()), err))?;
        self.done = true;
        Ok(())
    }
}

impl Drop for Temp<'_> {
    fn drop(&mut self) {
        if !self.done {
            let _ = rustix::fs::unlinkat(self.dir, &self.name[..], AtFlags::empty());
        }
        reshifter_format::signals::unregister_temp(&self.path);
    }
}

fn write_entry(dirs: &mut Dirs, root_path: &Path, e: &FileEntry, action: &Action, own: &Ownership) -> Result<()> {
    let Some((dir, name)) = dirs.parent(&e.path, true)? else { return Err(vanished(e)) };
    let at = |n: &[u8]| {
        let mut p = root_path.join(std::ffi::OsStr::new(&*show(&e.path)));
        p.set_file_name(&*show(n));
        p
    };
    match (e.kind, action) {
        (_, Action::Same) => Ok(()),
        (FileKind::Dir, Action::Create) => rustix::fs::mkdirat(&dir, &name[..], Mode::from_raw_mode(0o700))
            .map_err(|err| io_err(format!("cannot create {}", e.show()), err)),
        // A directory's metadata is set after everything inside it is written.
        (FileKind::Dir, _) => Ok(()),
        (FileKind::File | FileKind::Symlink, Action::Meta(_)) => {
            if e.kind == FileKind::Symlink {
                if let Some((uid, gid)) = own.ids(e) {
                    rustix::fs::chownat(
                        &dir,
                        &name[..],
                        Some(rustix::fs::Uid::from_raw(uid)),
                        Some(rustix::fs::Gid::from_raw(gid)),
                        AtFlags::SYMLINK_NOFOLLOW,
                    )
                    .map_err(|err| io_err(format!("cannot set the owner of {}", e.show()), err))?;
                }
                return Ok(());
            }
            let fd = rustix::fs::openat(
                &dir,
                &name[..],
                OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|err| io_err(format!("cannot open {}", e.show()), err))?;
            set_meta(&fd, e, own)
        }
        (FileKind::File, _) => {
            let tmp = temp_name(&name)?;
            let flags = OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            let fd = rustix::fs::openat(&dir, &tmp[..], flags, Mode::from_raw_mode(0o600))
                .map_err(|err| io_err(format!("cannot create a temporary file for {}", e.show()), err))?;
            let guard = Temp::new(&dir, tmp.clone(), at(&tmp));
            let mut f = File::from(fd);
            f.write_all(&e.content)?;
            set_meta(&f, e, own)?;
            f.sync_all()?;
            drop(f);
            guard.commit(&name, e)
        }
        (FileKind::Symlink, _) => {
            let tmp = temp_name(&name)?;
            rustix::fs::symlinkat(&e.target[..], &dir, &tmp[..])
                .map_err(|err| io_err(format!("cannot create the link {}", e.show()), err))?;
            let guard = Temp::new(&dir, tmp.clone(), at(&tmp));
            if let Some((uid, gid)) = own.ids(e) {
                rustix::fs::chownat(
                    &dir,
                    &tmp[..],
                    Some(rustix::fs::Uid::from_raw(uid)),
                    Some(rustix::fs::Gid::from_raw(gid)),
                    AtFlags::SYMLINK_NOFOLLOW,
                )
                .map_err(|err| io_err(format!("cannot set the owner of {}", e.show()), err))?;
            }
            rustix::fs::utimensat(&dir, &tmp[..], &times(e), AtFlags::SYMLINK_NOFOLLOW)
                .map_err(|err| io_err(format!("cannot set the time of {}", e.show()), err))?;
            guard.commit(&name, e)
        }
    }
}

/// A directory's mode, owner and time, once what it holds is written.
fn finish_dir(dirs: &mut Dirs, e: &FileEntry, own: &Ownership) -> Result<()> {
    let Some((dir, name)) = dirs.parent(&e.path, false)? else { return Err(vanished(e)) };
    let flags = OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::RDONLY | OFlags::CLOEXEC;
    let fd = rustix::fs::openat(&dir, &name[..], flags, Mode::empty())
        .map_err(|err| io_err(format!("cannot open {}", e.show()), err))?;
    set_meta(&fd, e, own)
}

/// The spooled stream, read again from its start (it was verified once; reading checks again).
fn reread(spool: &mut File) -> Result<FilesReader<BufReader<File>>> {
    spool.rewind()?;
    FilesReader::new(BufReader::with_capacity(1 << 16, spool.try_clone()?))
}

/// Run node-load: `out` gets the plan's lines (with --plan).
pub fn load(o: LoadOptions, out: &mut dyn Write) -> Result<Loaded> {
    let report = o.report.or_name("node-load");
    if o.root.as_os_str().is_empty() {
        return Err(Error::new(Kind::Usage, "name the directory to write into with --root DIR"));
    }
    let (mut spool, stream_root) = verified(&o)?;
    let own = Ownership { owners: (is_root() && !o.no_owners).then(|| Owners::of(&o.root)) };
    let (n, first_change) = plan(&o, &mut spool, &own, out)?;
    let summary = |n: &Loaded, verb: &str| {
        format!(
            "{verb}: {} created, {} changed, {} with new mode or owner, {} unchanged under {} (from {})",
            n.created,
            n.changed,
            n.meta,
            n.same,
            o.root.display(),
            if stream_root.is_empty() { "a node" } else { &stream_root }
        )
    };
    if o.plan {
        if !o.quiet {
            report.say(summary(&n, "plan"));
        }
        return Ok(n);
    }
    if let Some(p) = first_change.filter(|_| !o.force) {
        return Err(Error::new(
            Kind::Usage,
            format!(
                "{} file(s) differ from the stream (first: {p}): nothing was written; --plan lists them, --force \
                 overwrites them",
                n.changed
            ),
        ));
    }
    write(&o, &mut spool, &own)?;
    if !o.quiet {
        report.say(summary(&n, "loaded"));
        if own.owners.is_none() && !o.no_owners {
            report.say("note: owners were not restored (not running as root): every file belongs to this user");
        }
    }
    Ok(n)
}

/// The whole stream read and verified (the first pass), spooled to an unnamed temporary file;
/// the root it was taken from.
fn verified(o: &LoadOptions) -> Result<(File, String)> {
    let spool = tempfile::tempfile()?;
    let input: Box<dyn BufRead + Send> = open_input(o.input.as_deref())?;
    let mut first = FilesReader::new(BufReader::new(Tee { input, spool: spool.try_clone()? }))?;
    let stream_root = first.header().root.clone().unwrap_or_default();
    while first.next_entry()?.is_some() {}
    Ok((spool, stream_root))
}

/// Every entry judged against the root (the second pass; one line each on `out` with --plan):
/// the counts, and the first file whose content differs.
fn plan(o: &LoadOptions, spool: &mut File, own: &Ownership, out: &mut dyn Write) -> Result<(Loaded, Option<String>)> {
    let mut root_fd =
        match rustix::fs::open(&o.root, OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()) {
            Ok(fd) => Some(Dirs::new(fd)),
            Err(Errno::NOENT) => None,
            Err(e) => return Err(io_err(format!("cannot open --root {}", o.root.display()), e)),
        };
    let mut n = Loaded::default();
    let mut first_change: Option<String> = None;
    let mut r = reread(spool)?;
    while let Some(e) = r.next_entry()? {
        let action = match &mut root_fd {
            Some(dirs) => judge(dirs, &e, own)?,
            None => Action::Create,
        };
        let (count, verb) = match &action {
            Action::Create => (&mut n.created, "create"),
            Action::Change => {
                first_change.get_or_insert_with(|| e.show());
                (&mut n.changed, "change")
            }
            Action::Meta(_) => (&mut n.meta, "meta"),
            Action::Same => (&mut n.same, "same"),
        };
        *count += 1;
        if o.plan {
            let what = if let Action::Meta(what) = &action { format!(" {what}") } else { String::new() };
            writeln!(out, "{verb} {} {}{what}", e.kind.name(), plan_path(&e.path))?;
        }
    }
    out.flush()?;
    Ok((n, first_change))
}

/// Files and links written by temporary name and rename, directories created (the third pass);
/// then the directories' modes, owners and times (the last).
fn write(o: &LoadOptions, spool: &mut File, own: &Ownership) -> Result<()> {
    std::fs::create_dir_all(&o.root)
        .map_err(|e| Error::with_source(Kind::Failure, format!("cannot create --root {}", o.root.display()), e))?;
    let root_fd = rustix::fs::open(&o.root, OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| io_err(format!("cannot open --root {}", o.root.display()), e))?;
    let mut dirs = Dirs::new(root_fd);
    let mut r = reread(spool)?;
    while let Some(e) = r.next_entry()? {
        if let Some(sig) = reshifter_format::signals::received() {
            return Err(Error::new(Kind::Failure, format!("stopped by signal {sig}: the root is partly written")));
        }
        let action = judge(&mut dirs, &e, own)?;
        write_entry(&mut dirs, &o.root, &e, &action, own)?;
    }
    dirs.last = None;
    let mut r = reread(spool)?;
    while let Some(e) = r.next_entry()? {
        if e.kind == FileKind::Dir {
            finish_dir(&mut dirs, &e, own)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_hide_and_differ() {
        let a = temp_name(b"admin.conf").unwrap();
        let b = temp_name(b"admin.conf").unwrap();
        assert!(a.starts_with(b".admin.conf.node-load-") && a != b);
    }
}
