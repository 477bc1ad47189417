//! The local entries of a keyspace archive (one per key), read without the zip crate's stream
//! reader: each value is read whole and inflated by libdeflate, much faster on small entries
//! than a streaming inflater set up anew for each (archive-unpack spent half its time there),
//! and checked against its CRC-32. The manifest, which may be large, is read as a stream. The
//! layout is the one zipw.rs writes (sizes in the local header, never a data descriptor); what
//! else a ZIP may hold is refused as the zip crate refuses it.

use std::io::{Read, Take};

use zip::result::ZipError;

use super::entry::{claims_too_much, entry_error};
use reshifter_format::error::{Error, Kind, Result};

/// A local entry's header.
pub(super) struct Local {
    pub(super) name: Vec<u8>,
    pub(super) extra: Vec<u8>,
    method: u16,
    pub(super) crc: u32,
    pub(super) csize: u64,
    pub(super) size: u64,
}

const LOCAL: u32 = 0x0403_4b50;
const CENTRAL: u32 = 0x0201_4b50;
const END: u32 = 0x0605_4b50;

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn invalid(why: &'static str) -> ZipError {
    ZipError::InvalidArchive(why.into())
}

/// The next local entry's header, or `None` at the central directory (its first signature read,
/// as the zip crate's stream reader leaves it).
pub(super) fn next_local<R: Read>(rd: &mut R) -> std::result::Result<Option<Local>, ZipError> {
    let mut head = [0u8; 30];
    rd.read_exact(&mut head[..4])?;
    match le32(&head, 0) {
        LOCAL => {}
        CENTRAL | END => return Ok(None),
        _ => return Err(invalid("Invalid local file header")),
    }
    rd.read_exact(&mut head[4..])?;
    let flags = le16(&head, 6);
    if flags & 1 != 0 {
        return Err(ZipError::UnsupportedArchive("encrypted entries are not supported"));
    }
    if flags & 8 != 0 {
        return Err(ZipError::UnsupportedArchive("The file length is not available in the local header"));
    }
    let (mut csize, mut size) = (u64::from(le32(&head, 18)), u64::from(le32(&head, 22)));
    let mut name = vec![0u8; usize::from(le16(&head, 26))];
    let mut extra = vec![0u8; usize::from(le16(&head, 28))];
    rd.read_exact(&mut name)?;
    rd.read_exact(&mut extra)?;
    // ZIP64: the sizes that do not fit in 32 bits, in the extra field 0x0001 (size first).
    let mut x = &extra[..];
    while x.len() >= 4 {
        let (id, n) = (le16(x, 0), usize::from(le16(x, 2)));
        let Some(body) = x.get(4..4 + n) else { break };
        if id == 1 {
            let mut f = body;
            for v in [&mut size, &mut csize] {
                if *v == 0xFFFF_FFFF {
                    let Some(b) = f.get(..8) else { return Err(invalid("bad ZIP64 extra field")) };
                    *v = u64::from_le_bytes(b.try_into().expect("8 bytes"));
                    f = &f[8..];
                }
            }
        }
        x = &x[4 + n..];
    }
    Ok(Some(Local { name, extra, method: le16(&head, 8), crc: le32(&head, 14), csize, size }))
}

impl Local {
    pub(super) fn name_lossy(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }

    /// The entry's data, whole (claimed to be at most `cap` bytes), checked against its size and
    /// CRC-32.
    pub(super) fn whole<R: Read>(
        &self,
        rd: &mut R,
        name: &str,
        cap: usize,
        inflater: &mut libdeflater::Decompressor,
    ) -> Result<Vec<u8>> {
        let corrupt = |kind, why: String| Error::new(kind, format!("entry {name}: {why}: the archive is corrupt"));
        // Compressed data is never much larger than what it holds.
        if self.size > cap as u64 || self.csize > cap as u64 + (cap as u64 >> 3) + 4096 {
            return Err(claims_too_much(name, self.size.max(self.csize), cap));
        }
        let mut data = vec![0u8; self.csize as usize];
        rd.read_exact(&mut data).map_err(|e| entry_error(name, ZipError::Io(e)))?;
        let size = self.size as usize;
        let out = match self.method {
            0 => data,
            8 => {
                let mut out = vec![0u8; size];
                match inflater.deflate_decompress(&data, &mut out) {
                    Ok(n) if n == size => out,
                    Ok(n) => return Err(corrupt(Kind::Integrity, format!("{n} bytes instead of {size}"))),
                    Err(libdeflater::DecompressionError::InsufficientSpace) => {
                        return Err(corrupt(Kind::Integrity, format!("more than the {size} bytes it claims")));
                    }
                    Err(_) => return Err(corrupt(Kind::BadInput, "corrupt deflate stream".into())),
                }
            }
            93 => match zstd::bulk::decompress(&data, size) {
                Ok(out) if out.len() == size => out,
                Ok(out) => return Err(corrupt(Kind::Integrity, format!("{} bytes instead of {size}", out.len()))),
                Err(_) => return Err(corrupt(Kind::BadInput, "corrupt zstd stream".into())),
            },
            m => return Err(corrupt(Kind::BadInput, format!("compression method {m} is not supported"))),
        };
        if out.len() != size {
            return Err(corrupt(Kind::Integrity, format!("{} bytes instead of {size}", out.len())));
        }
        if crc32fast::hash(&out) != self.crc {
            return Err(corrupt(Kind::Integrity, "CRC-32 mismatch".into()));
        }
        Ok(out)
    }

    /// The entry's data as a stream (for the manifest, which may be large), checked against its
    /// size and CRC-32 at its end. `data` is the entry's compressed bytes.
    pub(super) fn stream<'a, R: Read + 'a>(&self, data: &'a mut Take<R>) -> std::io::Result<Checked<'a>> {
        let inner: Box<dyn Read + 'a> = match self.method {
            0 => Box::new(data),
            8 => Box::new(flate2::read::DeflateDecoder::new(data)),
            93 => Box::new(zstd::stream::read::Decoder::new(data)?),
            m => return Err(std::io::Error::other(format!("compression method {m} is not supported"))),
        };
        Ok(Checked { inner, crc: crc32fast::Hasher::new(), want: self.crc, size: self.size, read: 0 })
    }
}

/// An entry's data that checks its size and CRC-32 when it ends.
pub(super) struct Checked<'a> {
    inner: Box<dyn Read + 'a>,
    crc: crc32fast::Hasher,
    want: u32,
    size: u64,
    read: u64,
}

impl Read for Checked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.crc.update(&buf[..n]);
        self.read += n as u64;
        if self.read > self.size {
            return Err(std::io::Error::other("more data than the entry claims"));
        }
        if n == 0 && !buf.is_empty() {
            if self.read != self.size {
                return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the entry ends early"));
            }
            if self.crc.clone().finalize() != self.want {
                return Err(std::io::Error::other("Invalid checksum"));
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A local header and its data, as zipw.rs writes them.
    fn entry(flags: u16, method: u16, crc: u32, size: u32, data: &[u8]) -> Vec<u8> {
        let mut b = LOCAL.to_le_bytes().to_vec();
        b.extend_from_slice(&20u16.to_le_bytes());
        b.extend_from_slice(&flags.to_le_bytes());
        b.extend_from_slice(&method.to_le_bytes());
        b.extend_from_slice(&[0; 4]);
        b.extend_from_slice(&crc.to_le_bytes());
        b.extend_from_slice(&(data.len() as u32).to_le_bytes());
        b.extend_from_slice(&size.to_le_bytes());
        b.extend_from_slice(&3u16.to_le_bytes());
        b.extend_from_slice(&0u16.to_le_bytes());
        b.extend_from_slice(b"k/v");
        b.extend_from_slice(data);
        b
    }

    fn read(bytes: &[u8]) -> Result<Vec<u8>> {
        let mut rd = bytes;
        let l = next_local(&mut rd).map_err(|e| entry_error("(start)", e))?.expect("an entry");
        l.whole(&mut rd, "k/v", 1 << 20, &mut libdeflater::Decompressor::new())
    }

    #[test]
    fn values_are_inflated_whole_and_checked() {
        let value = b"a value a value a value".repeat(20);
        let mut c = libdeflater::Compressor::new(libdeflater::CompressionLvl::default());
        let mut data = vec![0u8; c.deflate_compress_bound(value.len())];
        let n = c.deflate_compress(&value, &mut data).unwrap();
        data.truncate(n);
        let crc = crc32fast::hash(&value);
        let size = value.len() as u32;
        assert_eq!(read(&entry(0, 8, crc, size, &data)).unwrap(), value);
        assert_eq!(read(&entry(0, 0, crc, size, &value)).unwrap(), value);
        let err = |b: &[u8]| read(b).unwrap_err().to_string();
        assert_eq!(err(&entry(0, 8, crc ^ 1, size, &data)), "entry k/v: CRC-32 mismatch: the archive is corrupt");
        assert_eq!(
            err(&entry(0, 8, crc, size - 1, &data)),
            format!("entry k/v: more than the {} bytes it claims: the archive is corrupt", size - 1)
        );
        assert_eq!(
            err(&entry(0, 8, crc, size + 1, &data)),
            format!("entry k/v: {size} bytes instead of {}: the archive is corrupt", size + 1)
        );
        assert_eq!(
            err(&entry(0, 8, crc, 2 << 20, &data)),
            "entry k/v claims 2097152 bytes, more than the 1 MiB allowed: the archive is corrupt"
        );
        let mut bad = data.clone();
        bad[0] = 0xff;
        assert_eq!(err(&entry(0, 8, crc, size, &bad)), "entry k/v: corrupt deflate stream: the archive is corrupt");
        let whole = entry(0, 8, crc, size, &data);
        let cut = read(&whole[..whole.len() - 3]).unwrap_err();
        assert_eq!(cut.kind(), Kind::Truncated);
        // Sizes in a ZIP64 extra field (the header's are 0xFFFFFFFF): size first, then csize.
        let mut z = entry(0, 8, crc, u32::MAX, &data);
        z[18..22].copy_from_slice(&u32::MAX.to_le_bytes());
        z[28..30].copy_from_slice(&20u16.to_le_bytes());
        let mut extra = vec![1, 0, 16, 0];
        extra.extend_from_slice(&u64::from(size).to_le_bytes());
        extra.extend_from_slice(&(data.len() as u64).to_le_bytes());
        z.splice(33..33, extra);
        assert_eq!(read(&z).unwrap(), value);
        z[35] = 8;
        assert!(matches!(next_local(&mut &z[..]), Err(ZipError::InvalidArchive(_))));
        // Sizes after the data and encryption are not ours.
        assert!(matches!(next_local(&mut &entry(8, 8, crc, size, &data)[..]), Err(ZipError::UnsupportedArchive(_))));
        assert!(matches!(next_local(&mut &entry(1, 8, crc, size, &data)[..]), Err(ZipError::UnsupportedArchive(_))));
        assert!(matches!(next_local(&mut &CENTRAL.to_le_bytes()[..]), Ok(None)));
    }
}
