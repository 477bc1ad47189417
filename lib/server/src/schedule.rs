//! Scheduled backups: `--schedule` in cron syntax runs the backup pipeline in-process, one at a
//! time (a run that would overlap a running backup is skipped and counted), then prunes by
//! `--keep-last` / `--keep-within` — only after a success, so a failing cluster never costs the
//! backups it has. A failed run leaves no `<id>.zip` (the pipeline writes under temporary names).

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use croner::Cron;

use crate::State;
use crate::api::{Plan, local_ids, run_backup};
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
            endpoint: Endpoint::new(&s.opts.etcd, "auto"),
            remote: Remote::new(s.opts.remote.clone(), s.opts.bucket.clone()),
            strategy: s.opts.strategy.clone(),
            by: "schedule",
        };
        if run_backup(&s, plan).await.is_ok() {
            let s2 = s.clone();
            match tokio::task::spawn_blocking(move || prune(&s2)).await {
                Ok(Ok(n)) if n > 0 => s.log(&format!("retention: {n} old backups deleted")),
                Ok(Err(e)) => s.log(&format!("retention failed: {e}")),
                _ => {}
            }
        }
        drop(guard);
    }
}

/// Retention after a successful backup: the local store by backup id (its Unix seconds), and the
/// bucket through s3-prune in ReShifter's layout. Returns the local deletions.
fn prune(s: &State) -> Result<usize> {
    let (last, within) = (s.opts.keep_last, s.opts.keep_within);
    if last.is_none() && within.is_none() {
        return Ok(0);
    }
    let ids = local_ids(&s.store);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let mut deleted = 0;
    for (i, id) in ids.iter().enumerate() {
        let rank = ids.len() - i;
        let keep = last.is_some_and(|k| rank <= k) || within.is_some_and(|w| now.saturating_sub(*id) <= w.as_secs());
        if !keep && std::fs::remove_file(s.store.join(format!("{id}.zip"))).is_ok() {
            deleted += 1;
        }
    }
    if let Some((mut flags, bucket)) = Remote::new(s.opts.remote.clone(), s.opts.bucket.clone()).s3_target() {
        flags.extend([format!("s3://{bucket}/").into(), "--layout".into(), "reshifter".into()]);
        if let Some(k) = last {
            flags.extend(["--keep-last".into(), k.to_string().into()]);
        }
        if let Some(w) = within {
            flags.extend(["--keep-within".into(), format!("{}s", w.as_secs()).into()]);
        }
        reshifter_s3::prune(reshifter_rcli::options("s3-prune", &flags)?)?;
    }
    Ok(deleted)
}
