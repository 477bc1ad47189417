//! Shared input and output: every tool reads `[input]` (default stdin) and writes stdout or a file
//! through these helpers. A regular file (or a new path) is written under a temporary name with
//! mode 0600 in the directory of its resolved path and renamed into place only when complete; a
//! symlink is followed, never replaced; a device, FIFO or socket (`-o /dev/null`) is written
//! directly. Temporary files are removed when the process is interrupted ([`crate::signals`]).

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
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
        _ => Ok(Box::new(BufReader::with_capacity(BUF_SIZE, std::io::stdin()))),
    }
}

/// Open an input file named on the command line (a usage error when it cannot be).
pub fn open_file(p: &Path) -> Result<File> {
    File::open(p).map_err(|e| Error::with_source(Kind::Usage, format!("cannot open {}", p.display()), e))
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
    BufWriter::with_capacity(BUF_SIZE, std::io::stdout())
}

/// A file created under a temporary name next to its destination (mode 0600) and renamed to the
/// destination by [`AtomicFile::commit`]. Dropped uncommitted, the temporary file is removed and
/// the destination is untouched.
pub struct AtomicFile {
    tmp: PathBuf,
    dest: PathBuf,
    file: Option<File>,
}

impl AtomicFile {
    pub fn create(dest: &Path) -> Result<Self> {
        let dest = &resolve(dest)?;
        let name = dest
            .file_name()
            .ok_or_else(|| Error::new(Kind::Usage, format!("{} is not a file name", dest.display())))?;
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".tmp-{}", std::process::id()));
        let tmp = dest.with_file_name(tmp_name);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| Error::with_source(Kind::Failure, format!("cannot create {}", tmp.display()), e))?;
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
    pub fn commit(mut self) -> Result<()> {
        let file = self.file.take().expect("open until committed");
        file.sync_all()
            .map_err(|e| Error::with_source(Kind::Failure, format!("cannot write {}", self.dest.display()), e))?;
        drop(file);
        let renamed = std::fs::rename(&self.tmp, &self.dest);
        crate::signals::unregister_temp(&self.tmp);
        if let Err(e) = renamed {
            let _ = std::fs::remove_file(&self.tmp);
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
/// that the link itself is never replaced and the temporary file is made next to the target.
fn resolve(p: &Path) -> Result<PathBuf> {
    let mut path = p.to_path_buf();
    for _ in 0..40 {
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => {
                let target = std::fs::read_link(&path).map_err(|e| {
                    Error::with_source(Kind::Usage, format!("cannot read the link {}", path.display()), e)
                })?;
                path = match path.parent() {
                    Some(dir) if target.is_relative() => dir.join(target),
                    _ => target,
                };
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
                if is_special(p) {
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
