//! `--bump-revision` and `--mark-compacted`: restores Kubernetes can live with.
//!
//! Kubernetes' resourceVersion is etcd's mod_revision. A fresh etcd starts near revision 1,
//! below what informers, watch caches and kubelets have seen, and a client that watches from a
//! revision it saw would silently miss changes (kubernetes#107457; etcd#16029 gave `etcdutl
//! snapshot restore` the same two flags). No etcd API call moves the revision: every write txn
//! adds exactly one. So the revision is raised by filler writes (puts of one key, then its
//! delete) to the stream's revision plus a margin before any key is written; the keys then
//! get revisions above it, and `--mark-compacted` compacts at the raised revision afterwards, so
//! a watch from any older revision is told "compacted" and relists.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use etcd_client::{Client, CompactionOptions};
use tokio::task::JoinSet;

use crate as etcd;
use reshifter_format::error::{Error, Kind, Result};
use reshifter_format::report::Reporter;

/// The one key the filler writes go to; deleted when the revision is reached.
pub const FILLER_KEY: &str = "/reshifter.io/bump-revision";

/// The default margin above the stream's revision. Clients may have seen the source's revisions
/// up to its last write, after the dump: a cluster writes a revision per node lease renewal
/// (every 10 s per node) and per Event, so 1,000 nodes and their Events make ~200/s. A million
/// covers that for ~80 minutes (an hourly backup's age), a 100-node cluster for over 10 hours, and
/// costs ~40 s of filler writes on this machine (~24,000/s). Give the exact gap when it is known
/// (the old cluster's last revision, e.g. from etcd-watch's last segment).
pub const DEFAULT_MARGIN: i64 = 1_000_000;

/// More filler writes than this is a mistake (or a forged header), not a restore plan.
const MAX_WRITES: i64 = 100_000_000;

/// Filler puts in flight at once: etcd commits concurrent requests in one raft batch (64:
/// 13,500/s; 256: 24,500/s; 1024: no faster, measured on 2 cores against etcd 3.4).
const IN_FLIGHT: i64 = 256;

/// What raising the revision did (or, dry, would do).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bumped {
    /// The target's revision before.
    pub from: i64,
    /// The revision it was raised to (the filler's delete); the restored keys come after it.
    pub to: i64,
    /// Filler writes made (0 when the target was already past it, or dry).
    pub writes: i64,
    /// The revision the restored keys come after: `to`, or `from` when it was already past.
    pub at: i64,
    pub elapsed: Duration,
    /// Compacted at `to` after the load (`--mark-compacted`).
    pub compacted: bool,
}

impl Bumped {
    /// What raising the revision did, in words (etcd-load's line, without its name).
    pub fn describe(&self, dry: bool) -> String {
        let rate = self.writes as f64 / self.elapsed.as_secs_f64().max(1e-9);
        match (dry, self.to > self.from) {
            (true, true) => format!(
                "dry run: would raise the revision from {} to {} ({} filler writes){}",
                self.from,
                self.to,
                self.to - self.from,
                if self.compacted { " and compact there after the load" } else { "" }
            ),
            (_, false) => format!(
                "the revision is already {} (at least the {} asked for): not raised{}",
                self.from,
                self.to,
                if self.compacted { &", compacted there after the load" } else { "" }
            ),
            (false, true) => format!(
                "revision raised from {} to {} before the load ({} filler writes in {:.1} s, {:.0}/s){}",
                self.from,
                self.to,
                self.writes,
                self.elapsed.as_secs_f64(),
                rate,
                if self.compacted { "; compacted at it after the load" } else { "" }
            ),
        }
    }
}

/// The target's current revision (the header of a one-key read).
async fn revision(client: &Client) -> Result<i64> {
    let kv = client.kv_client();
    let r = etcd::retried(5, || {
        let mut kv = kv.clone();
        async move { kv.get(FILLER_KEY, None).await }
    })
    .await
    .map_err(|e| etcd::wrap("cannot read the target's revision", e))?;
    Ok(r.header().map(|h| h.revision()).unwrap_or(0))
}

/// The revision to reach: the stream's plus the margin, refused when it is out of reason.
pub fn goal(stream_revision: i64, margin: i64, format: u32) -> Result<i64> {
    if format < 2 {
        return Err(Error::new(
            Kind::Usage,
            "--bump-revision needs the stream's revision, and no digest covers a format-1 header's: re-seal it \
             with kv-seal, or dump again",
        ));
    }
    if stream_revision <= 0 {
        return Err(Error::new(Kind::Usage, "--bump-revision: the stream has no revision (it is not a v3 dump)"));
    }
    if !(0..=MAX_WRITES).contains(&margin) {
        return Err(Error::new(Kind::Usage, format!("--bump-revision={margin}: the margin must be 0 to {MAX_WRITES}")));
    }
    stream_revision
        .checked_add(margin)
        .ok_or_else(|| Error::new(Kind::BadInput, format!("the stream's revision {stream_revision} is out of range")))
}

/// Raise the target's revision to at least `to` with filler writes (none when dry).
pub async fn raise(client: &Client, to: i64, dry: bool, report: &Reporter) -> Result<Bumped> {
    let started = Instant::now();
    let from = revision(client).await?;
    let mut b = Bumped { from, to, writes: 0, at: from.max(to), elapsed: Duration::ZERO, compacted: false };
    if from >= to || dry {
        return Ok(b);
    }
    if to - from > MAX_WRITES {
        return Err(Error::new(
            Kind::Usage,
            format!(
                "raising the revision from {from} to {to} takes {} writes, more than {MAX_WRITES}: is the stream \
                 from this cluster? Give a smaller --bump-revision margin",
                to - from
            ),
        ));
    }
    let mut progress = report.progress();
    // Rounds of puts, each re-reading the revision, so that a retried put (applied or not) or
    // another writer never leaves it short; the delete is the last revision.
    loop {
        let now = revision(client).await?;
        let left = to - 1 - now;
        if left <= 0 {
            break;
        }
        b.writes += puts(client, left.min(1_000_000)).await?;
        progress.update(|| format!("raising the revision: {} of {}", now + left.min(1_000_000), to));
    }
    let mut kv = client.kv_client();
    kv.delete(FILLER_KEY, None).await.map_err(|e| etcd::wrap("cannot delete the filler key", e))?;
    b.writes += 1;
    b.elapsed = started.elapsed();
    Ok(b)
}

/// `n` puts of the filler key, `IN_FLIGHT` at a time; the number made.
async fn puts(client: &Client, n: i64) -> Result<i64> {
    let left = Arc::new(AtomicI64::new(n));
    let mut tasks = JoinSet::new();
    for _ in 0..IN_FLIGHT.min(n) {
        let (mut kv, left) = (client.kv_client(), left.clone());
        tasks.spawn(async move {
            let mut made = 0i64;
            let mut transient = etcd::delays();
            while left.fetch_sub(1, Ordering::Relaxed) > 0 {
                loop {
                    match kv.put(FILLER_KEY, "", None).await {
                        Ok(_) => break,
                        Err(e) if etcd::is_transient(&e) && etcd::pause(&mut transient).await => {}
                        Err(e) => return Err(etcd::wrap("a filler write failed", e)),
                    }
                }
                made += 1;
            }
            Ok(made)
        });
    }
    let mut made = 0;
    while let Some(r) = tasks.join_next().await {
        made += r.map_err(|e| Error::new(Kind::Failure, format!("a filler task failed: {e}")))??;
    }
    Ok(made)
}

/// Compact at `rev` and wait until it is applied: a watch from before it is told "compacted".
/// A target already compacted past it is fine.
pub async fn compact(client: &Client, rev: i64) -> Result<()> {
    let mut c = client.clone();
    match c.compact(rev, Some(CompactionOptions::new().with_physical())).await {
        Ok(_) => Ok(()),
        Err(e) if etcd::describe(&e).contains("compacted") => Ok(()),
        Err(e) => Err(etcd::wrap(&format!("cannot compact at revision {rev}"), e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flags_default_is_the_documented_margin() {
        let cmd = <crate::load::LoadOptions as clap::Args>::augment_args(clap::Command::new("etcd-load"));
        let m = cmd.get_matches_from(["etcd-load", "--bump-revision"]);
        assert_eq!(m.get_one::<i64>("bump_revision"), Some(&DEFAULT_MARGIN));
    }

    #[test]
    fn goals_refuse_what_no_digest_covers_and_what_is_out_of_reason() {
        assert_eq!(goal(41, 1000, 2).unwrap(), 1041);
        assert!(goal(41, 1000, 1).unwrap_err().to_string().contains("format-1"));
        assert!(goal(0, 1000, 2).unwrap_err().to_string().contains("no revision"));
        assert!(goal(41, -1, 2).is_err());
        assert!(goal(i64::MAX, 1000, 2).is_err());
    }
}
