//! The etcd side of a load: batches in flight, each read, planned and written in one guarded
//! transaction (split when too big, retried when its keys changed under it), leases regranted.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use etcd_client::{Client, KeyValue, Txn, TxnOp, TxnOpResponse};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::{self as etcd, MAX_DECODE_BYTES};
use reshifter_format::error::{Error, Kind, Result};
use reshifter_format::{Header, Record, push_bytes_field, show_key};

use crate::wire::{Compare, PutRequest, RequestOp, TxnClient, TxnRequest};

use super::options::{LeaseMode, LoadOptions, Mode};
use super::reader::Msg;
use super::report::LoadCounts;

/// The fate of an original lease in this load.
#[derive(Clone, Copy)]
pub(super) enum Granted {
    Lease(i64),
    /// The granted lease expired during the restore: its remaining keys are counted as expired.
    Expired,
}

/// Shared state of the batch tasks.
pub(super) struct Ctx {
    pub(super) client: Client,
    /// The write txns' own connection (crate::wire).
    pub(super) writer: TxnClient,
    pub(super) header: Header,
    pub(super) opts: LoadOptions,
    /// original lease id -> what it became
    pub(super) leases: tokio::sync::Mutex<HashMap<i64, Granted>>,
    pub(super) dry_out: Option<Arc<Mutex<Box<dyn Write + Send>>>>,
    /// Whether batches are first written as if none of their keys existed (no read first): true
    /// until one such write finds a key that exists. Into an empty etcd (a restore's usual
    /// target) every batch is then one guarded txn instead of a read and a txn.
    pub(super) optimistic: AtomicBool,
}

/// What writing some records did: the counts of what was done, and the failure if any.
#[derive(Default)]
pub(super) struct Written {
    stats: LoadCounts,
    failure: Option<(Vec<u8>, Error)>,
}

impl Written {
    fn failed(key: &[u8], err: Error) -> Self {
        Written { stats: LoadCounts::default(), failure: Some((key.to_vec(), err)) }
    }
}

pub(super) type Outcome = std::result::Result<(LoadCounts, u64, Option<File>), (LoadCounts, Error)>;
pub(super) type End = Result<(u64, u64, Option<File>)>;

/// Feed batches to at most `concurrency` tasks; collect stats; stop at the first error.
pub(super) async fn drive(ctx: Arc<Ctx>, rx: &mut mpsc::Receiver<Msg>, concurrency: usize) -> Outcome {
    let mut total = LoadCounts::default();
    let mut tasks: JoinSet<Written> = JoinSet::new();
    let mut first_err: Option<Error> = None;
    let mut progress = ctx.opts.report.or_name("etcd-load").progress();
    let mut end: Option<End> = None;
    let mut seen: u64 = 0;

    let absorb = |r: std::result::Result<Written, tokio::task::JoinError>,
                  total: &mut LoadCounts,
                  first: &mut Option<Error>| match r {
        Ok(w) => {
            total.add(&w.stats);
            if let Some((key, err)) = w.failure
                && first.is_none()
            {
                *first = Some(Error::with_source(err.kind(), format!("at key {}", show_key(&key)), err));
            }
        }
        Err(e) if first.is_none() => *first = Some(Error::new(Kind::Failure, format!("a batch task failed: {e}"))),
        Err(_) => {}
    };

    while first_err.is_none() {
        let Some(msg) = rx.recv().await else {
            end = Some(Err(Error::new(Kind::Failure, "the stream reader stopped unexpectedly")));
            break;
        };
        match msg {
            Msg::Batch(b) => {
                seen += b.len() as u64;
                while tasks.len() >= concurrency {
                    if let Some(r) = tasks.join_next().await {
                        absorb(r, &mut total, &mut first_err);
                    }
                }
                let c = ctx.clone();
                tasks.spawn(async move { write_records(&c, &b).await });
                progress.update(|| format!("{seen} keys read, {} written", total.written()));
            }
            Msg::End(e) => {
                end = Some(e);
                break;
            }
        }
    }
    while let Some(r) = tasks.join_next().await {
        absorb(r, &mut total, &mut first_err);
    }
    if let Some(e) = first_err {
        return Err((total, e));
    }
    match end {
        Some(Ok((records, dirs, spool))) => {
            total.dirs += dirs;
            Ok((total, records, spool))
        }
        Some(Err(e)) => Err((total, e)),
        None => Err((total, Error::new(Kind::Failure, "the load stopped before the end of the stream"))),
    }
}

/// A record as a batch holds it: its key and value are shared with the txns built from them.
pub(super) struct Item {
    pub(super) key: Bytes,
    pub(super) value: Bytes,
    pub(super) lease: i64,
}

impl From<Record> for Item {
    fn from(r: Record) -> Item {
        Item { key: r.key.into(), value: r.value.into(), lease: r.lease }
    }
}

/// What a batch will do to one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Action {
    Create,
    Update,
    Unchanged,
    Keep,
}

/// The lease a record's key gets: `Ok(None)` for none, `Err(())` when the key is to be skipped
/// because its lease expired (before the dump finished, or during this restore).
pub(super) async fn lease_for(ctx: &Ctx, r: &Item) -> Result<std::result::Result<Option<i64>, ()>> {
    if r.lease == 0 || ctx.opts.leases == LeaseMode::Drop {
        return Ok(Ok(None));
    }
    let Some(ttl) = ctx.header.lease_ttl(r.lease) else { return Ok(Err(())) };
    if ctx.opts.dry_run {
        return Ok(Ok(Some(0)));
    }
    let mut map = ctx.leases.lock().await;
    match map.get(&r.lease) {
        Some(Granted::Lease(id)) => return Ok(Ok(Some(*id))),
        Some(Granted::Expired) => return Ok(Err(())),
        None => {}
    }
    let mut lc = ctx.client.lease_client();
    let resp =
        lc.grant(ttl, None).await.map_err(|e| ctx.opts.etcd.error(&format!("cannot grant a lease of {ttl} s"), e))?;
    map.insert(r.lease, Granted::Lease(resp.id()));
    Ok(Ok(Some(resp.id())))
}

/// The planned write of a slice of records.
pub(super) struct BatchPlan {
    stats: LoadCounts,
    compares: Vec<Compare>,
    puts: Vec<RequestOp>,
    dry: Vec<(&'static str, Bytes)>,
}

/// Plan a batch from the current state of its keys, as read; `None`: guessed, every key taken as
/// absent. A guess is guarded by one compare over the batch's keys (a sorted, disjoint slice of
/// the stream) instead of one per key: etcd evaluates compares in its single apply loop. Any key
/// in that range, ours or not, fails it, and the batch is read first.
pub(super) async fn plan_batch(ctx: &Ctx, records: &[Item], current: Option<&[Option<KeyValue>]>) -> Result<BatchPlan> {
    let mut p = BatchPlan { stats: LoadCounts::default(), compares: Vec::new(), puts: Vec::new(), dry: Vec::new() };
    for (i, r) in records.iter().enumerate() {
        let cur = current.and_then(|c| c.get(i)).and_then(Option::as_ref);
        let lease = match lease_for(ctx, r).await? {
            Ok(l) => l,
            Err(()) => {
                p.stats.expired += 1;
                continue;
            }
        };
        let action = match cur {
            None => Action::Create,
            Some(_) if ctx.opts.mode == Mode::CreateOnly => Action::Keep,
            Some(kv) if kv.value() == &r.value[..] && kv.lease() == 0 && lease.is_none() => Action::Unchanged,
            Some(_) => Action::Update,
        };
        match action {
            Action::Create => p.stats.created += 1,
            Action::Update => p.stats.updated += 1,
            Action::Unchanged => p.stats.unchanged += 1,
            Action::Keep => p.stats.kept += 1,
        }
        if !matches!(action, Action::Create | Action::Update) {
            if ctx.opts.dry_run && ctx.opts.dry_out.all() {
                p.dry.push((if action == Action::Keep { "keep" } else { "unchanged" }, r.key.clone()));
            }
            continue;
        }
        if ctx.opts.dry_run {
            p.dry.push((if action == Action::Create { "create" } else { "update" }, r.key.clone()));
            continue;
        }
        if current.is_some() {
            p.compares.push(Compare::revision_is(r.key.clone(), cur.map_or(0, |kv| kv.mod_revision())));
        }
        let put = PutRequest { key: r.key.clone(), value: r.value.clone(), lease: lease.unwrap_or(0) };
        p.puts.push(RequestOp { request_put: Some(put) });
    }
    if current.is_none() && !p.puts.is_empty() {
        p.compares.push(none_between(records));
    }
    Ok(p)
}

/// Read the current state of the records' keys in one read-only txn.
pub(super) async fn read_current(
    kv: &mut etcd_client::KvClient,
    records: &[Item],
) -> std::result::Result<Vec<Option<KeyValue>>, etcd_client::Error> {
    let reads: Vec<TxnOp> = records.iter().map(|r| TxnOp::get(r.key.to_vec(), None)).collect();
    let resp = kv.txn(Txn::new().and_then(reads)).await?;
    Ok(resp
        .op_responses()
        .into_iter()
        .map(|op| match op {
            TxnOpResponse::Get(mut g) => g.take_kvs().into_iter().next(),
            _ => None,
        })
        .collect())
}

/// Attempts a batch makes against keys changed under it by another writer; transient errors
/// (a leader election, a member restarting) have their own budget, etcd's retry policy
/// ([`etcd::backoff`]).
pub(super) const MAX_CONFLICTS: u32 = 20;

/// Write a slice of records: read, plan, guarded write; split in halves when etcd finds the txn
/// too big (what the first half wrote stays counted when the second fails).
pub(super) fn write_records<'a>(ctx: &'a Ctx, records: &'a [Item]) -> futures::future::BoxFuture<'a, Written> {
    Box::pin(async move {
        let mut kv = ctx.client.kv_client().max_decoding_message_size(MAX_DECODE_BYTES);
        let (mut conflicts, mut lease_checks) = (0u32, 0u32);
        let mut transient = etcd::delays();
        let first = &records[0].key;
        loop {
            // Guessing that no key exists is checked by the txn's compares like any read.
            let guessed = !ctx.opts.dry_run && ctx.optimistic.load(Ordering::Relaxed);
            let read = if guessed { Ok(None) } else { read_current(&mut kv, records).await.map(Some) };
            let current = match read {
                Ok(c) => c,
                Err(e) if etcd::is_request_too_big(&e) && records.len() > 1 => return split_write(ctx, records).await,
                Err(e) if etcd::is_transient(&e) && etcd::pause(&mut transient).await => continue,
                Err(e) => return Written::failed(first, ctx.opts.etcd.error("reading the keys failed", e)),
            };
            let p = match plan_batch(ctx, records, current.as_deref()).await {
                Ok(p) => p,
                Err(e) => return Written::failed(first, e),
            };
            if ctx.opts.dry_run {
                let failure = report_dry(ctx, &p.dry).err().map(|e| (first.to_vec(), e));
                return Written { stats: p.stats, failure };
            }
            if p.puts.is_empty() {
                return Written { stats: p.stats, failure: None };
            }
            match ctx.writer.txn(TxnRequest { compare: p.compares, success: p.puts }).await {
                Ok(true) => {
                    let mut stats = p.stats;
                    stats.txns += 1;
                    return Written { stats, failure: None };
                }
                // A key exists after all: read first from now on.
                Ok(_) if guessed => ctx.optimistic.store(false, Ordering::Relaxed),
                // Someone changed one of these keys since the read: read again.
                Ok(_) if conflicts < MAX_CONFLICTS => conflicts += 1,
                Ok(_) => {
                    let e =
                        Error::new(Kind::Failure, "the keys kept changing under the load (another writer is active)");
                    return Written::failed(first, e);
                }
                Err(e) if etcd::is_lease_not_found(&e) && lease_checks < 3 => {
                    // A lease granted for this load expired before its keys were all written.
                    lease_checks += 1;
                    if let Err(e) = forget_expired_leases(ctx, records).await {
                        return Written::failed(first, e);
                    }
                }
                Err(e) if etcd::is_request_too_big(&e) && records.len() > 1 => return split_write(ctx, records).await,
                Err(e) if etcd::is_request_too_big(&e) => {
                    let msg = format!(
                        "etcd refused the key as too large ({} bytes of value): {}; raise etcd's --max-request-bytes",
                        records[0].value.len(),
                        etcd::describe(&e)
                    );
                    return Written::failed(first, Error::new(Kind::Failure, msg));
                }
                Err(e) if etcd::is_transient(&e) && etcd::pause(&mut transient).await => {}
                Err(e) => return Written::failed(first, ctx.opts.etcd.error("writing failed", e)),
            }
        }
    })
}

/// A compare that holds when no key from the first record's to the last's exists (the records
/// are sorted by key).
fn none_between(records: &[Item]) -> Compare {
    let (first, last) = (&records[0].key, &records[records.len() - 1].key);
    let mut end = Vec::with_capacity(last.len() + 1);
    end.extend_from_slice(last);
    end.push(0);
    Compare::none_in(first.clone(), end.into())
}

pub(super) async fn split_write(ctx: &Ctx, records: &[Item]) -> Written {
    let (a, b) = records.split_at(records.len() / 2);
    let mut w = write_records(ctx, a).await;
    if w.failure.is_some() {
        return w;
    }
    let second = write_records(ctx, b).await;
    w.stats.add(&second.stats);
    w.failure = second.failure;
    w
}

/// Mark the granted leases of these records that no longer exist as expired: their keys are
/// then counted as expired instead of failing the restore.
pub(super) async fn forget_expired_leases(ctx: &Ctx, records: &[Item]) -> Result<()> {
    let mut map = ctx.leases.lock().await;
    let mut lc = ctx.client.lease_client();
    for r in records.iter().filter(|r| r.lease != 0) {
        if let Some(Granted::Lease(id)) = map.get(&r.lease).copied() {
            let ttl = lc.time_to_live(id, None).await.map_err(|e| ctx.opts.etcd.error("cannot read a lease", e))?;
            if ttl.ttl() <= 0 {
                map.insert(r.lease, Granted::Expired);
            }
        }
    }
    Ok(())
}

pub(super) fn report_dry(ctx: &Ctx, lines: &[(&str, impl AsRef<[u8]>)]) -> Result<()> {
    let Some(out) = &ctx.dry_out else {
        return Ok(());
    };
    let mut buf = Vec::new();
    for (action, key) in lines {
        buf.extend_from_slice(b"{\"action\":\"");
        buf.extend_from_slice(action.as_bytes());
        buf.extend_from_slice(b"\",");
        push_bytes_field(&mut buf, "key", key.as_ref());
        buf.extend_from_slice(b"}\n");
    }
    out.lock().expect("dry-run output").write_all(&buf)?;
    Ok(())
}
