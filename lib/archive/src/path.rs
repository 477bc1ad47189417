//! The mapping between etcd keys and ZIP entry paths (docs/FORMAT.md, "Entry paths").
//!
//! Every key becomes a directory holding one file, `content` (as in ReShifter), so that a key that
//! is also the parent of other keys (`/a` and `/a/b`) never collides. Each `/`-separated segment is
//! percent-encoded so that any byte string maps to a safe, relative path:
//!
//! - bytes other than `A-Z a-z 0-9 . _ ~ -` become `%XX` (uppercase hex), so no `:`, `\`,
//!   control characters or non-UTF-8 bytes reach a file name;
//! - the segments `.`, `..` and `content` become `%2E`, `%2E%2E` and `%63ontent`;
//! - an empty segment (from `//` or a trailing `/`) becomes `%`, which percent-encoding never
//!   produces on its own.
//!
//! Keys that start with `/` live under `kv/`, others under `kv%/`. A key whose path would exceed
//! [`MAX_PATH`] bytes lives at `kv-long/<sha256 of the key>/content`; its key is kept in the
//! entry's metadata. The mapping is reversible (see [`key_of`]) and paths never escape the
//! extraction directory.

use sha2::{Digest, Sha256};

/// Longest entry path we write (ZIP allows 65535; file systems allow far less per component,
/// but keys are short in practice).
pub const MAX_PATH: usize = 4096;

/// The leaf file of every key directory.
pub const LEAF: &str = "content";

fn plain_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'~' | b'-')
}

fn encode_segment(seg: &[u8], out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    match seg {
        b"" => out.push('%'),
        b"." => out.push_str("%2E"),
        b".." => out.push_str("%2E%2E"),
        b"content" => out.push_str("%63ontent"),
        _ => {
            for &b in seg {
                if plain_byte(b) {
                    out.push(b as char);
                } else {
                    out.push('%');
                    out.push(HEX[(b >> 4) as usize] as char);
                    out.push(HEX[(b & 15) as usize] as char);
                }
            }
        }
    }
}

/// The entry path of a key.
pub fn path_of(key: &[u8]) -> String {
    let (root, rest) = match key.strip_prefix(b"/") {
        Some(rest) => ("kv", rest),
        None => ("kv%", key),
    };
    let mut p = String::with_capacity(key.len() + 16);
    p.push_str(root);
    for seg in rest.split(|&b| b == b'/') {
        p.push('/');
        encode_segment(seg, &mut p);
    }
    p.push('/');
    p.push_str(LEAF);
    if p.len() > MAX_PATH {
        return format!("kv-long/{}/{LEAF}", hex::encode(Sha256::digest(key)));
    }
    p
}

/// True for paths of the hashed form, whose key is only in the entry's metadata.
pub fn is_hashed(path: &str) -> bool {
    path.starts_with("kv-long/")
}

fn decode_segment(seg: &str) -> Option<Vec<u8>> {
    if seg == "%" {
        return Some(Vec::new());
    }
    let b = seg.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = seg.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else if plain_byte(b[i]) {
            out.push(b[i]);
            i += 1;
        } else {
            return None;
        }
    }
    Some(out)
}

/// The key of an entry path; `None` for paths this mapping does not produce.
pub fn key_of(path: &str) -> Option<Vec<u8>> {
    let (root, rest) = path.split_once('/')?;
    let rest = rest.strip_suffix(LEAF)?.strip_suffix('/')?;
    let mut key = match root {
        "kv" => b"/".to_vec(),
        "kv%" => Vec::new(),
        _ => return None,
    };
    for (i, seg) in rest.split('/').enumerate() {
        if i > 0 {
            key.push(b'/');
        }
        key.extend_from_slice(&decode_segment(seg)?);
    }
    Some(key)
}

/// ReShifter's layout: `<backup id>/<key without its leading slash>/content`, `:` written as
/// `ESC_COLON`. The layout has no escapes beyond that, so keys it cannot hold safely and
/// reversibly are refused, with the reason: not UTF-8, not starting with `/`, holding
/// `ESC_COLON` or `\\`, empty, `.` or `..` segments (they would escape or collapse on
/// extraction), or too long for a ZIP entry name.
pub fn reshifter_path(backup_id: &str, key: &[u8]) -> Result<String, &'static str> {
    let k = std::str::from_utf8(key).map_err(|_| "it is not UTF-8")?;
    let k = k.strip_prefix('/').ok_or("it does not start with /")?;
    if k.contains("ESC_COLON") {
        return Err("it contains ESC_COLON, ReShifter's escape for ':'");
    }
    if k.contains('\\') {
        return Err("it contains a backslash");
    }
    if k.split('/').any(|seg| seg.is_empty() || seg == "." || seg == "..") {
        return Err("it has an empty, '.' or '..' path segment");
    }
    let p = format!("{backup_id}/{}/{LEAF}", k.replace(':', "ESC_COLON"));
    if p.len() > 65_535 {
        return Err("it is too long for a ZIP entry name");
    }
    Ok(p)
}

/// The key of a ReShifter entry path.
pub fn reshifter_key(path: &str) -> Option<Vec<u8>> {
    let (_, rest) = path.split_once('/')?;
    let k = rest.strip_suffix(LEAF)?.strip_suffix('/')?;
    Some(format!("/{}", k.replace("ESC_COLON", ":")).into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_readable_and_reversible() {
        let cases: &[(&[u8], &str)] = &[
            (b"/registry/pods/default/nginx-1", "kv/registry/pods/default/nginx-1/content"),
            (b"/registry/clusterroles/system:kube-dns", "kv/registry/clusterroles/system%3Akube-dns/content"),
            (b"/a", "kv/a/content"),
            (b"/a/b", "kv/a/b/content"),
            (b"/a//b/", "kv/a/%/b/%/content"),
            (b"/../x", "kv/%2E%2E/x/content"),
            (b"/./content", "kv/%2E/%63ontent/content"),
            (b"noslash", "kv%/noslash/content"),
            (b"/", "kv/%/content"),
            (b"/bin/\xff\x00 %", "kv/bin/%FF%00%20%25/content"),
            (b"/caf\xc3\xa9", "kv/caf%C3%A9/content"),
        ];
        for (key, path) in cases {
            assert_eq!(path_of(key), *path);
            assert_eq!(key_of(path).as_deref(), Some(*key), "{path}");
        }
        let long = vec![b'x'; 5000];
        let p = path_of(&long);
        assert!(p.starts_with("kv-long/") && p.ends_with("/content") && is_hashed(&p));
    }

    #[test]
    fn paths_never_escape() {
        for key in [&b"/../../etc/passwd"[..], b"/..", b"..", b"/a/../../b", b"/\\..\\x", b"C:\\x", b"/~/x"] {
            let p = path_of(key);
            assert!(!p.split('/').any(|s| s == ".." || s == "." || s.is_empty()), "{p}");
            assert!(!p.contains('\\') && !p.contains(':') && !p.starts_with('/'), "{p}");
        }
    }

    #[test]
    fn reshifter_layout() {
        let p = reshifter_path("1499588813", b"/registry/clusterroles/kops:dns-controller").unwrap();
        assert_eq!(p, "1499588813/registry/clusterroles/kopsESC_COLONdns-controller/content");
        assert_eq!(reshifter_key(&p).unwrap(), b"/registry/clusterroles/kops:dns-controller");
        assert_eq!(reshifter_path("1", b"\xff"), Err("it is not UTF-8"));
        for bad in [&b"/a/../b"[..], b"/..", b"/a//b", b"/a/", b"/./x", b"/a\\b"] {
            assert!(reshifter_path("1", bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        assert_eq!(reshifter_path("1", &[b'/'; 70_000][..1]).unwrap_err(), "it has an empty, '.' or '..' path segment");
        let long = [b"/".to_vec(), vec![b'x'; 70_000]].concat();
        assert_eq!(reshifter_path("1", &long), Err("it is too long for a ZIP entry name"));
    }
}
