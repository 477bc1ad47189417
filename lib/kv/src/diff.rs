//! kv-diff: what differs between two keyspaces — added, removed and changed keys as NDJSON, or
//! a count per resource (`--stat`) — by a streaming merge of two sorted inputs, in constant
//! memory. Exit status as diff(1): 0 when equal, 1 when they differ, more on trouble.

use std::collections::BTreeMap;
use std::io::Write;

use reshifter_format::error::{Error, Result};
use reshifter_format::files::{FileEntry, FileKind};
use reshifter_format::io::Output;
use reshifter_format::pipeline::{FilesSource, Run, Source};
use reshifter_format::{Record, lease_hex, push_bytes_field, value_sha256};

/// kv-diff's command-line options (the inputs are the tool's: streams or archives).
#[derive(Debug, Clone, clap::Args)]
pub struct DiffOptions {
    /// Where progress, warnings and the summary go (stderr, under the tool's name, unless the
    /// caller names itself or takes the lines).
    #[arg(skip)]
    pub report: reshifter_format::report::Reporter,

    /// Compare revisions, versions and leases too: a key rewritten with the same value counts as
    /// changed (by default only keys and values are compared, as the trailer's sha256 does)
    #[arg(long)]
    pub meta: bool,

    /// Put the values of the keys that differ into the output (`value`, or `value_b64`)
    #[arg(long)]
    pub values: bool,

    /// One line per resource (added, removed, changed) instead of one per key
    #[arg(long)]
    pub stat: bool,

    /// Compare the node's files two backups carry (archive-pack --node-files) instead of their
    /// keyspaces
    #[arg(long)]
    pub node_files: bool,

    /// Write to FILE (renamed into place when complete) instead of stdout
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<std::path::PathBuf>,

    /// No summary on stderr
    #[arg(short, long)]
    pub quiet: bool,
}

/// How the two inputs compare.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub same: u64,
    pub added: u64,
    pub removed: u64,
    pub changed: u64,
}

impl Counts {
    pub fn differ(&self) -> bool {
        self.added + self.removed + self.changed > 0
    }
}

/// What differs about one key.
enum Change<'a> {
    Added(&'a Record),
    Removed(&'a Record),
    Changed(&'a Record, &'a Record),
}

fn side(out: &mut Vec<u8>, name: &str, r: &Record, values: bool) {
    let _ = write!(
        out,
        ",\"{name}\":{{\"create_revision\":{},\"mod_revision\":{},\"version\":{}",
        r.create_revision, r.mod_revision, r.version
    );
    if r.lease != 0 {
        let _ = write!(out, ",\"lease\":\"{}\"", lease_hex(r.lease));
    }
    let _ = write!(out, ",\"size\":{},\"sha256\":\"{}\"", r.value.len(), hex::encode(value_sha256(&r.value)));
    if values {
        out.push(b',');
        push_bytes_field(out, "value", &r.value);
    }
    out.push(b'}');
}

/// The NDJSON line of a change.
fn change_line(out: &mut Vec<u8>, c: &Change, values: bool) {
    let (what, key) = match c {
        Change::Added(b) => ("added", &b.key),
        Change::Removed(a) => ("removed", &a.key),
        Change::Changed(a, _) => ("changed", &a.key),
    };
    let _ = write!(out, "{{\"change\":\"{what}\",");
    push_bytes_field(out, "key", key);
    match c {
        Change::Added(b) => side(out, "b", b, values),
        Change::Removed(a) => side(out, "a", a, values),
        Change::Changed(a, b) => {
            side(out, "a", a, values);
            side(out, "b", b, values);
        }
    }
    out.extend_from_slice(b"}\n");
}

/// The resource a key counts under in `--stat`: its Kubernetes resource, else its first path
/// segment.
fn resource_of(key: &[u8]) -> String {
    if let Some(k) = reshifter_k8s::parse(key) {
        return k.resource;
    }
    let s = String::from_utf8_lossy(key);
    let first = s.trim_start_matches('/').split('/').next().unwrap_or("");
    format!("(not kubernetes) /{first}")
}

fn equal(a: &Record, b: &Record, meta: bool) -> bool {
    a.value == b.value && (!meta || a.revs() == b.revs())
}

/// One step of walking two sorted inputs side by side: an item only in A, only in B, or in both.
enum Side<T> {
    A(T),
    B(T),
    Both(T, T),
}

/// Two inputs sorted by `key` (as every stream is), merged: each item once, paired with its
/// twin when both hold its key. A read error ends the walk as its last item.
struct Merge<T, K> {
    a: Box<dyn Iterator<Item = Result<T>> + Send>,
    b: Box<dyn Iterator<Item = Result<T>> + Send>,
    heads: (Option<T>, Option<T>),
    /// Which sides to read on before the next step (both, before the first).
    read: (bool, bool),
    key: K,
}

impl<T, K: Fn(&T) -> &[u8]> Merge<T, K> {
    fn new(
        a: Box<dyn Iterator<Item = Result<T>> + Send>,
        b: Box<dyn Iterator<Item = Result<T>> + Send>,
        key: K,
    ) -> Self {
        Merge { a, b, heads: (None, None), read: (true, true), key }
    }

    fn step(&mut self) -> Result<Option<Side<T>>> {
        if std::mem::take(&mut self.read.0) {
            self.heads.0 = self.a.next().transpose()?;
        }
        if std::mem::take(&mut self.read.1) {
            self.heads.1 = self.b.next().transpose()?;
        }
        let order = match &self.heads {
            (None, None) => return Ok(None),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some(x), Some(y)) => (self.key)(x).cmp((self.key)(y)),
        };
        let (x, y) = (&mut self.heads.0, &mut self.heads.1);
        Ok(match order {
            std::cmp::Ordering::Less => {
                self.read.0 = true;
                x.take().map(Side::A)
            }
            std::cmp::Ordering::Greater => {
                self.read.1 = true;
                y.take().map(Side::B)
            }
            std::cmp::Ordering::Equal => {
                self.read = (true, true);
                x.take().zip(y.take()).map(|(x, y)| Side::Both(x, y))
            }
        })
    }
}

/// Compare `a` and `b` (each sorted by key, as every stream is), writing the differences.
pub fn run(o: DiffOptions, a: Source, b: Source) -> Result<Counts> {
    let mut run = Run::new(&o.report.or_name("kv-diff"), o.quiet);
    let mut out = Output::create(o.output.as_deref())?;
    let mut merged = Merge::new(a.records, b.records, |r: &Record| &r.key);
    let mut counts = Counts::default();
    let mut stat: BTreeMap<String, [u64; 3]> = BTreeMap::new();
    let mut line = Vec::with_capacity(4096);
    while let Some(side) = merged.step()? {
        let (change, slot) = match &side {
            Side::A(x) => (Some(Change::Removed(x)), 1),
            Side::B(y) => (Some(Change::Added(y)), 0),
            Side::Both(x, y) if equal(x, y, o.meta) => (None, 3),
            Side::Both(x, y) => (Some(Change::Changed(x, y)), 2),
        };
        if let Some(c) = &change {
            let key = match c {
                Change::Added(r) | Change::Removed(r) | Change::Changed(r, _) => &r.key,
            };
            if o.stat {
                stat.entry(resource_of(key)).or_default()[slot] += 1;
            } else {
                line.clear();
                change_line(&mut line, c, o.values);
                out.write_all(&line)?;
            }
        }
        match slot {
            0 => counts.added += 1,
            1 => counts.removed += 1,
            2 => counts.changed += 1,
            _ => counts.same += 1,
        }
        let r = match &side {
            Side::A(x) | Side::Both(x, _) | Side::B(x) => x,
        };
        run.record((r.key.len() + r.value.len()) as u64, |t| format!("{} keys compared", t.keys));
    }
    if o.stat {
        for (resource, [added, removed, changed]) in &stat {
            line.clear();
            line.extend_from_slice(b"{\"resource\":");
            reshifter_format::push_json_str(&mut line, resource.as_bytes());
            let _ = writeln!(line, ",\"added\":{added},\"removed\":{removed},\"changed\":{changed}}}");
            out.write_all(&line)?;
        }
    }
    out.finish().map_err(|e| Error::new(e.kind(), format!("cannot write the differences: {e}")))?;
    run.done(|t| {
        if counts.differ() {
            format!(
                "{} added, {} removed, {} changed, {} the same ({} keys compared in {})",
                counts.added,
                counts.removed,
                counts.changed,
                counts.same,
                t.keys,
                reshifter_format::report::secs(t.elapsed)
            )
        } else {
            format!("identical: {} keys", counts.same)
        }
    });
    Ok(counts)
}

/// What of a file is compared: its kind, content or target, mode and owner (by number); with
/// --meta also its modification time and owner names.
fn same_file(a: &FileEntry, b: &FileEntry, meta: bool) -> bool {
    a.kind == b.kind
        && a.content == b.content
        && a.target == b.target
        && (a.mode, a.uid, a.gid) == (b.mode, b.uid, b.gid)
        && (!meta || ((a.mtime, a.mtime_nsec) == (b.mtime, b.mtime_nsec) && (&a.user, &a.group) == (&b.user, &b.group)))
}

fn file_side(out: &mut Vec<u8>, name: &str, f: &FileEntry, values: bool) {
    let _ = write!(
        out,
        ",\"{name}\":{{\"kind\":\"{}\",\"mode\":\"{:04o}\",\"uid\":{},\"gid\":{},\"mtime\":{}",
        f.kind.name(),
        f.mode,
        f.uid,
        f.gid,
        f.mtime
    );
    match f.kind {
        FileKind::File => {
            let _ =
                write!(out, ",\"size\":{},\"sha256\":\"{}\"", f.content.len(), hex::encode(value_sha256(&f.content)));
            if values {
                out.push(b',');
                push_bytes_field(out, "value", &f.content);
            }
        }
        FileKind::Symlink => {
            out.push(b',');
            push_bytes_field(out, "target", &f.target);
        }
        FileKind::Dir => {}
    }
    out.push(b'}');
}

/// Compare two files streams (each sorted by path), writing one line per path that differs:
/// `{"change":"added|removed|changed","path":...,"a":{kind, mode, owner, mtime, size, sha256
/// or target},"b":{...}}`. Contents appear only with --values (they are keys and certificates).
pub fn run_files(o: DiffOptions, a: FilesSource, b: FilesSource) -> Result<Counts> {
    let mut run = Run::new(&o.report.or_name("kv-diff"), o.quiet);
    let mut out = Output::create(o.output.as_deref())?;
    let mut merged = Merge::new(a.entries, b.entries, |e: &FileEntry| &e.path);
    let mut counts = Counts::default();
    let mut line = Vec::with_capacity(4096);
    while let Some(side) = merged.step()? {
        let (what, count, a, b) = match &side {
            Side::A(x) => ("removed", &mut counts.removed, Some(x), None),
            Side::B(y) => ("added", &mut counts.added, None, Some(y)),
            Side::Both(x, y) if same_file(x, y, o.meta) => ("same", &mut counts.same, None, None),
            Side::Both(x, y) => ("changed", &mut counts.changed, Some(x), Some(y)),
        };
        *count += 1;
        if what != "same" && !o.stat {
            line.clear();
            let path = &a.or(b).expect("a side").path;
            let _ = write!(line, "{{\"change\":\"{what}\",");
            push_bytes_field(&mut line, "path", path);
            if let Some(x) = a {
                file_side(&mut line, "a", x, o.values);
            }
            if let Some(y) = b {
                file_side(&mut line, "b", y, o.values);
            }
            line.extend_from_slice(b"}\n");
            out.write_all(&line)?;
        }
        run.record(1, |t| format!("{} files compared", t.keys));
    }
    if o.stat {
        line.clear();
        let _ = writeln!(
            line,
            "{{\"files\":true,\"added\":{},\"removed\":{},\"changed\":{}}}",
            counts.added, counts.removed, counts.changed
        );
        out.write_all(&line)?;
    }
    out.finish().map_err(|e| Error::new(e.kind(), format!("cannot write the differences: {e}")))?;
    run.done(|_| {
        if counts.differ() {
            format!(
                "{} added, {} removed, {} changed, {} the same files",
                counts.added, counts.removed, counts.changed, counts.same
            )
        } else {
            format!("identical: {} files", counts.same)
        }
    });
    Ok(counts)
}
