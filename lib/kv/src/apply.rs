//! kv-apply: a full stream at any revision a base dump and its deltas reach — point-in-time
//! recovery with `kv-apply --to-rev R base deltas… | etcd-load`.
//!
//! The base is a keyspace stream at revision B (etcd-dump); deltas (etcd-watch segments, in any
//! order) must cover every revision from B to R without a gap. Deltas arrive in revision order,
//! the output is in key order: the changes after B up to R go through an external sort by
//! (key, revision) that spills to temporary files, so memory stays bounded whatever their
//! number; the last change of each key is then merged with the base, which is read once.
//! Two deltas that cover the same revisions must agree on them, revision by revision.

use std::collections::{BTreeMap, HashMap};
use std::io::BufRead;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use reshifter_format::delta::{DeltaReader, Event, Op};
use reshifter_format::error::{Error, Kind, Result};
use reshifter_format::io::{Output, open_input};
use reshifter_format::pipeline::Run;
use reshifter_format::report::{human_bytes, secs};
use reshifter_format::sort::{DEFAULT_BUDGET, Sorter};
use reshifter_format::{Header, Lease, Record, StreamReader, StreamWriter, now_rfc3339};

/// kv-apply's command-line options.
#[derive(Debug, Clone, clap::Args)]
pub struct ApplyOptions {
    /// Where progress, warnings and the summary go (stderr, under the tool's name, unless the
    /// caller names itself or takes the lines).
    #[arg(skip)]
    pub report: reshifter_format::report::Reporter,

    /// Bring the keyspace to this revision (default: as far as the deltas reach without a gap)
    #[arg(long = "to-rev", value_name = "R")]
    pub to_rev: Option<i64>,

    /// The keyspace stream the deltas start from (etcd-dump; "-": stdin)
    #[arg(value_name = "BASE")]
    pub base: PathBuf,

    /// Delta streams (etcd-watch segments), in any order
    #[arg(value_name = "DELTA", required = true)]
    pub deltas: Vec<PathBuf>,

    /// Write to FILE (mode 0600, renamed into place when complete) instead of stdout
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// No summary on stderr
    #[arg(short, long)]
    pub quiet: bool,
}

/// An input stream.
type Input = Box<dyn BufRead + Send>;

/// A delta, its header read. A regular file is opened again when its turn comes (a day of
/// one-minute segments is 1,440 files: they are not all held open with their buffers); a pipe
/// (`<(archive-unpack …)`) stays open.
struct Delta {
    path: PathBuf,
    header: Header,
    reader: Option<DeltaReader<Input>>,
}

fn open_delta(path: &Path) -> Result<DeltaReader<Input>> {
    DeltaReader::new(open_input(Some(path))?).map_err(|e| Error::new(e.kind(), format!("{}: {e}", path.display())))
}

impl Delta {
    fn open(path: &Path) -> Result<Self> {
        let reader = open_delta(path)?;
        let header = reader.header().clone();
        let regular = std::fs::metadata(path).is_ok_and(|m| m.is_file());
        Ok(Delta { path: path.to_path_buf(), header, reader: (!regular).then_some(reader) })
    }

    fn start(&self) -> i64 {
        self.header.revision
    }

    fn name(&self) -> String {
        self.path.display().to_string()
    }

    /// Its reader, opened again if it was closed; the file must not have changed meanwhile.
    fn reader(&mut self) -> Result<&mut DeltaReader<Input>> {
        if self.reader.is_none() {
            let r = open_delta(&self.path)?;
            if r.header() != &self.header {
                return Err(Error::new(Kind::Usage, format!("{} changed while kv-apply read it", self.name())));
            }
            self.reader = Some(r);
        }
        Ok(self.reader.as_mut().expect("opened"))
    }
}

/// The sort key of a change: its key with every 0x00 written 0x00 0x01, then 0x00 0x00, then
/// its revision big-endian, so that byte order is (key, revision) order.
fn sort_key(key: &[u8], rev: i64) -> Vec<u8> {
    let mut k = Vec::with_capacity(key.len() + 10);
    for &b in key {
        k.push(b);
        if b == 0 {
            k.push(1);
        }
    }
    k.extend_from_slice(&[0, 0]);
    k.extend_from_slice(&rev.to_be_bytes());
    k
}

/// The key and revision of a sort key.
fn from_sort_key(k: &[u8]) -> (Vec<u8>, i64) {
    let (body, rev) = k.split_at(k.len().saturating_sub(8));
    let rev = i64::from_be_bytes(rev.try_into().unwrap_or([0; 8]));
    let body = &body[..body.len().saturating_sub(2)];
    let mut key = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        key.push(body[i]);
        i += if body[i] == 0 { 2 } else { 1 };
    }
    (key, rev)
}

/// A change as the sort carries it: op, revisions, lease, value.
fn encode_change(e: &Event) -> Vec<u8> {
    let r = &e.record;
    let mut p = Vec::with_capacity(33 + r.value.len());
    p.push(e.op.byte());
    for n in r.revs() {
        p.extend_from_slice(&n.to_le_bytes());
    }
    p.extend_from_slice(&r.value);
    p
}

fn decode_change(key: Vec<u8>, p: &[u8]) -> Result<Event> {
    if p.len() < 33 {
        return Err(Error::new(Kind::Failure, "a sorted change is damaged (temporary file)"));
    }
    let n = |i: usize| i64::from_le_bytes(p[1 + 8 * i..9 + 8 * i].try_into().expect("8 bytes"));
    let record =
        Record { key, value: p[33..].to_vec(), create_revision: n(0), mod_revision: n(1), version: n(2), lease: n(3) };
    Ok(Event { op: if p[0] == Op::Delete.byte() { Op::Delete } else { Op::Put }, record })
}

/// The changes of one revision, hashed, to compare two deltas that both cover it.
#[derive(Default)]
struct RevisionHash {
    rev: i64,
    hash: Sha256,
}

impl RevisionHash {
    /// Add an event; returns the digest of the previous revision when this one starts another.
    fn add(&mut self, e: &Event) -> Option<(i64, [u8; 32])> {
        let done = (self.rev != 0 && e.revision() != self.rev).then(|| self.take());
        self.rev = e.revision();
        let r = &e.record;
        self.hash.update([e.op.byte()]);
        self.hash.update((r.key.len() as u64).to_le_bytes());
        self.hash.update(&r.key);
        self.hash.update(Sha256::digest(&r.value));
        for n in r.revs() {
            self.hash.update(n.to_le_bytes());
        }
        done
    }

    fn take(&mut self) -> (i64, [u8; 32]) {
        let rev = std::mem::take(&mut self.rev);
        (rev, std::mem::take(&mut self.hash).finalize().into())
    }

    fn finish(&mut self) -> Option<(i64, [u8; 32])> {
        (self.rev != 0).then(|| self.take())
    }
}

/// The deltas read in order of their start, their changes pushed into the sort.
struct Chain {
    base_rev: i64,
    to_rev: i64,
    /// Every change up to here is known.
    covered: i64,
    sorter: Sorter,
    /// Digests of revisions a later delta also covers (only where deltas overlap).
    overlap: BTreeMap<i64, [u8; 32]>,
    leases: HashMap<i64, Lease>,
    changes: u64,
    read: u64,
}

impl Chain {
    /// Read one delta: changes after what is covered go into the sort, changes within it must
    /// match what an earlier delta said; `next_start` is where the next delta starts.
    fn read(&mut self, d: &mut Delta, frame: &reshifter_format::Frame, next_start: i64) -> Result<()> {
        let name = d.name();
        let at = |e: Error| Error::new(e.kind(), format!("{name}: {e}"));
        let (start, before) = (d.start(), self.covered);
        let mut hash = RevisionHash::default();
        let mut seen_overlap: Vec<i64> = Vec::new();
        let mut check = |this: &mut Self, (rev, digest): (i64, [u8; 32])| -> Result<()> {
            if rev <= before {
                seen_overlap.push(rev);
                if this.overlap.get(&rev) != Some(&digest) {
                    return Err(Error::new(
                        Kind::Integrity,
                        format!("{name} disagrees with an earlier delta about the changes of revision {rev}"),
                    ));
                }
            } else if rev > next_start {
                this.overlap.insert(rev, digest);
            }
            Ok(())
        };
        let reader = d.reader()?;
        while let Some(e) = reader.next_event().map_err(at)? {
            self.read += 1;
            // Only what lies under the base's prefixes can change the output.
            if !frame.within(e.key()) || e.revision() <= self.base_rev {
                continue;
            }
            if let Some(done) = hash.add(&e) {
                check(self, done)?;
            }
            if e.revision() > before && e.revision() <= self.to_rev {
                self.sorter.push(sort_key(e.key(), e.revision()), encode_change(&e))?;
                self.changes += 1;
            }
        }
        if let Some(done) = hash.finish() {
            check(self, done)?;
        }
        let trailer =
            reader.trailer().ok_or_else(|| Error::new(Kind::Truncated, format!("{name}: no trailer")))?.clone();
        let end = trailer.end_revision.unwrap_or(start);
        // Every revision an earlier delta holds between this one's start and end must be here.
        let (lo, hi) = (start.max(self.base_rev) + 1, end.min(before));
        let owed = if lo <= hi {
            self.overlap.range(lo..=hi).find(|(r, _)| seen_overlap.binary_search(r).is_err())
        } else {
            None
        };
        if let Some((rev, _)) = owed {
            return Err(Error::new(
                Kind::Integrity,
                format!("{name} lacks the changes of revision {rev} that an earlier delta holds"),
            ));
        }
        self.overlap = self.overlap.split_off(&next_start.saturating_add(1));
        for l in &trailer.leases {
            self.leases.insert(l.id_num(), l.clone());
        }
        self.covered = self.covered.max(end);
        d.reader = None;
        Ok(())
    }
}

/// Open the base and the deltas and check that they fit together, before anything is sorted.
fn open_all(o: &ApplyOptions) -> Result<(StreamReader<Input>, Vec<Delta>)> {
    let base = StreamReader::new(open_input(Some(&o.base))?)
        .map_err(|e| Error::new(e.kind(), format!("{} (base): {e}", o.base.display())))?;
    let bh = base.header();
    if bh.revision <= 0 {
        return Err(Error::new(
            Kind::Usage,
            format!("{}: the base has no revision (it does not come from etcd-dump)", o.base.display()),
        ));
    }
    let mut deltas = Vec::new();
    for p in &o.deltas {
        let delta = Delta::open(p)?;
        let h = &delta.header;
        // Deltas apply only to the history they were watched on: both must name the cluster.
        match (&bh.cluster_id, &h.cluster_id) {
            (Some(a), Some(b)) if reshifter_format::parse_lease(a) == reshifter_format::parse_lease(b) => {}
            (Some(a), Some(b)) => {
                return Err(Error::new(
                    Kind::Usage,
                    format!("{} watched cluster {b}, the base comes from cluster {a}", p.display()),
                ));
            }
            (None, _) => {
                return Err(Error::new(
                    Kind::Usage,
                    format!(
                        "{}: the base names no cluster, so nothing shows that the deltas were watched on the etcd it \
                         was dumped from: give a base written by etcd-dump",
                        o.base.display()
                    ),
                ));
            }
            (Some(_), None) => {
                return Err(Error::new(
                    Kind::Usage,
                    format!("{}: the delta names no cluster (it was not written by etcd-watch)", p.display()),
                ));
            }
        }
        let dp = h.bounds();
        if let Some(b) = bh.bounds().into_iter().find(|b| !dp.iter().any(|p| b.starts_with(p.as_str()))) {
            return Err(Error::new(
                Kind::Usage,
                format!(
                    "{} watched the prefixes {dp:?}, which do not hold the base's {b:?}: changes there are unknown",
                    p.display()
                ),
            ));
        }
        deltas.push(delta);
    }
    deltas.sort_by_key(Delta::start);
    Ok((base, deltas))
}

/// Run kv-apply.
pub fn run(o: ApplyOptions) -> Result<()> {
    let mut run = Run::new(&o.report.or_name("kv-apply"), o.quiet);
    let (base, mut deltas) = open_all(&o)?;
    let bh = base.header().clone();
    if let Some(r) = o.to_rev
        && r < bh.revision
    {
        return Err(Error::new(
            Kind::Usage,
            format!("--to-rev {r} is before the base's revision {}: kv-apply only goes forward", bh.revision),
        ));
    }
    let frame = reshifter_format::Frame::of(&bh);
    let mut chain = Chain {
        base_rev: bh.revision,
        to_rev: o.to_rev.unwrap_or(i64::MAX),
        covered: bh.revision,
        sorter: Sorter::new(DEFAULT_BUDGET),
        overlap: BTreeMap::new(),
        leases: bh.leases.iter().map(|l| (l.id_num(), l.clone())).collect(),
        changes: 0,
        read: 0,
    };
    let mut complete = bh.claims_complete();
    let starts: Vec<i64> = deltas.iter().map(Delta::start).collect();
    for (i, d) in deltas.iter_mut().enumerate() {
        if chain.covered >= chain.to_rev {
            break;
        }
        if d.start() > chain.covered {
            return Err(Error::new(
                Kind::Usage,
                format!(
                    "no delta holds revisions {}..{}: a segment is missing before {}",
                    chain.covered + 1,
                    d.start(),
                    d.name()
                ),
            ));
        }
        complete &= d.header.claims_complete();
        let next_start = starts.get(i + 1).copied().unwrap_or(i64::MAX);
        chain.read(d, &frame, next_start)?;
        run.progress(|| format!("{} changes read, revision {}", chain.read, chain.covered));
    }
    let to = o.to_rev.unwrap_or(chain.covered);
    if to > chain.covered {
        return Err(Error::new(
            Kind::Usage,
            format!(
                "the deltas reach revision {} without a gap: they cannot bring the keyspace to {to}",
                chain.covered
            ),
        ));
    }
    let header = output_header(&bh, &chain, to, complete, deltas.len());
    let out = StreamWriter::new(Output::create(o.output.as_deref())?, &header)?;
    let (w, applied) = merge(base, chain.sorter, out, &mut run)?;
    run.end(w, |t, r| {
        format!(
            "{} keys, {} at revision {to} (base {} + {applied} changes) in {}",
            t.count,
            human_bytes(t.bytes),
            bh.revision,
            secs(r.elapsed)
        )
    })?;
    Ok(())
}

/// The output's header: the base's, at revision `to`, with the leases the base and the deltas
/// know (the newest TTL of each), completeness only where every input claims it.
fn output_header(bh: &Header, chain: &Chain, to: i64, complete: bool, deltas: usize) -> Header {
    let mut header: Header = bh.clone();
    header.revision = to;
    header.complete = complete;
    header.time = now_rfc3339();
    let mut leases: Vec<Lease> = chain.leases.values().cloned().collect();
    leases.sort_by_key(|l| l.id_num() as u64);
    header.leases = leases;
    header.history.push(format!(
        "kv-apply --to-rev {to}: base at revision {} and {} changes from {deltas} deltas",
        bh.revision, chain.changes
    ));
    header
}

/// Merge the base (in key order) with the last change of each key (in key order): a put
/// replaces or adds the key, a delete removes it. Returns the writer and the keys changed.
fn merge(
    mut base: StreamReader<Input>,
    sorter: Sorter,
    mut w: StreamWriter<Output>,
    run: &mut Run,
) -> Result<(StreamWriter<Output>, u64)> {
    let mut changes = LastChanges { inner: sorter.finish()?.peekable() };
    let mut next_base = base.next_record()?;
    let mut next_change = changes.next()?;
    let mut applied = 0u64;
    loop {
        let take_base = match (&next_base, &next_change) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(b), Some(c)) => b.key < c.record.key,
        };
        if take_base {
            let b = next_base.take().expect("a base record");
            w.write(&b)?;
            run.record((b.key.len() + b.value.len()) as u64, |t| format!("{} keys", t.keys));
            next_base = base.next_record()?;
            continue;
        }
        let c = next_change.take().expect("a change");
        if next_base.as_ref().is_some_and(|b| b.key == c.record.key) {
            next_base = base.next_record()?;
        }
        applied += 1;
        if c.op == Op::Put {
            w.write(&c.record)?;
            run.record((c.record.key.len() + c.record.value.len()) as u64, |t| format!("{} keys", t.keys));
        }
        next_change = changes.next()?;
    }
    Ok((w, applied))
}

/// The sorted changes, the last of each key only.
struct LastChanges {
    inner: std::iter::Peekable<reshifter_format::sort::Merged>,
}

impl LastChanges {
    fn next(&mut self) -> Result<Option<Event>> {
        let mut last: Option<(Vec<u8>, Vec<u8>)> = None;
        loop {
            let key = match self.inner.peek() {
                None => break,
                Some(Err(_)) => {
                    let e = self.inner.next().expect("peeked").expect_err("an error");
                    return Err(duplicate_change(e));
                }
                Some(Ok((k, _))) => from_sort_key(k).0,
            };
            if last.as_ref().is_some_and(|(lk, _)| *lk != key) {
                break;
            }
            let (_, p) = self.inner.next().expect("peeked")?;
            last = Some((key, p));
        }
        match last {
            Some((k, p)) => Ok(Some(decode_change(k, &p)?)),
            None => Ok(None),
        }
    }
}

/// The sort refuses a key twice: here, a key changed twice at one revision.
fn duplicate_change(e: Error) -> Error {
    if e.kind() != Kind::BadInput {
        return e;
    }
    Error::new(Kind::BadInput, "a delta changes one key twice in one revision: it is damaged")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_keys_order_by_key_then_revision() {
        let mut ks = [
            sort_key(b"/a", 5),
            sort_key(b"/a\0", 1),
            sort_key(b"/a", 12),
            sort_key(b"/a/b", 2),
            sort_key(b"/", 99),
            sort_key(b"/a\0\x01", 3),
        ];
        ks.sort();
        let back: Vec<(Vec<u8>, i64)> = ks.iter().map(|k| from_sort_key(k)).collect();
        let want: Vec<(Vec<u8>, i64)> = vec![
            (b"/".to_vec(), 99),
            (b"/a".to_vec(), 5),
            (b"/a".to_vec(), 12),
            (b"/a\0".to_vec(), 1),
            (b"/a\0\x01".to_vec(), 3),
            (b"/a/b".to_vec(), 2),
        ];
        assert_eq!(back, want);
    }
}
