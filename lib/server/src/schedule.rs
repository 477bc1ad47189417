//! Scheduled backups: `--schedule` in cron syntax runs the backup pipeline in-process, one at a
//! time (a run that would overlap a running backup is skipped and counted), then prunes by
//! `--keep-last` / `--keep-within` — only after a success, so a failing cluster never costs the
//! backups it has. A failed run leaves no `<id>.zip` (the pipeline writes under temporary names).

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use croner::Cron;

use crate::State;
use crate::api::{Plan, local_ids, run_backup, stored_at};
use reshifter_format::error::{Error, Kind, Result};
use reshifter_rcli::{Endpoint, Remote};

/// Parse a cron expression: 5 fields, or 6 with seconds first.
pub fn parse(expr: &str) -> Result<Cron> {
    Cron::new(expr)
        .with_seconds_optional()
        .parse()
        .map_err(|e| Error::new(Kind::Usage, format!("--schedule {expr:?} is not a cron expression: {e}")))
}

/// Run the schedule until the process ends.
pub async fn run(s: Arc<State>, cron: Cron) {
    loop {
        let now = Utc::now();
        let Ok(next) = cron.find_next_occurrence(&now, false) else {
            s.log("the schedule has no next time: scheduled backups stop");
            return;
        };
        let wait = (next - now).to_std().unwrap_or(Duration::ZERO);
        tokio::time::sleep(wait).await;
        let lag = (Utc::now() - next).to_std().unwrap_or(Duration::ZERO).as_secs_f64();
        let Ok(guard) = s.backup_lock.try_lock() else {
            s.jobs.metrics(|m| m.schedule_skipped += 1);
            s.log("scheduled backup skipped: a backup is still running");
            continue;
        };
        s.jobs.metrics(|m| {
            m.schedule_runs += 1;
            m.schedule_lag = lag;
        });
        let plan = Plan {
            endpoint: Endpoint { etcd_prefix: s.opts.etcd_prefix.clone(), ..Endpoint::new(&s.opts.etcd, "auto") },
            remote: Remote::new(s.opts.remote.clone(), s.opts.bucket.clone()),
            strategy: s.opts.strategy.clone(),
            by: "schedule",
        };
        if let Ok(made) = run_backup(&s, plan).await {
            let s2 = s.clone();
            match tokio::task::spawn_blocking(move || prune(&s2, made.id)).await {
                Ok(Ok(n)) if n > 0 => s.log(&format!("retention: {n} old backups deleted")),
                Ok(Err(e)) => s.log(&format!("retention failed: {e}")),
                _ => {}
            }
        }
        drop(guard);
    }
}

/// Retention after a successful backup: the local store ranked by when each backup was stored
/// (not by its id, which an upload chooses), the backup just made always kept; the bucket
/// through s3-prune in ReShifter's layout. Returns the local deletions.
fn prune(s: &State, just_made: u64) -> Result<usize> {
    let (last, within) = (s.opts.keep_last, s.opts.keep_within);
    if last.is_none() && within.is_none() {
        return Ok(0);
    }
    let mut ids: Vec<(u64, u64)> = local_ids(&s.store).into_iter().map(|id| (stored_at(&s.store, id), id)).collect();
    ids.sort();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let mut deleted = 0;
    for (i, (stored, id)) in ids.iter().enumerate() {
        let rank = ids.len() - i;
        let keep = *id == just_made
            || last.is_some_and(|k| rank <= k)
            || within.is_some_and(|w| now.saturating_sub(*stored) <= w.as_secs());
        if !keep && std::fs::remove_file(s.store.join(format!("{id}.zip"))).is_ok() {
            let _ = std::fs::remove_file(s.store.join(format!("{id}.zip.json")));
            deleted += 1;
        }
    }
    if let Some((s3, bucket)) = Remote::new(s.opts.remote.clone(), s.opts.bucket.clone()).s3_target() {
        let mut o = reshifter_s3::PruneOptions::new(reshifter_s3::S3Uri { bucket, key: String::new() }, s3);
        o.layout = reshifter_s3::S3Layout::Reshifter;
        o.keep_last = last;
        o.keep_within = within;
        o.keep_key = Some(format!("{just_made}.zip"));
        let sum = reshifter_s3::prune_with(&o, &mut |_| Ok(()))?;
        if sum.deleted > 0 {
            s.log(&format!("retention: {} old backups deleted in the bucket", sum.deleted));
        }
    }
    Ok(deleted)
}
