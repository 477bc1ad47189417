//! Segments: a watch cut into delta streams, each closed at a confirmed revision and only then
//! made visible — renamed into a directory, or handed to a filter command — so nothing that
//! looks complete ever lacks a change.
//!
//! A segment holding the changes of revisions `first..=last` is named
//! `delta-<first>-<last>` with both numbers in 20 digits, so that names sort by revision.

use std::collections::BTreeSet;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use etcd_client::Client;
use futures::StreamExt;

use crate as etcd;
use reshifter_format::delta::{DeltaReader, DeltaWriter, Event, Op, parse_segment_name, segment_name};
use reshifter_format::error::{Error, Kind, Result};
use reshifter_format::io::{AtomicFile, BUF_SIZE};
use reshifter_format::{Anchor, Header, Lease, lease_hex, now_rfc3339};

/// Where a watch's segments go.
#[derive(Debug, Clone)]
pub enum Target {
    /// One delta stream on stdout, closed when the watch stops (--until-rev, --for).
    Stdout,
    /// Each segment a file in this directory.
    Dir(PathBuf),
    /// Each segment spooled to a file in `spool`, then fed to `sh -c command`.
    Filter { command: String, spool: PathBuf },
}

/// Where a resumed watch continues: the newest complete segment's header (its cluster, its
/// prefixes), its end revision, and its anchor (the read that proves the history).
#[derive(Debug, Clone)]
pub struct Resumed {
    pub header: Header,
    pub end: i64,
    pub anchor: Option<Anchor>,
    /// Where it was found, for messages.
    pub source: String,
}

/// Read a whole segment (checked: digests, trailer) from `input`; what a watch resumes from.
pub fn read_segment(input: Box<dyn std::io::BufRead + Send>, source: &str) -> Result<Resumed> {
    let mut reader = DeltaReader::new(input).map_err(|e| Error::new(e.kind(), format!("{source}: {e}")))?;
    while reader.next_event().map_err(|e| Error::new(e.kind(), format!("{source}: {e}")))?.is_some() {}
    let t = reader.trailer();
    let end = t.and_then(|t| t.end_revision).unwrap_or(0);
    let anchor = t.and_then(|t| t.anchor.clone());
    Ok(Resumed { header: reader.header().clone(), end, anchor, source: source.to_string() })
}

/// The newest complete segment in `dir` (`--resume DIR`): read through and checked. `None` when
/// the directory holds none.
pub fn newest_in_dir(dir: &Path) -> Result<Option<Resumed>> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| Error::with_source(Kind::Usage, format!("cannot read --resume {}", dir.display()), e))?;
    let mut best: Option<(i64, PathBuf)> = None;
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some((_, last)) = name.to_str().and_then(parse_segment_name) else { continue };
        if best.as_ref().is_none_or(|(b, _)| last > *b) {
            best = Some((last, entry.path()));
        }
    }
    let Some((last, path)) = best else { return Ok(None) };
    let mut found = read_segment(reshifter_format::io::open_input(Some(&path))?, &path.display().to_string())?;
    found.source = dir.display().to_string();
    let end = found.end;
    if end != last {
        return Err(Error::new(
            Kind::Integrity,
            format!("{} ends at revision {end}, not at the {last} its name says: it was renamed", path.display()),
        ));
    }
    Ok(Some(found))
}

/// A segment's output: stdout, or a file under a temporary name.
enum Out {
    Stdout(BufWriter<std::io::Stdout>),
    File(BufWriter<AtomicFile>),
}

impl Write for Out {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Out::Stdout(w) => w.write(buf),
            Out::File(w) => w.write(buf),
        }
    }
    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        match self {
            Out::Stdout(w) => w.write_all(buf),
            Out::File(w) => w.write_all(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Out::Stdout(w) => w.flush(),
            Out::File(w) => w.flush(),
        }
    }
}

/// The segment being written.
struct Open {
    writer: DeltaWriter<Out>,
    start: i64,
    opened: Instant,
    /// Leases its puts name: their TTL goes into its trailer.
    leases: BTreeSet<i64>,
}

/// What the segments hold so far.
#[derive(Debug, Clone, Copy, Default)]
pub struct WatchTotals {
    pub events: u64,
    pub bytes: u64,
    pub closed: u64,
    /// End revision of the newest closed segment.
    pub end: i64,
}

type FilterJob = tokio::task::JoinHandle<Result<()>>;

/// The segments of one watch.
pub struct Segments {
    target: Target,
    template: Header,
    seconds: Option<Duration>,
    bytes: Option<usize>,
    current: Option<Open>,
    filter: Option<FilterJob>,
    stats: WatchTotals,
    /// The newest put written (or the watch's starting anchor): every segment's trailer names it.
    anchor: Option<Anchor>,
}

impl Segments {
    pub fn new(
        target: Target,
        template: Header,
        seconds: Option<Duration>,
        bytes: Option<usize>,
        anchor: Option<Anchor>,
    ) -> Result<Self> {
        if let Target::Dir(d) | Target::Filter { spool: d, .. } = &target {
            std::fs::create_dir_all(d).map_err(|e| {
                Error::with_source(Kind::Usage, format!("cannot make the directory {}", d.display()), e)
            })?;
        }
        let end = template.revision;
        Ok(Segments {
            target,
            template,
            seconds,
            bytes,
            current: None,
            filter: None,
            stats: WatchTotals { end, ..WatchTotals::default() },
            anchor,
        })
    }

    /// Start a segment of the changes after `start`.
    pub fn open(&mut self, start: i64) -> Result<()> {
        let mut header = self.template.clone();
        header.revision = start;
        header.time = now_rfc3339();
        let out = match &self.target {
            Target::Stdout => Out::Stdout(reshifter_format::io::stdout()),
            Target::Dir(dir) | Target::Filter { spool: dir, .. } => {
                let partial = dir.join(format!("delta-{:020}.partial", start + 1));
                Out::File(BufWriter::with_capacity(BUF_SIZE, AtomicFile::create(&partial)?))
            }
        };
        let writer = DeltaWriter::new(out, &header)?;
        self.current = Some(Open { writer, start, opened: Instant::now(), leases: BTreeSet::new() });
        Ok(())
    }

    pub fn write(&mut self, e: &Event) -> Result<()> {
        let open = self.current.as_mut().ok_or_else(|| Error::new(Kind::Failure, "no open segment"))?;
        open.writer.write(e)?;
        if e.op == Op::Put {
            if e.record.lease != 0 {
                open.leases.insert(e.record.lease);
            }
            self.anchor = Some(Anchor::of(&e.record, e.record.mod_revision));
        }
        Ok(())
    }

    pub fn stats(&self) -> WatchTotals {
        let mut s = self.stats;
        if let Some(o) = &self.current {
            s.events += o.writer.count();
            s.bytes += o.writer.bytes();
        }
        s
    }

    /// Close the open segment at `confirmed` and start the next, when it is due (by age or
    /// size) and `confirmed` is past its start. One stream on stdout is never cut.
    pub async fn maybe_close(&mut self, confirmed: i64, client: &Client) -> Result<()> {
        let Some(open) = &self.current else { return Ok(()) };
        if matches!(self.target, Target::Stdout) || confirmed <= open.start {
            return Ok(());
        }
        let old = self.seconds.is_some_and(|s| open.opened.elapsed() >= s);
        let big = self.bytes.is_some_and(|b| open.writer.bytes() >= b as u64);
        if old || big {
            self.close(confirmed, client).await?;
            self.open(confirmed)?;
        }
        Ok(())
    }

    /// Within a watch response, at the end of revision `rev`: close the open segment there and
    /// start the next when it holds --segment-bytes.
    pub async fn close_if_full(&mut self, rev: i64, client: &Client) -> Result<()> {
        let Some(open) = &self.current else { return Ok(()) };
        if matches!(self.target, Target::Stdout) || rev <= open.start {
            return Ok(());
        }
        if self.bytes.is_some_and(|b| open.writer.bytes() >= b as u64) {
            self.close(rev, client).await?;
            self.open(rev)?;
        }
        Ok(())
    }

    /// The watch is over at `end`: close the open segment (a segment with nothing after its
    /// start is dropped, except the one stream on stdout) and wait for the last filter.
    pub async fn finish(&mut self, end: i64, client: &Client) -> Result<()> {
        if let Some(open) = &self.current {
            if end > open.start || matches!(self.target, Target::Stdout) {
                self.close(end.max(open.start), client).await?;
            } else {
                self.current = None;
            }
        }
        self.wait_filter().await
    }

    /// The watch failed: drop the open segment (its temporary file goes), let a running filter
    /// finish the segment it has (its failure returned, to be said beside the watch's own).
    pub async fn abandon(&mut self) -> Result<()> {
        self.current = None;
        self.wait_filter().await
    }

    async fn wait_filter(&mut self) -> Result<()> {
        match self.filter.take() {
            Some(job) => job.await.map_err(|e| Error::new(Kind::Failure, format!("the filter runner failed: {e}")))?,
            None => Ok(()),
        }
    }

    async fn close(&mut self, end: i64, client: &Client) -> Result<()> {
        let Some(open) = self.current.take() else { return Ok(()) };
        let leases = lease_ttls(client, &open.leases).await?;
        let (events, bytes) = (open.writer.count(), open.writer.bytes());
        let (out, _) = open.writer.finish(end, leases, self.anchor.clone())?;
        let name = segment_name(open.start + 1, end);
        match (out, &self.target) {
            (Out::Stdout(mut w), _) => w.flush()?,
            (Out::File(w), Target::Dir(dir)) => {
                let file = w.into_inner().map_err(|e| Error::from(e.into_error()))?;
                file.commit_as(&dir.join(format!("{name}.ndjson")))?;
            }
            (Out::File(w), Target::Filter { command, spool }) => {
                let (command, spool) = (command.clone(), spool.clone());
                let mut file = w.into_inner().map_err(|e| Error::from(e.into_error()))?;
                file.file().sync_all()?;
                // One filter at a time, in order: the previous one must have succeeded.
                self.wait_filter().await?;
                self.filter = Some(tokio::task::spawn_blocking(move || run_filter(&command, &spool, &name, file)));
            }
            (Out::File(_), Target::Stdout) => unreachable!("stdout segments write to stdout"),
        }
        self.stats.events += events;
        self.stats.bytes += bytes;
        self.stats.closed += 1;
        self.stats.end = end;
        Ok(())
    }
}

/// The TTL left of each lease, for a segment's trailer; leases gone are left out.
async fn lease_ttls(client: &Client, ids: &BTreeSet<i64>) -> Result<Vec<Lease>> {
    let found: Vec<std::result::Result<Option<Lease>, etcd_client::Error>> = futures::stream::iter(ids.iter().copied())
        .map(|id| {
            let c = client.clone();
            async move {
                let r = etcd::retried(etcd::MAX_RETRIES, || {
                    let mut c = c.clone();
                    async move { c.lease_time_to_live(id, None).await }
                })
                .await?;
                Ok::<_, etcd_client::Error>((r.ttl() > 0).then(|| Lease {
                    id: lease_hex(id),
                    ttl: r.ttl(),
                    granted_ttl: r.granted_ttl(),
                }))
            }
        })
        .buffered(16)
        .collect()
        .await;
    let mut out = Vec::new();
    for f in found {
        match f {
            Ok(Some(l)) => out.push(l),
            Ok(None) => {}
            // A lease that is gone by now: its keys' delete events follow.
            Err(e) if etcd::is_lease_not_found(&e) => {}
            Err(e) => return Err(etcd::wrap("cannot read lease TTLs", e)),
        }
    }
    Ok(out)
}

/// Feed a closed segment to `sh -c command` with `$FILE` set to its name. On success the
/// spooled file goes; on failure it is kept in the spool directory under its name, and the
/// error carries the filter's exit code.
fn run_filter(command: &str, spool: &Path, name: &str, file: AtomicFile) -> Result<()> {
    let input = std::fs::File::open(file.temp_path())?;
    use std::os::unix::process::CommandExt;
    // In a process group of its own: a Ctrl-C meant for etcd-watch (which then closes its
    // segment and waits for this filter) does not kill the upload half-way.
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .env("FILE", name)
        .stdin(input)
        .process_group(0)
        .status()
        .map_err(|e| Error::with_source(Kind::Failure, "cannot run the filter with sh", e))?;
    if status.success() {
        return Ok(());
    }
    use std::os::unix::process::ExitStatusExt;
    let code = status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0)) as u8;
    let kept = spool.join(format!("{name}.ndjson"));
    let where_ = match file.commit_as(&kept) {
        Ok(()) => format!("the segment is kept as {}", kept.display()),
        Err(e) => format!("the segment could not be kept: {e}"),
    };
    Err(Error::new(
        Kind::Child(if code == 0 { 1 } else { code }),
        format!(
            "the filter failed ({status}) on segment {name}: {where_}; the watch stopped there (fix the filter, run it \
             on that file, then --resume)"
        ),
    ))
}
