//! A streaming ZIP writer in constant memory.
//!
//! Why not `zip::ZipWriter`: its stream mode writes sizes after the data (data descriptors),
//! which stream readers — the zip crate's among them — refuse, and it keeps every entry's
//! central-directory record in memory. Here each entry is compressed before it is written, so the
//! local header carries the CRC and sizes (any reader can stream the archive), and the central
//! directory is spooled to a temporary file and appended at the end. An archive whose writer is
//! not finished has no central directory: `unzip -t` and every other reader refuse it.
//!
//! ZIP64 end records are written when there are 65535 entries or more or offsets pass 4 GiB.

use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};

/// Compression methods we write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Stored,
    Deflate,
    Zstd,
}

impl Method {
    pub fn code(self) -> u16 {
        match self {
            Method::Stored => 0,
            Method::Deflate => 8,
            Method::Zstd => 93,
        }
    }
}

/// One entry, already compressed.
pub struct Entry {
    pub name: String,
    pub method: Method,
    pub crc32: u32,
    pub size: u64,
    pub data: Vec<u8>,
    /// Extra fields for the local header (raw, id + length + data each).
    pub extra: Vec<u8>,
}

const U32_MAX: u64 = 0xFFFF_FFFF;

/// DOS date and time (UTC) from Unix seconds.
pub fn dos_time(unix: u64) -> (u16, u16) {
    let days = (unix / 86400) as i64;
    let secs = unix % 86400;
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    if y < 1980 {
        return (0, (1 << 5) | 1);
    }
    let time = ((secs / 3600) << 11) | (((secs % 3600) / 60) << 5) | ((secs % 60) / 2);
    let date = (((y - 1980) as u64) << 9) | ((m as u64) << 5) | d as u64;
    (time as u16, date as u16)
}

/// Writes entries as they come; the central directory waits in a temporary file.
pub struct ZipStreamWriter<W: Write> {
    out: W,
    offset: u64,
    entries: u64,
    cd: BufWriter<File>,
    cd_len: u64,
    time: (u16, u16),
}

impl<W: Write> ZipStreamWriter<W> {
    pub fn new(out: W, unix_time: u64) -> io::Result<Self> {
        let cd = BufWriter::new(tempfile::tempfile()?);
        Ok(ZipStreamWriter { out, offset: 0, entries: 0, cd, cd_len: 0, time: dos_time(unix_time) })
    }

    pub fn entries(&self) -> u64 {
        self.entries
    }

    /// Bytes written so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    pub fn add(&mut self, e: &Entry) -> io::Result<()> {
        self.local_header(&e.name, e.method, e.crc32, e.size, e.data.len() as u64, &e.extra)?;
        self.out.write_all(&e.data)?;
        self.offset += e.data.len() as u64;
        Ok(())
    }

    /// An entry whose compressed data comes from a reader (`csize` bytes of it).
    pub fn add_stream(
        &mut self,
        name: &str,
        method: Method,
        crc32: u32,
        size: u64,
        csize: u64,
        data: &mut dyn Read,
    ) -> io::Result<()> {
        self.local_header(name, method, crc32, size, csize, &[])?;
        let n = io::copy(&mut data.take(csize), &mut self.out)?;
        if n != csize {
            return Err(io::Error::other("entry data was cut short"));
        }
        self.offset += csize;
        Ok(())
    }

    /// Write a local header (sizes known: no data descriptor), and record the central entry.
    fn local_header(
        &mut self,
        name: &str,
        method: Method,
        crc32: u32,
        size: u64,
        csize: u64,
        extra: &[u8],
    ) -> io::Result<()> {
        if name.len() > 0xFFFF || extra.len() + 20 > 0xFFFF {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "a ZIP entry name or extra field over 64 KiB"));
        }
        let large = size > U32_MAX || csize > U32_MAX;
        let mut z64 = Vec::new();
        if large {
            z64.extend_from_slice(&1u16.to_le_bytes());
            z64.extend_from_slice(&16u16.to_le_bytes());
            z64.extend_from_slice(&size.to_le_bytes());
            z64.extend_from_slice(&csize.to_le_bytes());
        }
        let flags: u16 = if name.is_ascii() { 0 } else { 1 << 11 };
        let clip = |v: u64| if large { U32_MAX as u32 } else { v as u32 };
        let nb = name.as_bytes();
        let mut h = Vec::with_capacity(30 + nb.len() + z64.len() + extra.len());
        h.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        h.extend_from_slice(&(if large { 45u16 } else { 20 }).to_le_bytes());
        h.extend_from_slice(&flags.to_le_bytes());
        h.extend_from_slice(&method.code().to_le_bytes());
        h.extend_from_slice(&self.time.0.to_le_bytes());
        h.extend_from_slice(&self.time.1.to_le_bytes());
        h.extend_from_slice(&crc32.to_le_bytes());
        h.extend_from_slice(&clip(csize).to_le_bytes());
        h.extend_from_slice(&clip(size).to_le_bytes());
        h.extend_from_slice(&(nb.len() as u16).to_le_bytes());
        h.extend_from_slice(&((z64.len() + extra.len()) as u16).to_le_bytes());
        h.extend_from_slice(nb);
        h.extend_from_slice(&z64);
        h.extend_from_slice(extra);
        self.out.write_all(&h)?;
        self.central_record(name, method, crc32, flags, csize, size)?;
        self.offset += h.len() as u64;
        self.entries += 1;
        Ok(())
    }

    fn central_record(
        &mut self,
        name: &str,
        method: Method,
        crc32: u32,
        flags: u16,
        csize: u64,
        usize_: u64,
    ) -> io::Result<()> {
        let name = name.as_bytes();
        let big = csize > U32_MAX || usize_ > U32_MAX || self.offset > U32_MAX;
        let mut z64 = Vec::new();
        if big {
            // Sizes and offset, all three, always in the ZIP64 field when any overflows.
            z64.extend_from_slice(&1u16.to_le_bytes());
            z64.extend_from_slice(&24u16.to_le_bytes());
            z64.extend_from_slice(&usize_.to_le_bytes());
            z64.extend_from_slice(&csize.to_le_bytes());
            z64.extend_from_slice(&self.offset.to_le_bytes());
        }
        let clip = |v: u64| if big { U32_MAX as u32 } else { v as u32 };
        let mut c = Vec::with_capacity(46 + name.len() + z64.len());
        c.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        c.extend_from_slice(&((3u16 << 8) | 45).to_le_bytes()); // made by: Unix, 4.5
        c.extend_from_slice(&(if big { 45u16 } else { 20 }).to_le_bytes());
        c.extend_from_slice(&flags.to_le_bytes());
        c.extend_from_slice(&method.code().to_le_bytes());
        c.extend_from_slice(&self.time.0.to_le_bytes());
        c.extend_from_slice(&self.time.1.to_le_bytes());
        c.extend_from_slice(&crc32.to_le_bytes());
        c.extend_from_slice(&clip(csize).to_le_bytes());
        c.extend_from_slice(&clip(usize_).to_le_bytes());
        c.extend_from_slice(&(name.len() as u16).to_le_bytes());
        c.extend_from_slice(&(z64.len() as u16).to_le_bytes());
        c.extend_from_slice(&0u16.to_le_bytes()); // comment
        c.extend_from_slice(&0u16.to_le_bytes()); // disk
        c.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
        c.extend_from_slice(&((0o100600u32) << 16).to_le_bytes()); // regular file, 0600
        c.extend_from_slice(&clip(self.offset).to_le_bytes());
        c.extend_from_slice(name);
        c.extend_from_slice(&z64);
        self.cd.write_all(&c)?;
        self.cd_len += c.len() as u64;
        Ok(())
    }

    /// Append the central directory and the end records; return the output.
    pub fn finish(mut self) -> io::Result<W> {
        let cd_start = self.offset;
        let mut cd = self.cd.into_inner().map_err(|e| e.into_error())?;
        cd.seek(SeekFrom::Start(0))?;
        let copied = io::copy(&mut (&mut cd).take(self.cd_len), &mut self.out)?;
        if copied != self.cd_len {
            return Err(io::Error::other("the central directory spool was cut short"));
        }
        let cd_end = cd_start + self.cd_len;
        let zip64 = self.entries >= 0xFFFF || cd_start >= U32_MAX || self.cd_len >= U32_MAX;
        let mut t = Vec::new();
        if zip64 {
            t.extend_from_slice(&0x0606_4b50u32.to_le_bytes());
            t.extend_from_slice(&44u64.to_le_bytes());
            t.extend_from_slice(&((3u16 << 8) | 45).to_le_bytes());
            t.extend_from_slice(&45u16.to_le_bytes());
            t.extend_from_slice(&0u32.to_le_bytes());
            t.extend_from_slice(&0u32.to_le_bytes());
            t.extend_from_slice(&self.entries.to_le_bytes());
            t.extend_from_slice(&self.entries.to_le_bytes());
            t.extend_from_slice(&self.cd_len.to_le_bytes());
            t.extend_from_slice(&cd_start.to_le_bytes());
            t.extend_from_slice(&0x0706_4b50u32.to_le_bytes());
            t.extend_from_slice(&0u32.to_le_bytes());
            t.extend_from_slice(&cd_end.to_le_bytes());
            t.extend_from_slice(&1u32.to_le_bytes());
        }
        let n16 = if zip64 { 0xFFFF } else { self.entries as u16 };
        t.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
        t.extend_from_slice(&0u16.to_le_bytes());
        t.extend_from_slice(&0u16.to_le_bytes());
        t.extend_from_slice(&n16.to_le_bytes());
        t.extend_from_slice(&n16.to_le_bytes());
        t.extend_from_slice(&(if zip64 { U32_MAX as u32 } else { self.cd_len as u32 }).to_le_bytes());
        t.extend_from_slice(&(if zip64 { U32_MAX as u32 } else { cd_start as u32 }).to_le_bytes());
        t.extend_from_slice(&0u16.to_le_bytes());
        self.out.write_all(&t)?;
        self.out.flush()?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dos_time_of_known_dates() {
        // 2026-11-23T18:06:53Z
        let (t, d) = dos_time(1_795_457_213);
        assert_eq!(d >> 9, 2026 - 1980);
        assert_eq!((d >> 5) & 15, 11);
        assert_eq!(d & 31, 23);
        assert_eq!(t >> 11, 18);
        assert_eq!((t >> 5) & 63, 6);
    }

    #[test]
    fn the_zip_crate_reads_what_we_write() {
        let mut w = ZipStreamWriter::new(Vec::new(), 1_795_457_213).unwrap();
        let data = b"hello hello hello hello".to_vec();
        let mut c = flate2::Compress::new(flate2::Compression::new(6), false);
        let mut out = Vec::with_capacity(100);
        c.compress_vec(&data, &mut out, flate2::FlushCompress::Finish).unwrap();
        w.add(&Entry {
            name: "a/content".into(),
            method: Method::Deflate,
            crc32: crc32fast::hash(&data),
            size: data.len() as u64,
            data: out,
            extra: vec![],
        })
        .unwrap();
        w.add(&Entry {
            name: "b".into(),
            method: Method::Stored,
            crc32: crc32fast::hash(b"x"),
            size: 1,
            data: b"x".to_vec(),
            extra: vec![],
        })
        .unwrap();
        let bytes = w.finish().unwrap();
        let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes.clone())).unwrap();
        let mut s = String::new();
        z.by_name("a/content").unwrap().read_to_string(&mut s).unwrap();
        assert_eq!(s, "hello hello hello hello");
        let mut r = &bytes[..];
        let f = zip::read::read_zipfile_from_stream(&mut r).unwrap().unwrap();
        assert_eq!(f.name().unwrap(), "a/content");
    }
}
