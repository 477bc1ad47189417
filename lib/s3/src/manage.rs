//! s3-ls and s3-prune: the backups under a directory prefix, and retention.
//!
//! A backup is an object whose checksum object names it. Objects without one (a push that
//! failed after its object, another tool's upload) are listed as unverified, never chosen by
//! `--latest`, never counted by `--keep-last`, and never deleted by s3-prune.

use std::io::Write;
use std::time::{Duration, SystemTime};

use super::{CHECKSUM_SUFFIX, Listed, S3Args, S3Layout, S3Uri, check_all, list, reshifter_backups, runtime, s3_error};
use reshifter_format::delta::parse_segment_name;
use reshifter_format::error::{Error, Kind, Result};
use reshifter_format::io::Output;
use reshifter_format::report::human_bytes;
use reshifter_format::units::parse_duration;

/// Run s3-ls: NDJSON, or a table on a terminal.
pub fn ls(s3: S3Args, uri: S3Uri, checksums: bool, table: Option<bool>, layout: S3Layout) -> Result<()> {
    let rt = runtime()?;
    let items = rt.block_on(async {
        let c = s3.client().await;
        if layout == S3Layout::Reshifter {
            return reshifter_backups(&c, &s3, &uri.bucket, &uri.dir()).await;
        }
        let mut items = list(&c, &s3, &uri.bucket, &uri.dir()).await?;
        if checksums {
            check_all(&c, &s3, &uri.bucket, &mut items).await?;
        }
        Ok::<_, Error>(items)
    })?;
    let mut out = Output::create(None)?;
    let table = table.unwrap_or_else(|| std::io::IsTerminal::is_terminal(&std::io::stdout()));
    for i in &items {
        if table {
            let state = match (i.verified, i.complete) {
                (Some(true), _) => i.sha256.as_deref().map(|s| &s[..12]).unwrap_or("-"),
                (_, Some(true)) => "UNCHECKED",
                (Some(false), _) => "UNVERIFIED",
                (None, _) => "-",
            };
            writeln!(out, "{}  {:>10}  {:<12}  {}", i.time, human_bytes(i.size.max(0) as u64), state, i.uri)?;
        } else {
            serde_json::to_writer(&mut out, i)?;
            out.write_all(b"\n")?;
        }
    }
    out.finish()?;
    Ok(())
}

/// Options of s3-prune.
/// s3-prune's command-line options.
#[derive(Debug, Clone, clap::Args)]
pub struct PruneOptions {
    /// Where progress, warnings and the summary go (stderr, under the tool's name, unless the
    /// caller names itself or takes the lines).
    #[arg(skip)]
    pub report: reshifter_format::report::Reporter,

    /// s3://bucket/prefix/
    #[arg(value_name = "S3_URI")]
    pub uri: S3Uri,

    /// Keep the newest N backups
    #[arg(long, value_name = "N")]
    pub keep_last: Option<usize>,

    /// Keep backups younger than this (e.g. 7d, 36h)
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub keep_within: Option<Duration>,

    /// Report what would be deleted; delete nothing
    #[arg(long)]
    pub dry_run: bool,

    #[command(flatten)]
    pub s3: S3Args,

    /// native: backups are objects with a checksum object naming them; reshifter: ReShifter's
    /// <backup id>.zip objects, their age from their id
    #[arg(long, value_enum, default_value = "native")]
    pub layout: S3Layout,

    /// The time retention is measured from (tests; default: now).
    #[arg(skip)]
    pub now: Option<SystemTime>,

    /// An object kept whatever the policy says (the backup just made, for a server's retention).
    #[arg(skip)]
    pub keep_key: Option<String>,
}

impl PruneOptions {
    /// Pruning of `uri` as a library caller builds it: no policy yet (set `keep_last` and/or
    /// `keep_within`), native layout, not a dry run.
    pub fn new(uri: S3Uri, s3: S3Args) -> Self {
        PruneOptions {
            uri,
            keep_last: None,
            keep_within: None,
            dry_run: false,
            s3,
            layout: S3Layout::Native,
            now: None,
            keep_key: None,
            report: Default::default(),
        }
    }
}

/// Which backups a retention policy keeps: the newest `keep_last`, and all younger than
/// `keep_within`. `items` oldest first; returns (keep?, reason) per item.
pub fn retention(
    items: &[Listed],
    keep_last: Option<usize>,
    keep_within: Option<Duration>,
    now: i64,
) -> Vec<(bool, String)> {
    let n = items.len();
    items
        .iter()
        .enumerate()
        .map(|(i, it)| {
            let rank = n - i; // 1 = newest
            if keep_last.is_some_and(|k| rank <= k) {
                return (true, format!("among the newest {}", keep_last.unwrap_or(0)));
            }
            if let Some(w) = keep_within
                && now - it.unix <= w.as_secs() as i64
            {
                return (true, format!("younger than {}", humantime::format_duration(w)));
            }
            (false, "outside the retention policy".into())
        })
        .collect()
}

/// What pruning decided about one object: `keep`, `delete`, `would-delete` (dry run) or
/// `skip` (not a verified backup: never touched).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Pruned {
    pub action: &'static str,
    pub uri: String,
    pub time: String,
    pub size: i64,
    pub reason: String,
}

/// What a pruning did, in all.
#[derive(Debug, Clone, Copy, Default)]
pub struct PruneSummary {
    pub kept: u64,
    pub deleted: u64,
    pub skipped: u64,
}

/// Run s3-prune: delete backups outside `--keep-last N` and `--keep-within D`; each decision
/// as an NDJSON line on stdout, the count on stderr.
pub fn prune(o: PruneOptions) -> Result<()> {
    let mut out = Output::create(None)?;
    let sum = prune_with(&o, &mut |p| {
        serde_json::to_writer(&mut out, p).map_err(std::io::Error::other)?;
        out.write_all(b"\n")
    })?;
    out.finish()?;
    let verb = if o.dry_run { "would be deleted (dry run)" } else { "deleted" };
    let skipped = if sum.skipped == 0 { String::new() } else { format!(", {} unverified left alone", sum.skipped) };
    o.report.or_name("s3-prune").say(format_args!("{} kept, {} {verb}{skipped}", sum.kept, sum.deleted));
    Ok(())
}

/// Prune as [`prune`] does, each decision handed to `report` as it is carried out (a library
/// caller — the server's retention — keeps or logs them; nothing is printed).
pub fn prune_with(o: &PruneOptions, report: &mut dyn FnMut(&Pruned) -> std::io::Result<()>) -> Result<PruneSummary> {
    if o.keep_last.is_none() && o.keep_within.is_none() {
        return Err(Error::new(
            Kind::Usage,
            "give --keep-last N and/or --keep-within DURATION: pruning without a policy would delete every backup",
        ));
    }
    if o.keep_last == Some(0) && o.keep_within.is_none() {
        return Err(Error::new(Kind::Usage, "--keep-last 0 alone would delete every backup"));
    }
    let rt = runtime()?;
    rt.block_on(prune_async(o, report))
}

async fn prune_async(
    o: &PruneOptions,
    report: &mut dyn FnMut(&Pruned) -> std::io::Result<()>,
) -> Result<PruneSummary, Error> {
    let c = o.s3.client().await;
    let (backups, others): (Vec<Listed>, Vec<Listed>) = if o.layout == S3Layout::Reshifter {
        (reshifter_backups(&c, &o.s3, &o.uri.bucket, &o.uri.dir()).await?, Vec::new())
    } else {
        let mut items = list(&c, &o.s3, &o.uri.bucket, &o.uri.dir()).await?;
        check_all(&c, &o.s3, &o.uri.bucket, &mut items).await?;
        items.into_iter().partition(|i| i.verified == Some(true))
    };
    let now = o
        .now
        .unwrap_or_else(SystemTime::now)
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let mut decisions = retention(&backups, o.keep_last, o.keep_within, now);
    for (it, d) in backups.iter().zip(decisions.iter_mut()) {
        if o.keep_key.as_deref() == Some(it.key.as_str()) {
            *d = (true, "the backup just made".into());
        }
    }
    let mut sum = PruneSummary { skipped: others.len() as u64, ..Default::default() };
    let line = |action: &'static str, it: &Listed, why: &str| Pruned {
        action,
        uri: it.uri.clone(),
        time: it.time.clone(),
        size: it.size,
        reason: why.to_string(),
    };
    for it in &others {
        report(&line(
            "skip",
            it,
            "not a verified backup (no checksum names it, or its content was never checked): left alone",
        ))?;
    }
    for (it, (keep, why)) in backups.iter().zip(decisions) {
        let action = match (keep, o.dry_run) {
            (true, _) => "keep",
            (false, true) => "would-delete",
            (false, false) => "delete",
        };
        if !keep && !o.dry_run {
            // The checksum first: if the object's deletion then fails, what is left is an
            // unverified object, never a backup whose data is gone.
            let sum_key = format!("{}{CHECKSUM_SUFFIX}", it.key);
            if o.layout == S3Layout::Native {
                c.delete_object()
                    .bucket(&o.uri.bucket)
                    .key(&sum_key)
                    .send()
                    .await
                    .map_err(|e| s3_error(&o.s3, &format!("cannot delete s3://{}/{sum_key}", o.uri.bucket), e))?;
            }
            c.delete_object()
                .bucket(&o.uri.bucket)
                .key(&it.key)
                .send()
                .await
                .map_err(|e| s3_error(&o.s3, &format!("cannot delete {}", it.uri), e))?;
        }
        if keep {
            sum.kept += 1;
        } else {
            sum.deleted += 1;
        }
        report(&line(action, it, &why))?;
    }
    Ok(sum)
}

/// The newest complete delta segment under `uri` (`etcd-watch --resume s3://...`): of the
/// objects named `delta-<first>-<last>...` (docs/FORMAT.md, "Segments") whose checksum object
/// names them — so that an upload a failed push left never counts — the one that ends last:
/// its URI and end revision. `None` when there is none.
pub fn newest_segment(s3: &S3Args, uri: &S3Uri) -> Result<Option<(S3Uri, i64)>> {
    let rt = runtime()?;
    rt.block_on(async {
        let c = s3.client().await;
        let dir = uri.dir();
        let mut items = list(&c, s3, &uri.bucket, &dir).await?;
        let last_of = |i: &Listed| {
            let name = i.key.strip_prefix(&dir).unwrap_or(&i.key);
            (!name.contains('/')).then(|| parse_segment_name(name)).flatten().map(|(_, last)| last)
        };
        items.retain(|i| last_of(i).is_some());
        items.sort_by_key(|i| std::cmp::Reverse(last_of(i)));
        for item in items {
            let mut one = [item];
            check_all(&c, s3, &uri.bucket, &mut one).await?;
            // Complete will do: the segment is read through and checked before it is trusted.
            if one[0].complete == Some(true) {
                let end = last_of(&one[0]).unwrap_or(0);
                return Ok(Some((S3Uri { bucket: uri.bucket.clone(), key: one[0].key.clone() }, end)));
            }
        }
        Ok(None)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_policy() {
        let mk = |unix: i64| Listed {
            uri: String::new(),
            key: unix.to_string(),
            backup_id: None,
            size: 1,
            time: String::new(),
            unix,
            etag: String::new(),
            sha256: None,
            complete: Some(true),
            checked: Some("stream".into()),
            verified: Some(true),
        };
        let items: Vec<Listed> = [100, 200, 300, 400, 500].into_iter().map(mk).collect();
        let keep = |l, w| retention(&items, l, w, 500).into_iter().map(|(k, _)| k).collect::<Vec<_>>();
        assert_eq!(keep(Some(2), None), [false, false, false, true, true]);
        assert_eq!(keep(None, Some(Duration::from_secs(250))), [false, false, true, true, true]);
        assert_eq!(keep(Some(1), Some(Duration::from_secs(150))), [false, false, false, true, true]);
    }
}
