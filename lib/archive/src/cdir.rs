//! The central directory of an archive read as a stream: after the manifest, it must repeat the
//! local entries record by record (names, CRC-32s, sizes, in order, as many), then the ZIP64 end
//! records when used, then the end of central directory record, which must end the input.

use std::io::Read;

use sha2::{Digest, Sha256};

use reshifter_format::error::{Error, Kind, Result};

/// What the central directory must repeat of each local entry: name, CRC-32 and sizes, hashed in
/// order, and how many.
#[derive(Default)]
pub(crate) struct EntryLog {
    hash: Sha256,
    count: u64,
}

impl EntryLog {
    fn add(&mut self, name: &[u8], crc: u32, csize: u64, size: u64) {
        self.hash.update((name.len() as u64).to_le_bytes());
        self.hash.update(name);
        self.hash.update(crc.to_le_bytes());
        self.hash.update(csize.to_le_bytes());
        self.hash.update(size.to_le_bytes());
        self.count += 1;
    }

    pub(crate) fn log<R: Read>(&mut self, f: &zip::read::ZipFile<'_, R>) {
        self.add(f.name_raw(), f.crc32(), f.compressed_size(), f.size());
    }

    /// An entry read by its local header alone.
    pub(crate) fn log_parts(&mut self, name: &[u8], crc: u32, csize: u64, size: u64) {
        self.add(name, crc, csize, size);
    }
}

fn le16(b: &[u8], at: usize) -> u64 {
    u64::from(u16::from_le_bytes([b[at], b[at + 1]]))
}

fn le32(b: &[u8], at: usize) -> u64 {
    u64::from(u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes")))
}

fn le64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

const CENTRAL: u64 = 0x0201_4b50;
const ZIP64_END: u64 = 0x0606_4b50;
const ZIP64_LOCATOR: u64 = 0x0706_4b50;
const END: u64 = 0x0605_4b50;

fn corrupt(what: &str) -> Error {
    Error::new(Kind::Integrity, format!("the archive's central directory {what}"))
}

fn read_n<R: Read>(rd: &mut R, n: usize) -> Result<Vec<u8>> {
    let mut b = vec![0u8; n];
    rd.read_exact(&mut b).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            Error::new(Kind::Truncated, "the archive's central directory is cut short: it is incomplete")
        } else {
            e.into()
        }
    })?;
    Ok(b)
}

/// Check the central directory against the local entries logged while reading them.
pub(crate) fn check_central_directory<R: Read>(rd: &mut R, local: EntryLog) -> Result<()> {
    let mut central = EntryLog::default();
    let mut cd_bytes = 0u64;
    let mut zip64: Option<(u64, u64)> = None;
    loop {
        match le32(&read_n(rd, 4)?, 0) {
            CENTRAL => cd_bytes += central_record(rd, &mut central)?,
            ZIP64_END => zip64 = Some(zip64_end(rd)?),
            ZIP64_LOCATOR => {
                read_n(rd, 16)?;
            }
            END => return end_record(rd, zip64, central, cd_bytes, local),
            _ => return Err(corrupt("holds an unknown record: the archive is corrupt")),
        }
    }
}

/// One central directory record (after its signature), logged; returns its length.
fn central_record<R: Read>(rd: &mut R, central: &mut EntryLog) -> Result<u64> {
    let h = read_n(rd, 42)?;
    let (n, x, c) = (le16(&h, 24) as usize, le16(&h, 26) as usize, le16(&h, 28) as usize);
    let name = read_n(rd, n)?;
    let extra = read_n(rd, x)?;
    read_n(rd, c)?;
    let (crc, mut csize, mut size) = (le32(&h, 12) as u32, le32(&h, 16), le32(&h, 20));
    if csize == 0xFFFF_FFFF || size == 0xFFFF_FFFF {
        // ZIP64 extended information: the original size, then the compressed size.
        let mut e = &extra[..];
        while e.len() >= 4 {
            let (id, len) = (le16(e, 0), le16(e, 2) as usize);
            let data = e.get(4..4 + len).ok_or_else(|| corrupt("has a bad extra field"))?;
            if id == 1 && data.len() >= 16 {
                size = le64(data, 0);
                csize = le64(data, 8);
            }
            e = &e[4 + len..];
        }
    }
    central.add(&name, crc, csize, size);
    Ok(46 + (n + x + c) as u64)
}

/// The ZIP64 end of central directory record (after its signature): entries and size.
fn zip64_end<R: Read>(rd: &mut R) -> Result<(u64, u64)> {
    let len = le64(&read_n(rd, 8)?, 0);
    if !(44..=1 << 16).contains(&len) {
        return Err(corrupt("has a bad ZIP64 end record"));
    }
    let r = read_n(rd, len as usize)?;
    // After the size: versions (2 + 2), disk numbers (4 + 4), entries on this disk (8), entries
    // (8), central directory size (8), its offset (8).
    Ok((le64(&r, 20), le64(&r, 28)))
}

/// The end of central directory record (after its signature): it must end the input, and
/// count what the directory and the local entries hold.
fn end_record<R: Read>(
    rd: &mut R,
    zip64: Option<(u64, u64)>,
    central: EntryLog,
    cd_bytes: u64,
    local: EntryLog,
) -> Result<()> {
    let e = read_n(rd, 18)?;
    read_n(rd, le16(&e, 16) as usize)?;
    let mut more = [0u8; 1];
    if rd.read(&mut more)? != 0 {
        return Err(Error::new(Kind::BadInput, "data follows the archive's end record: the archive was altered"));
    }
    let (mut entries, mut size) = (le16(&e, 6), le32(&e, 8));
    if let Some((z_entries, z_size)) = zip64 {
        if entries == 0xFFFF {
            entries = z_entries;
        }
        if size == 0xFFFF_FFFF {
            size = z_size;
        }
    }
    if entries != central.count || size != cd_bytes {
        return Err(corrupt("disagrees with its end record"));
    }
    if central.count != local.count || central.hash.finalize() != local.hash.finalize() {
        return Err(corrupt("does not list the entries the archive holds: the archive was altered"));
    }
    Ok(())
}
