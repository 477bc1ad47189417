//! Looking at a node's tree from a root without ever leaving it: paths are resolved component
//! by component with `lstat`, a symlink's target read as from the root (absolute targets as in
//! a chroot), and directories are walked without following links.

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The most symlinks followed while resolving one path (Linux's own limit).
const MAX_HOPS: usize = 40;
/// The deepest a walk goes.
const MAX_DEPTH: usize = 64;
/// The most paths one dump takes (a root that is a whole disk by mistake ends with an error).
pub const MAX_PATHS: usize = 200_000;

/// Paths relative to a root, `/`-separated, without `.` or `..`.
pub type Rel = Vec<u8>;

fn as_path(root: &Path, rel: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    root.join(std::ffi::OsStr::from_bytes(rel))
}

/// What lstat says of `rel` under `root`, when it exists.
pub fn lstat(root: &Path, rel: &[u8]) -> Option<std::fs::Metadata> {
    if rel.is_empty() {
        return std::fs::metadata(root).ok();
    }
    std::fs::symlink_metadata(as_path(root, rel)).ok()
}

/// `rel`'s components pushed onto `base` (a stack of components), `..` popping (never above the
/// root) and `.`/empty ignored.
fn push_components(base: &mut Vec<Vec<u8>>, rel: &[u8]) {
    for c in rel.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                base.pop();
            }
            c => base.push(c.to_vec()),
        }
    }
}

fn join(parts: &[Vec<u8>]) -> Rel {
    parts.join(&b'/')
}

/// A path as found under a root: the symlinks met on the way (each a path to keep, so the
/// tree reads the same after a restore) and where it ends.
pub struct Resolved {
    pub links: Vec<Rel>,
    pub path: Rel,
    pub meta: std::fs::Metadata,
}

/// Resolve `path` (absolute on the node, or relative to the root) under `root`, following
/// symlinks only within it. `None` when it does not exist (or loops).
pub fn resolve(root: &Path, path: &[u8]) -> Option<Resolved> {
    resolve_or_links(root, path).ok()
}

/// [`resolve`], saying on failure which symlinks were met before it (a dangling link a
/// configuration names is still part of the node).
pub fn resolve_or_links(root: &Path, path: &[u8]) -> Result<Resolved, Vec<Rel>> {
    let mut todo: Vec<Vec<u8>> = Vec::new();
    push_components(&mut todo, path);
    todo.reverse();
    let (mut done, mut links, mut hops) = (Vec::<Vec<u8>>::new(), Vec::new(), 0);
    while let Some(c) = todo.pop() {
        if c == b".." {
            done.pop();
            continue;
        }
        done.push(c);
        let here = join(&done);
        let Some(meta) = lstat(root, &here) else { return Err(links) };
        if meta.file_type().is_symlink() {
            hops += 1;
            if hops > MAX_HOPS {
                return Err(links);
            }
            let Ok(target) = std::fs::read_link(as_path(root, &here)) else { return Err(links) };
            let target = std::os::unix::ffi::OsStrExt::as_bytes(target.as_os_str()).to_vec();
            links.push(here);
            done.pop();
            if target.first() == Some(&b'/') {
                done.clear();
            }
            let mut rest: Vec<Vec<u8>> = Vec::new();
            push_target(&mut rest, &target);
            for c in rest.into_iter().rev() {
                todo.push(c);
            }
        } else if !todo.is_empty() && !meta.is_dir() {
            return Err(links);
        }
    }
    let path = join(&done);
    match lstat(root, &path) {
        Some(meta) => Ok(Resolved { links, path, meta }),
        None => Err(links),
    }
}

/// A link target's components, `..` kept (the resolving loop pops for them, never above the
/// root).
fn push_target(out: &mut Vec<Vec<u8>>, target: &[u8]) {
    for c in target.split(|&b| b == b'/') {
        if !c.is_empty() && c != b"." {
            out.push(c.to_vec());
        }
    }
}

/// What a walk left out, for the summary: special files (a directory that cannot be read is an
/// error: a backup that silently misses files is not one).
#[derive(Default, Debug)]
pub struct Skipped {
    pub special: Vec<Rel>,
}

/// Every path under the directory `dir` (itself included), without following links.
pub fn walk(root: &Path, dir: &[u8], out: &mut BTreeSet<Rel>, skipped: &mut Skipped) -> Result<(), String> {
    walk_in(root, dir, 0, out, skipped, &mut |_| true)
}

/// [`walk`], keeping only the paths `keep` accepts (directories are still descended).
pub fn walk_matching(
    root: &Path,
    dir: &[u8],
    out: &mut BTreeSet<Rel>,
    skipped: &mut Skipped,
    keep: &mut dyn FnMut(&[u8]) -> bool,
) -> Result<(), String> {
    walk_in(root, dir, 0, out, skipped, keep)
}

fn walk_in(
    root: &Path,
    dir: &[u8],
    depth: usize,
    out: &mut BTreeSet<Rel>,
    skipped: &mut Skipped,
    keep: &mut dyn FnMut(&[u8]) -> bool,
) -> Result<(), String> {
    if out.len() > MAX_PATHS {
        return Err(format!("more than {MAX_PATHS} paths: name narrower --include globs"));
    }
    if !dir.is_empty() && keep(dir) {
        out.insert(dir.to_vec());
    }
    if depth >= MAX_DEPTH {
        return Err(format!("{} is deeper than {MAX_DEPTH} directories", String::from_utf8_lossy(dir)));
    }
    for (rel, t) in list(root, dir)? {
        if t.is_dir() {
            walk_in(root, &rel, depth + 1, out, skipped, keep)?;
        } else if t.is_file() || t.is_symlink() {
            if keep(&rel) {
                out.insert(rel);
            }
        } else if keep(&rel) {
            skipped.special.push(rel);
        }
    }
    Ok(())
}

/// What the directory `dir` holds, in byte order of the names, with each entry's kind (from
/// the directory itself, d_type: no stat per entry; lstat where the file system does not say).
pub fn list(root: &Path, dir: &[u8]) -> Result<Vec<(Rel, std::fs::FileType)>, String> {
    let entries = std::fs::read_dir(as_path(root, dir))
        .map_err(|e| format!("cannot read the directory {}: {e}", String::from_utf8_lossy(dir)))?;
    let mut names: Vec<(Vec<u8>, Option<std::fs::FileType>)> = Vec::new();
    for e in entries {
        let e = e.map_err(|e| format!("{}: {e}", String::from_utf8_lossy(dir)))?;
        names.push((std::os::unix::ffi::OsStrExt::as_bytes(e.file_name().as_os_str()).to_vec(), e.file_type().ok()));
    }
    names.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = Vec::with_capacity(names.len());
    for (name, kind) in names {
        let rel = if dir.is_empty() { name } else { [dir, b"/", &name].concat() };
        if let Some(t) = kind.or_else(|| lstat(root, &rel).map(|m| m.file_type())) {
            out.push((rel, t));
        }
    }
    Ok(out)
}

/// Numbers of an lstat: mode bits, owner, group, modification time.
pub fn stat_parts(m: &std::fs::Metadata) -> (u32, u32, u32, i64, u32) {
    (m.mode() & 0o7777, m.uid(), m.gid(), m.mtime(), m.mtime_nsec().clamp(0, 999_999_999) as u32)
}

/// Read a regular file at `rel` under `root` without following a link in its last component,
/// refusing one larger than `max` bytes.
pub fn read_file(root: &Path, rel: &[u8], max: usize) -> Result<Vec<u8>, String> {
    read_file_sized(root, rel, max, 0)
}

/// [`read_file`] of a file whose size an lstat just gave (the buffer is made to fit).
pub fn read_file_sized(root: &Path, rel: &[u8], max: usize, size: u64) -> Result<Vec<u8>, String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let p = as_path(root, rel);
    let show = String::from_utf8_lossy(rel);
    // No link followed, no wait on a FIFO swapped in since the lstat: only a regular file is read.
    let flags = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags.bits() as i32)
        .open(&p)
        .map_err(|e| format!("cannot read {show}: {e}"))?;
    if !f.metadata().is_ok_and(|m| m.is_file()) {
        return Err(format!("{show} is no longer a regular file: it changed while node-dump read the tree"));
    }
    let mut data = Vec::with_capacity(size.min(max as u64) as usize + 1);
    f.take(max as u64 + 1).read_to_end(&mut data).map_err(|e| format!("cannot read {show}: {e}"))?;
    if data.len() > max {
        return Err(format!("{show} is larger than {} MiB: a files stream does not carry it", max >> 20));
    }
    Ok(data)
}

/// The target of the symlink at `rel` under `root`, as bytes.
pub fn read_link(root: &Path, rel: &[u8]) -> Result<Vec<u8>, String> {
    std::fs::read_link(as_path(root, rel))
        .map(|t| std::os::unix::ffi::OsStrExt::as_bytes(t.as_os_str()).to_vec())
        .map_err(|e| format!("cannot read the link {}: {e}", String::from_utf8_lossy(rel)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_resolve_inside_the_root() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        std::fs::create_dir_all(r.join("var/lib/kubelet/pki")).unwrap();
        std::fs::write(r.join("var/lib/kubelet/pki/client-2026.pem"), "x").unwrap();
        std::os::unix::fs::symlink("/var/lib/kubelet/pki/client-2026.pem", r.join("var/lib/kubelet/pki/current.pem"))
            .unwrap();
        std::os::unix::fs::symlink("../../../../../../etc", r.join("var/lib/up")).unwrap();
        let got = resolve(r, b"/var/lib/kubelet/pki/current.pem").unwrap();
        assert_eq!(got.path, b"var/lib/kubelet/pki/client-2026.pem");
        assert_eq!(got.links, vec![b"var/lib/kubelet/pki/current.pem".to_vec()]);
        // `..` above the root stays at the root: the host's /etc is never reached.
        assert!(resolve(r, b"var/lib/up/passwd").is_none());
        assert!(resolve(r, b"/missing").is_none());
    }

    /// A FIFO where a file was (swapped in after the lstat) is refused at once: reading it would
    /// wait for a writer forever (it did, before the open was non-blocking).
    #[test]
    fn a_fifo_is_not_read() {
        let d = tempfile::tempdir().unwrap();
        let st = std::process::Command::new("mkfifo").arg(d.path().join("f")).status().unwrap();
        assert!(st.success());
        let e = read_file(d.path(), b"f", 1 << 20).unwrap_err();
        assert_eq!(e, "f is no longer a regular file: it changed while node-dump read the tree");
    }
}
