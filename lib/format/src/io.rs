//! Shared input and output: every tool reads `[input]` (default stdin) and writes stdout or a file
//! through these helpers. A regular file (or a new path) is written under an unpredictable
//! temporary name (created with O_EXCL, so never through a planted link) with mode 0600 in the
//! directory of its resolved path and renamed into place only when complete; a symlink is
//! followed, never replaced — but only where the kernel's protected_symlinks would follow it
//! (in a sticky world-writable directory such as /tmp, a link owned by the caller or by the
//! directory's owner); a device, FIFO or socket (`-o /dev/null`) is written directly. Temporary
//! files are removed when the process is interrupted ([`crate::signals`]).

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Kind, Result};

/// Buffer size for stream I/O.
pub const BUF_SIZE: usize = 256 * 1024;

/// True when `path` means standard input/output.
pub fn is_stdio(path: Option<&Path>) -> bool {
    path.is_none_or(|p| p.as_os_str() == "-")
}

/// Open the input named on the command line; `None` or `-` is stdin.
pub fn open_input(path: Option<&Path>) -> Result<Box<dyn BufRead + Send>> {
    match path {
        Some(p) if !is_stdio(Some(p)) => Ok(Box::new(BufReader::with_capacity(BUF_SIZE, open_file(p)?))),
        _ => {
            widen_pipe(std::io::stdin());
            Ok(Box::new(BufReader::with_capacity(BUF_SIZE, std::io::stdin())))
        }
    }
}

/// Bytes a pipe between two of the tools holds: Linux's default is 64 KiB, so every buffered
/// write of [`BUF_SIZE`] filled it several times over, each time a wake-up of the other side (a
/// tenth of archive-unpack's CPU in `archive-unpack | etcd-load`). 1 MiB is what
/// /proc/sys/fs/pipe-max-size lets any user ask for by default.
const PIPE_SIZE: usize = 1 << 20;

/// Widen a pipe on standard input or output to [`PIPE_SIZE`]; anything else, or a refusal (a
/// user past the kernel's per-user pipe limit), leaves it as it is.
fn widen_pipe(fd: impl std::os::fd::AsFd) {
    let is_pipe = rustix::fs::fstat(&fd).is_ok_and(|st| rustix::fs::FileType::from_raw_mode(st.st_mode).is_fifo());
    if is_pipe && rustix::pipe::fcntl_getpipe_size(&fd).is_ok_and(|n| n < PIPE_SIZE) {
        let _ = rustix::pipe::fcntl_setpipe_size(&fd, PIPE_SIZE);
    }
}

/// Open an input file named on the command line (a usage error when it cannot be).
pub fn open_file(p: &Path) -> Result<File> {
    File::open(p).map_err(|e| Error::with_source(Kind::Usage, format!("cannot open {}", p.display()), e))
}

/// The largest file an option may name (configs, tokens, passwords, passphrases, identities,
/// recipients, certificates, keys): such files are small, and one that is not (`/dev/zero`, a
/// wrong path) must not be read whole.
pub const MAX_OPTION_FILE: u64 = 1 << 20;

/// Read a small file named in an option (`what` names it in messages): a regular file of at
/// most [`MAX_OPTION_FILE`] bytes, else a usage error that says so.
pub fn read_option_file(what: &str, p: &Path) -> Result<Vec<u8>> {
    use std::io::Read;
    let cannot = |e: std::io::Error| Error::with_source(Kind::Usage, format!("cannot read {what} {}", p.display()), e);
    let file = File::open(p).map_err(cannot)?;
    let meta = file.metadata().map_err(cannot)?;
    if !meta.is_file() {
        return Err(Error::new(Kind::Usage, format!("{what} {} is not a regular file", p.display())));
    }
    let mut bytes = Vec::with_capacity(meta.len().min(MAX_OPTION_FILE) as usize);
    file.take(MAX_OPTION_FILE + 1).read_to_end(&mut bytes).map_err(cannot)?;
    if bytes.len() as u64 > MAX_OPTION_FILE {
        return Err(Error::new(
            Kind::Usage,
            format!("{what} {} is larger than {} KiB: is it the right file?", p.display(), MAX_OPTION_FILE >> 10),
        ));
    }
    Ok(bytes)
}

/// [`read_option_file`] as UTF-8 text.
pub fn read_option_text(what: &str, p: &Path) -> Result<String> {
    String::from_utf8(read_option_file(what, p)?)
        .map_err(|_| Error::new(Kind::Usage, format!("{what} {} is not UTF-8 text", p.display())))
}

/// True when standard output is a regular file (`> file`), not a pipe or a terminal.
pub fn stdout_is_file() -> bool {
    use std::os::fd::AsFd;
    std::io::stdout()
        .as_fd()
        .try_clone_to_owned()
        .ok()
        .map(File::from)
        .and_then(|f| f.metadata().ok())
        .is_some_and(|m| m.is_file())
}

/// Buffered standard output.
pub fn stdout() -> BufWriter<std::io::Stdout> {
    widen_pipe(std::io::stdout());
    BufWriter::with_capacity(BUF_SIZE, std::io::stdout())
}

/// A file created under a temporary name next to its destination (mode 0600, a random name made
/// with O_EXCL) and renamed to the destination by [`AtomicFile::commit`]. Dropped uncommitted,
/// the temporary file is removed and the destination is untouched.
pub struct AtomicFile {
    tmp: PathBuf,
    dest: PathBuf,
    file: Option<File>,
}

impl AtomicFile {
    pub fn create(dest: &Path) -> Result<Self> {
        use std::os::unix::fs::PermissionsExt;
        let dest = &resolve(dest)?;
        let name = dest
            .file_name()
            .ok_or_else(|| Error::new(Kind::Usage, format!("{} is not a file name", dest.display())))?;
        let dir = match dest.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let mut prefix = std::ffi::OsString::from(".");
        prefix.push(name);
        prefix.push(".tmp-");
        let named = tempfile::Builder::new()
            .prefix(&prefix)
            .rand_bytes(10)
            .permissions(std::fs::Permissions::from_mode(0o600))
            .tempfile_in(dir)
            .map_err(|e| {
                Error::with_source(Kind::Failure, format!("cannot create a temporary file in {}", dir.display()), e)
            })?;
        // The path is ours to remove (on drop, on a signal), not tempfile's.
        let (file, path) = named.into_parts();
        let tmp =
            path.keep().map_err(|e| Error::with_source(Kind::Failure, "cannot keep a temporary file", e.error))?;
        crate::signals::register_temp(&tmp);
        Ok(AtomicFile { tmp, dest: dest.to_path_buf(), file: Some(file) })
    }

    /// The open temporary file (e.g. to seek in it).
    pub fn file(&mut self) -> &mut File {
        self.file.as_mut().expect("open until committed")
    }

    /// The temporary file's path (to read it back before it is committed).
    pub fn temp_path(&self) -> &Path {
        &self.tmp
    }

    /// Flush to disk and rename into place under another name in the same directory (one
    /// known only once the content is: a segment named by its last revision).
    pub fn commit_as(mut self, dest: &Path) -> Result<()> {
        self.dest = dest.to_path_buf();
        self.commit()
    }

    /// Flush to disk and rename into place.
    pub fn commit(self) -> Result<()> {
        self.finish(false)
    }

    /// Flush to disk and move into place only if nothing is there yet: a file that appeared
    /// meanwhile (another upload of the same backup) is never replaced.
    pub fn commit_new(self) -> Result<()> {
        self.finish(true)
    }

    fn finish(mut self, no_replace: bool) -> Result<()> {
        let file = self.file.take().expect("open until committed");
        file.sync_all()
            .map_err(|e| Error::with_source(Kind::Failure, format!("cannot write {}", self.dest.display()), e))?;
        drop(file);
        let renamed = if no_replace {
            // A hard link fails when the destination exists; then the temporary name goes.
            std::fs::hard_link(&self.tmp, &self.dest).map(|()| {
                let _ = std::fs::remove_file(&self.tmp);
            })
        } else {
            std::fs::rename(&self.tmp, &self.dest)
        };
        crate::signals::unregister_temp(&self.tmp);
        if let Err(e) = renamed {
            let _ = std::fs::remove_file(&self.tmp);
            if no_replace && e.kind() == std::io::ErrorKind::AlreadyExists {
                return Err(Error::new(Kind::Usage, format!("{} exists already: not replaced", self.dest.display())));
            }
            return Err(Error::with_source(Kind::Failure, format!("cannot rename into {}", self.dest.display()), e));
        }
        if let Some(dir) = self.dest.parent() {
            let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.file().write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.file().flush()
    }
}

impl std::io::Seek for AtomicFile {
    fn seek(&mut self, pos: std::io::SeekFrom) -> std::io::Result<u64> {
        self.file().seek(pos)
    }
}

impl std::io::Read for AtomicFile {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.file().read(buf)
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp);
            crate::signals::unregister_temp(&self.tmp);
        }
    }
}

/// The path a write to `p` lands on: symlinks followed (a dangling one to its target's path), so
/// that the link itself is never replaced and the temporary file is made next to the target. A
/// link is followed only where the kernel would (fs.protected_symlinks): in a sticky directory
/// that others may write, only a link owned by the caller or by the directory's owner — a link
/// another user planted in /tmp is refused, not followed to a file of ours.
fn resolve(p: &Path) -> Result<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let mut path = p.to_path_buf();
    for _ in 0..40 {
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => {
                let dir = match path.parent() {
                    Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
                    _ => PathBuf::from("."),
                };
                if let Ok(d) = std::fs::metadata(&dir)
                    && d.mode() & 0o1002 == 0o1002
                    && m.uid() != rustix::process::geteuid().as_raw()
                    && m.uid() != d.uid()
                {
                    return Err(Error::new(
                        Kind::Usage,
                        format!(
                            "{} is a link owned by another user (uid {}) in the shared directory {}: not followed \
                             (name the target itself, or write elsewhere)",
                            path.display(),
                            m.uid(),
                            dir.display()
                        ),
                    ));
                }
                let target = std::fs::read_link(&path).map_err(|e| {
                    Error::with_source(Kind::Usage, format!("cannot read the link {}", path.display()), e)
                })?;
                path = if target.is_relative() { dir.join(target) } else { target };
            }
            _ => return Ok(path),
        }
    }
    Err(Error::new(Kind::Usage, format!("{}: too many levels of symbolic links", p.display())))
}

/// True when `p` (links followed) is something other than a regular file or a new path: a
/// device, a FIFO, a socket. Such outputs are written in place, never replaced.
fn is_special(p: &Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| !m.is_file() && !m.is_dir())
}

/// Where a tool writes: stdout, a file that appears only when complete, or a special file
/// (device, FIFO) written in place.
pub enum Output {
    Stdout(BufWriter<std::io::Stdout>),
    File(BufWriter<AtomicFile>),
    Special(BufWriter<File>),
    /// Any writer (a pipe to another thread).
    Writer(BufWriter<Box<dyn Write + Send>>),
}

impl Output {
    /// `None` or `-` is stdout.
    pub fn create(path: Option<&Path>) -> Result<Self> {
        match path {
            Some(p) if !is_stdio(Some(p)) => {
                if is_special(&resolve(p)?) {
                    let f = OpenOptions::new()
                        .write(true)
                        .open(p)
                        .map_err(|e| Error::with_source(Kind::Usage, format!("cannot open {}", p.display()), e))?;
                    return Ok(Output::Special(BufWriter::with_capacity(BUF_SIZE, f)));
                }
                Ok(Output::File(BufWriter::with_capacity(BUF_SIZE, AtomicFile::create(p)?)))
            }
            _ => Ok(Output::Stdout(stdout())),
        }
    }

    /// Flush, and for a file, rename it into place.
    pub fn finish(self) -> Result<()> {
        match self {
            Output::Stdout(mut w) => Ok(w.flush()?),
            Output::Special(mut w) => Ok(w.flush()?),
            Output::Writer(mut w) => Ok(w.flush()?),
            Output::File(w) => w.into_inner().map_err(|e| Error::from(e.into_error()))?.commit(),
        }
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Output::Stdout(w) => w.write(buf),
            Output::File(w) => w.write(buf),
            Output::Special(w) => w.write(buf),
            Output::Writer(w) => w.write(buf),
        }
    }
    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        match self {
            Output::Stdout(w) => w.write_all(buf),
            Output::File(w) => w.write_all(buf),
            Output::Special(w) => w.write_all(buf),
            Output::Writer(w) => w.write_all(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Output::Stdout(w) => w.flush(),
            Output::File(w) => w.flush(),
            Output::Special(w) => w.flush(),
            Output::Writer(w) => w.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn atomic_file_appears_only_on_commit() {
        let dir = tempfile_dir();
        let dest = dir.join("out.zip");
        let mut f = AtomicFile::create(&dest).unwrap();
        f.write_all(b"data").unwrap();
        assert!(!dest.exists());
        f.commit().unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"data");
        assert_eq!(std::fs::metadata(&dest).unwrap().permissions().mode() & 0o777, 0o600);
        let mut f = AtomicFile::create(&dir.join("gone")).unwrap();
        f.write_all(b"x").unwrap();
        drop(f);
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn tempfile_dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!("reshifter-io-test-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
