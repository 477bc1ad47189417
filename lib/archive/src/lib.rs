//! Archives: a stream as a ZIP file (docs/FORMAT.md, "Archive layout").
//!
//! ```text
//! reshifter/header.json          the stream header line (first entry)
//! kv/<key path>/content          one entry per key, in stream order; data = the value;
//!                                extra field 0x7372 = revisions, lease, SHA-256 of the value
//! reshifter/manifest.ndjson      header line, one line per key (path, size, sha256, revisions,
//!                                lease), trailer line (last entry)
//! ```
//!
//! Entries carry their sizes before their data, so an archive streams from a pipe; the manifest
//! comes last because only then is the stream known to be complete. A delta stream's archive
//! holds its event lines in chunks (`reshifter/delta/<n>.ndjson`) between header and manifest,
//! a files stream's its entry lines (`reshifter/files/<n>.ndjson`).

mod cdir;
pub mod crypt;
mod lines;
pub mod pack;
pub mod path;
pub mod payload;
pub mod unpack;
pub mod zipw;

use reshifter_format::{Record, RecordMeta};

/// The first entry of our archives.
pub const HEADER_ENTRY: &str = "reshifter/header.json";
/// The last entry of our archives.
pub const MANIFEST_ENTRY: &str = "reshifter/manifest.ndjson";
/// The header entry of the node's files carried in a keyspace archive (`archive-pack
/// --node-files`): a files stream's header line, after the keyspace's manifest.
pub const NODE_HEADER_ENTRY: &str = "reshifter/node/header.json";
/// Where the node's files' chunk entries are.
pub const NODE_CHUNKS: &str = "reshifter/node/files";
/// The manifest of the node's files, the archive's last entry when they are carried.
pub const NODE_MANIFEST_ENTRY: &str = "reshifter/node/manifest.ndjson";

/// Body lines per chunk entry of a delta or files archive: a chunk ends at the first line end
/// after this many bytes.
pub const CHUNK: usize = 8 << 20;

/// ZIP extra field id of our per-entry metadata ("rs").
pub const META_ID: u16 = 0x7372;
const META_VERSION: u8 = 1;

/// Per-entry metadata kept in the extra field: the record's revisions, lease and value SHA-256
/// (its key and length come from the entry), and, in archives of the first release, the key of
/// an entry whose path is hashed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    pub meta: RecordMeta,
    pub key: Option<Vec<u8>>,
}

/// The extra field (id, length, data) for a record: version byte, four little-endian i64
/// (create_revision, mod_revision, version, lease), the SHA-256 of the value. (Archives of the
/// first release also put the key of a `kv-long/` entry after it; readers still accept that.)
pub fn encode_meta(r: &Record, sha: &[u8; 32]) -> Vec<u8> {
    let len = 1 + 32 + 32;
    let mut x = Vec::with_capacity(4 + len);
    x.extend_from_slice(&META_ID.to_le_bytes());
    x.extend_from_slice(&(len as u16).to_le_bytes());
    x.push(META_VERSION);
    for n in r.revs() {
        x.extend_from_slice(&n.to_le_bytes());
    }
    x.extend_from_slice(sha);
    x
}

/// Find and decode our metadata among an entry's extra fields.
pub fn decode_meta(extra: &[u8]) -> Option<Meta> {
    let mut x = extra;
    while x.len() >= 4 {
        let id = u16::from_le_bytes([x[0], x[1]]);
        let len = u16::from_le_bytes([x[2], x[3]]) as usize;
        let data = x.get(4..4 + len)?;
        if id == META_ID {
            if data.len() < 65 || data[0] != META_VERSION {
                return None;
            }
            let n = |i: usize| i64::from_le_bytes(data[1 + 8 * i..9 + 8 * i].try_into().expect("8 bytes"));
            let meta = RecordMeta { sha256: data[33..65].try_into().expect("32 bytes"), ..RecordMeta::default() };
            return Some(Meta {
                meta: meta.with_revs([n(0), n(1), n(2), n(3)]),
                key: (data.len() > 65).then(|| data[65..].to_vec()),
            });
        }
        x = &x[4 + len..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_round_trip() {
        let r = Record {
            key: b"/k".to_vec(),
            value: b"v".to_vec(),
            create_revision: 5,
            mod_revision: 9,
            version: 2,
            lease: -7,
        };
        let sha = [7u8; 32];
        let mut extra = vec![0x01, 0x00, 0x00, 0x00]; // an empty field first
        extra.extend(encode_meta(&r, &sha));
        let m = decode_meta(&extra).unwrap();
        assert_eq!(m.meta.revs(), [5, 9, 2, -7]);
        assert_eq!(m.meta.sha256, sha);
        assert!(m.key.is_none());
        // The first release's long keys: the key after the hash.
        let mut old = encode_meta(&r, &sha);
        old[2] += 2;
        old.extend_from_slice(b"/k");
        assert_eq!(decode_meta(&old).unwrap().key.as_deref(), Some(&b"/k"[..]));
    }
}
