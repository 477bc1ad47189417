//! etcd-load: write a stream into etcd with batched, guarded transactions.
//!
//! A reader thread parses and validates the stream and cuts it into batches that respect
//! `--max-txn-ops` and `--max-request-bytes`. Several batches are in flight at once. Each batch
//! reads the current state of its keys (one read-only txn), decides per key what to do (create,
//! update, leave unchanged, keep existing), and writes only what changes in one txn guarded by
//! `mod_revision` compares, so that counts are exact even while others write; a batch whose keys
//! changed under it is re-read and retried. A batch etcd finds too big is split in halves, and
//! what the halves wrote is counted. Into a target holding none of the stream's prefixes (a
//! restore's usual target) the read is skipped: the batch is written guarded by one compare that
//! no key lies between its first and last key, and the first such compare that fails sends every
//! later batch back to reading first.
//!
//! `sync` deletes only after the whole stream has been read, its trailer verified, and every
//! batch written: the stream's keys are spooled to a temporary file as they pass, and at the end
//! a paged scan of the target under the stream's prefixes is merge-joined against the spool. A
//! damaged or truncated stream therefore never deletes anything. `--dry-run` reports the same
//! set. The stream must claim, under its digest, to hold every key under its prefixes.
//!
//! A load that fails says exactly how many keys it wrote. Batches run concurrently, so what was
//! written is not a prefix of the stream: to resume, run the same command again — keys already
//! equal are left unchanged and counted so.

use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;

use reshifter_format::StreamReader;
use reshifter_format::error::{Error, Kind, Result};

pub(crate) mod options;
pub(crate) mod reader;
pub(crate) mod report;
mod txn;

pub mod bump;
pub mod plan;
mod sync;

pub use options::*;
pub use plan::{Plan, PlanFormat};
pub(crate) use reader::check_header;
use reader::{Msg, spawn_reader};
pub(crate) use report::failure;
pub use report::{LoadCounts, Loaded};
use sync::delete_missing;
use txn::{Ctx, drive};

/// Run etcd-load.
pub fn run(mut opts: LoadOptions) -> Result<()> {
    let plan = opts.plan.map(|f| {
        let p = Plan::default();
        opts.dry_run = true;
        opts.dry_out = DryOut::to(Box::new(p.clone()), true);
        (p, f)
    });
    let loaded = load(&opts)?;
    if let Some((p, f)) = plan {
        let mut out = reshifter_format::io::stdout();
        p.write_to(&mut out, f).and_then(|()| out.flush()).map_err(Error::from)?;
    }
    if !opts.quiet {
        let report = opts.report.or_name(if loaded.v2 { "etcd-load (v2)" } else { "etcd-load" });
        if let Some(b) = &loaded.bumped {
            report.say(b.describe(opts.dry_run));
        }
        report.say(loaded.describe(opts.dry_run));
    }
    Ok(())
}

/// Whether batches may be written without reading their keys first: etcd compares ranges (3.3
/// and later: an older one ignores a compare's range_end and would check the first key only) and
/// holds no key under any of `prefixes` (all keys when there are none); `false` when it cannot
/// tell.
async fn may_guess(client: &etcd_client::Client, prefixes: &[String]) -> bool {
    match client.maintenance_client().status().await {
        Ok(s) if compares_ranges(s.version()) => {}
        _ => return false,
    }
    let all = [String::new()];
    let prefixes = if prefixes.is_empty() { &all[..] } else { prefixes };
    let mut kv = client.kv_client();
    for p in prefixes {
        let opts = if p.is_empty() {
            etcd_client::GetOptions::new().with_from_key()
        } else {
            etcd_client::GetOptions::new().with_prefix()
        };
        let key = if p.is_empty() { vec![0u8] } else { p.as_bytes().to_vec() };
        match kv.get(key, Some(opts.with_count_only())).await {
            Ok(r) if r.count() == 0 => {}
            _ => return false,
        }
    }
    true
}

/// Whether an etcd of this version ("3.4.23") takes a compare over a range of keys.
fn compares_ranges(version: &str) -> bool {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().ok());
    matches!((parts.next().flatten(), parts.next().flatten()), (Some(major), Some(minor)) if (major, minor) >= (3, 3))
}

/// Batches the stream reader may have ready beyond those in flight.
const READ_AHEAD: usize = 4;

/// Load a stream: with the v3 API, or the v2 API (`--api v2`, or a v2 stream and `--api auto`).
pub fn load(opts: &LoadOptions) -> Result<Loaded> {
    opts.etcd.check()?;
    let reader = reshifter_format::io::open_input(opts.input.as_deref()).and_then(StreamReader::new)?;
    let header = reader.header().clone();
    let v2_stream = header.api == reshifter_format::Api::V2;
    if opts.api == LoadApi::V2 || (opts.api == LoadApi::Auto && v2_stream) {
        if opts.bump_revision.is_some() {
            return Err(Error::new(Kind::Usage, "--bump-revision is for the v3 API: etcd's v2 index cannot be raised"));
        }
        return crate::v2::load::run(opts, reader);
    }
    let bump_to = opts.bump_revision.map(|m| bump::goal(header.revision, m, header.format)).transpose()?;
    let opts = opts.clone();
    check_header(&opts, &header)?;
    let rt = reshifter_format::parallel::runtime(2)?;
    let started = Instant::now();
    let concurrency = if opts.dry_run { 1 } else { opts.concurrency.max(1) };
    // The reader keeps a few batches ahead of the transactions in flight, not one per slot:
    // each queued batch is up to --max-request-bytes (its requests share its keys and values).
    let (tx, mut rx) = mpsc::channel::<Msg>(concurrency.min(READ_AHEAD));
    let reader = spawn_reader(&opts, reader, tx);
    let client = rt.block_on(opts.etcd.connect())?;
    let writer = rt.block_on(crate::wire::TxnClient::connect(&opts.etcd))?;
    let mut bumped = match bump_to {
        Some(to) => {
            Some(rt.block_on(bump::raise(&client, to, opts.dry_run, &opts.report.or_name("etcd-load"))).map_err(
                |e| Error::with_source(e.kind(), "nothing of the stream was written: raising the revision failed", e),
            )?)
        }
        None => None,
    };
    // Into a target that holds none of the stream's prefixes, batches are written without
    // reading their keys first, each guarded by one compare that no key lies in its range;
    // otherwise (and after such a compare fails once) each is read first.
    let empty = !opts.dry_run && rt.block_on(may_guess(&client, &header.prefixes));
    let dry_out = opts.dry_run.then(|| opts.dry_out.writer());
    let ctx = Arc::new(Ctx {
        client,
        writer,
        header,
        opts: opts.clone(),
        leases: Default::default(),
        dry_out,
        optimistic: std::sync::atomic::AtomicBool::new(empty),
    });

    let outcome = rt.block_on(async {
        let (mut stats, records, spool) = drive(ctx.clone(), &mut rx, concurrency).await?;
        if let Some(spool) = spool {
            delete_missing(&ctx, spool, &mut stats).await.map_err(|e| (stats, e))?;
        }
        Ok::<_, (LoadCounts, Error)>((stats, records))
    });
    drop(rx);
    let _ = reader.join();
    if let Some(out) = &ctx.dry_out {
        out.lock().expect("dry-run output").flush()?;
    }
    if let (Ok(_), Some(b)) = (&outcome, &mut bumped)
        && opts.mark_compacted
    {
        b.compacted = true;
        if !opts.dry_run {
            // Every key is written (and sync's deletes done): compact below them.
            rt.block_on(bump::compact(&ctx.client, b.at))?;
        }
    }
    match outcome {
        Ok((stats, records)) => {
            // The keys' rate: the filler writes are timed on their own.
            let elapsed = started.elapsed().saturating_sub(bumped.map(|b| b.elapsed).unwrap_or_default());
            Ok(Loaded { stats, records, elapsed, v2: false, bumped })
        }
        Err((stats, err)) => Err(failure(&opts, &stats, err)),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn range_compares_are_known_from_the_version() {
        for (v, ranges) in [
            ("3.4.23", true),
            ("3.3.0", true),
            ("3.10.1", true),
            ("4.0.0", true),
            ("3.2.32", false),
            ("3", false),
            ("", false),
        ] {
            assert_eq!(super::compares_ranges(v), ranges, "{v}");
        }
    }
}
