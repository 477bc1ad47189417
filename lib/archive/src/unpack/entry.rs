//! Reading entries: the first bytes of an input, errors named by the entry they happened in,
//! an entry's data bounded by its claimed size, and truncation told from damage.

use std::io::{BufRead, Cursor, Read};

use zip::result::ZipError;

use crate::crypt::AGE_MAGIC;
use reshifter_format::error::{Error, Kind, Result};

/// A reader with its first bytes put back in front.
pub(super) type Peeked<R> = std::io::Chain<Cursor<Vec<u8>>, R>;

/// Read up to `n` bytes without losing them.
pub(super) fn peek<R: Read>(mut r: R, n: usize) -> std::io::Result<(Vec<u8>, Peeked<R>)> {
    let mut head = Vec::with_capacity(n);
    (&mut r).take(n as u64).read_to_end(&mut head)?;
    Ok((head.clone(), Cursor::new(head).chain(r)))
}

/// The name of the first local file header in `head` (cut at the end of `head`), if it is one.
pub(super) fn first_entry_name(head: &[u8]) -> Option<&[u8]> {
    if head.len() < 30 || head[..4] != [0x50, 0x4b, 0x03, 0x04] {
        return None;
    }
    let n = u16::from_le_bytes([head[26], head[27]]) as usize;
    Some(&head[30..(30 + n).min(head.len())])
}

/// True when input starting with `head` is an archive (a ZIP, or an age file) rather than a
/// stream.
pub fn is_archive(head: &[u8]) -> bool {
    head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") || head.starts_with(AGE_MAGIC)
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

/// An entry whose header claims more than the `cap` bytes allowed.
pub(crate) fn claims_too_much(name: &str, claimed: u64, cap: usize) -> Error {
    Error::new(
        Kind::BadInput,
        format!("entry {name} claims {claimed} bytes, more than the {} MiB allowed: the archive is corrupt", cap >> 20),
    )
}

/// An entry's data, at most `cap` bytes, which must be the size its header claims.
pub(crate) fn read_entry_data(f: &mut impl Read, name: &str, claimed: u64, cap: usize) -> Result<Vec<u8>> {
    if claimed > cap as u64 {
        return Err(claims_too_much(name, claimed, cap));
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

/// A reader that remembers whether its input ended: an entry that cannot be read because the
/// input ended inside its local header is a truncated archive (exit 4), not a corrupt one.
pub(super) struct EofSeen<R> {
    pub(super) inner: R,
    pub(super) eof: std::rc::Rc<std::cell::Cell<bool>>,
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
pub(super) fn cut_or(e: Error, eof: bool, after: &str) -> Error {
    if eof && e.kind() != Kind::Truncated {
        return Error::new(
            Kind::Truncated,
            format!("the archive is truncated (in or after entry {after}): it is incomplete"),
        );
    }
    e
}
