//! The digests of a stream: what a trailer certifies (docs/FORMAT.md, "Trailer and digests").

use sha2::{Digest as _, Sha256};

use super::{Header, Lease, Record, RecordMeta, Trailer, value_sha256};

/// The running digests of a stream (see FORMAT.md, "Trailer and digests").
#[derive(Clone, Default)]
pub struct Digests {
    content: Sha256,
    meta: Sha256,
    count: u64,
    bytes: u64,
}

impl Digests {
    pub fn update(&mut self, r: &Record) {
        let h = value_sha256(&r.value);
        self.add(&r.key, &h, r.value.len(), r.revs());
    }

    /// Update with a record known by its metadata.
    pub fn update_meta(&mut self, m: &RecordMeta) {
        self.add(&m.key, &m.sha256, m.len, m.revs());
    }

    /// Update with the value's SHA-256 already computed (`value_len` is its length) and the
    /// record's [`Record::revs`].
    pub(crate) fn add(&mut self, key: &[u8], value_hash: &[u8; 32], value_len: usize, revs: [i64; 4]) {
        self.content.update((key.len() as u64).to_le_bytes());
        self.content.update(key);
        self.content.update(value_hash);
        self.meta.update((key.len() as u64).to_le_bytes());
        self.meta.update(key);
        for n in revs {
            self.meta.update(n.to_le_bytes());
        }
        self.count += 1;
        self.bytes += (key.len() + value_len) as u64;
    }

    /// Count a record without hashing it (for a light check: count and bytes only).
    pub fn update_counts(&mut self, key_len: usize, value_len: usize) {
        self.count += 1;
        self.bytes += (key_len + value_len) as u64;
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The trailer for these records under a header (its [`Frame`]).
    pub fn trailer(&self, frame: &Frame) -> Trailer {
        Trailer {
            line_type: "trailer".into(),
            count: self.count,
            bytes: self.bytes,
            sha256: hex::encode(self.content.clone().finalize()),
            meta_sha256: hex::encode(self.meta.clone().finalize()),
            header_sha256: frame.header_sha256.clone(),
            end_revision: None,
            leases: Vec::new(),
            anchor: None,
        }
    }

    /// Update with one event of a delta stream: `op` 1 for a put (with its value's SHA-256),
    /// 2 for a delete (FORMAT.md, "Delta streams").
    pub(crate) fn add_event(
        &mut self,
        op: u8,
        key: &[u8],
        value_hash: Option<&[u8; 32]>,
        value_len: usize,
        revs: [i64; 4],
    ) {
        self.content.update([op]);
        self.content.update((key.len() as u64).to_le_bytes());
        self.content.update(key);
        if let Some(h) = value_hash {
            self.content.update(h);
        }
        self.meta.update([op]);
        self.meta.update((key.len() as u64).to_le_bytes());
        self.meta.update(key);
        for n in revs {
            self.meta.update(n.to_le_bytes());
        }
        self.count += 1;
        self.bytes += (key.len() + value_len) as u64;
    }

    /// Update with one entry of a files stream, its content's SHA-256 given (FORMAT.md, "Files
    /// streams").
    pub(crate) fn add_file(&mut self, e: &crate::files::FileEntry, content_hash: &[u8; 32]) {
        fn put(h: &mut Sha256, b: &[u8]) {
            h.update((b.len() as u64).to_le_bytes());
            h.update(b);
        }
        put(&mut self.content, &e.path);
        self.content.update(content_hash);
        let m = &mut self.meta;
        put(m, &e.path);
        m.update([e.kind as u8 + 1]);
        for n in [e.mode, e.uid, e.gid] {
            m.update(n.to_le_bytes());
        }
        put(m, e.user.as_deref().unwrap_or("").as_bytes());
        put(m, e.group.as_deref().unwrap_or("").as_bytes());
        m.update(e.mtime.to_le_bytes());
        m.update(e.mtime_nsec.to_le_bytes());
        put(m, &e.target);
        self.count += 1;
        self.bytes += (e.path.len() + e.content.len()) as u64;
    }

    /// The trailer of a delta stream ending at `end_revision` with `leases`: the metadata
    /// digest also covers those two claims.
    pub(crate) fn delta_trailer(&self, frame: &Frame, end_revision: i64, leases: Vec<Lease>) -> Trailer {
        let mut meta = self.meta.clone();
        meta.update(3u64.to_le_bytes());
        meta.update(b"end");
        meta.update(end_revision.to_le_bytes());
        meta.update((leases.len() as u64).to_le_bytes());
        for l in &leases {
            meta.update(l.id_num().to_le_bytes());
            meta.update(l.ttl.to_le_bytes());
            meta.update(l.granted_ttl.to_le_bytes());
        }
        Trailer {
            meta_sha256: hex::encode(meta.finalize()),
            end_revision: Some(end_revision),
            leases,
            ..self.trailer(frame)
        }
    }
}

/// What a header makes writers and readers check: the key order, the prefixes every key lies
/// under, and the digest of its claims that a format-2 trailer carries.
#[derive(Debug, Clone)]
pub struct Frame {
    header_sha256: Option<String>,
    sorted: bool,
    /// The header's prefixes, sorted, none a prefix of another; empty = the whole keyspace.
    bounds: Vec<Vec<u8>>,
}

impl Frame {
    pub fn of(header: &Header) -> Self {
        let mut ps: Vec<Vec<u8>> = header.bounds().into_iter().map(String::into_bytes).collect();
        ps.sort();
        ps.dedup();
        let mut bounds: Vec<Vec<u8>> = Vec::new();
        for p in ps {
            if bounds.last().is_some_and(|k| p.starts_with(k)) {
                continue;
            }
            bounds.push(p);
        }
        if bounds.first().is_some_and(|p| p.is_empty()) {
            bounds.clear();
        }
        Frame { header_sha256: (header.format >= 2).then(|| header.claims_sha256()), sorted: header.sorted, bounds }
    }

    pub fn sorted(&self) -> bool {
        self.sorted
    }

    /// The digest a trailer must carry for this header (format 2), if any.
    pub fn header_sha256(&self) -> Option<&str> {
        self.header_sha256.as_deref()
    }

    /// True when `key` starts with one of the header's prefixes.
    pub fn within(&self, key: &[u8]) -> bool {
        if self.bounds.is_empty() {
            return true;
        }
        // The greatest prefix not above the key is the only candidate: no prefix of the list
        // starts with another, so any larger one that is not above the key differs from it
        // within its length.
        let i = self.bounds.partition_point(|p| p.as_slice() <= key);
        i > 0 && key.starts_with(&self.bounds[i - 1])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds() {
        let mut h = Header::new("t");
        h.prefixes = vec!["/b/".into(), "/a".into(), "/a/x".into(), "/c/d".into()];
        let f = Frame::of(&h);
        for (k, inside) in [
            (&b"/a"[..], true),
            (b"/a/x/y", true),
            (b"/ab", true),
            (b"/b", false),
            (b"/b/", true),
            (b"/b/z", true),
            (b"/c/", false),
            (b"/c/d", true),
            (b"/c/e", false),
            (b"", false),
            (b"\xff", false),
        ] {
            assert_eq!(f.within(k), inside, "{}", String::from_utf8_lossy(k));
        }
        h.prefixes = vec!["/x".into(), "".into()];
        assert!(Frame::of(&h).within(b"anything"));
        h.prefixes = vec![];
        assert!(Frame::of(&h).within(b"anything"));
    }
}
