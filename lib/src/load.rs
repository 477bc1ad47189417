//! etcd-load: write a stream into etcd with batched, guarded transactions.
//!
//! A reader thread parses and validates the stream and cuts it into batches that respect
//! `--max-txn-ops` and `--max-request-bytes`. Several batches are in flight at once. Each batch
//! reads the current state of its keys (one read-only txn), decides per key what to do (create,
//! update, leave unchanged, keep existing), and writes only what changes in one txn guarded by
//! `mod_revision` compares, so that counts are exact even while others write; a batch whose keys
//! changed under it is re-read and retried. In `sync` mode each batch also deletes the keys etcd
//! holds between the previous batch's last key and its own last key that the stream does not hold.
//!
//! A stream that ends without its trailer, or that fails its digest, ends the load with an error
//! that says how much was written: a partial restore never looks like success.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use etcd_client::{Client, Compare, CompareOp, GetOptions, PutOptions, Txn, TxnOp, TxnOpResponse};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::cli::{Progress, secs};
use crate::error::{Error, Kind, Result};
use crate::etcd::{self, EtcdArgs, MAX_DECODE_BYTES, in_range, prefix_ranges};
use crate::format::{Header, Record, StreamReader, push_bytes_field};

/// What to do with keys that already exist in the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Write every key of the stream; keys already equal are left as they are.
    Overwrite,
    /// Write only keys that do not exist; existing keys are left alone and counted.
    CreateOnly,
    /// Like overwrite, and delete keys under the stream's prefixes that the stream does not hold.
    Sync,
}

/// What to do with keys that were attached to a lease at dump time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LeaseMode {
    /// Write the keys without a lease: they never expire.
    Drop,
    /// Grant a fresh lease per original lease with the TTL left at dump time and attach its keys.
    Regrant,
}

#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub etcd: EtcdArgs,
    pub input: Option<PathBuf>,
    pub mode: Mode,
    pub leases: LeaseMode,
    pub dry_run: bool,
    pub max_txn_ops: usize,
    pub max_request_bytes: usize,
    pub concurrency: usize,
    pub quiet: bool,
}

/// What a load did (or, dry, would do).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// Existing keys left alone by `create-only`.
    pub kept: u64,
    pub deleted: u64,
    /// Keys skipped because their lease had expired before the dump finished.
    pub expired: u64,
    pub txns: u64,
}

impl Stats {
    fn add(&mut self, o: &Stats) {
        self.created += o.created;
        self.updated += o.updated;
        self.unchanged += o.unchanged;
        self.kept += o.kept;
        self.deleted += o.deleted;
        self.expired += o.expired;
        self.txns += o.txns;
    }

    /// Keys whose state in etcd this load changed.
    pub fn written(&self) -> u64 {
        self.created + self.updated + self.deleted
    }
}

/// Per-request overhead assumed when sizing a txn (field tags, lengths, revisions).
const OP_OVERHEAD: usize = 48;

/// Bytes a record adds to a write txn: one compare and one put.
fn record_cost(r: &Record) -> usize {
    2 * r.key.len() + r.value.len() + OP_OVERHEAD
}

struct Batch {
    records: Vec<Record>,
    /// Sync: the interval this batch owns starts here (inclusive); it ends at its last key.
    lo: Vec<u8>,
}

enum Msg {
    Batch(Batch),
    /// The stream ended: the number of records and, for sync, the key after which the tail starts.
    End(Result<(u64, Option<Vec<u8>>)>),
}

/// Shared state of the batch tasks.
struct Ctx {
    client: Client,
    header: Header,
    opts: LoadOptions,
    /// original lease id -> granted lease id
    leases: tokio::sync::Mutex<HashMap<i64, i64>>,
    sync_ranges: Vec<(Vec<u8>, Vec<u8>)>,
    dry_out: Option<Mutex<Box<dyn Write + Send>>>,
}

/// A failed batch: its first key, and why.
struct BatchError {
    key: Vec<u8>,
    err: Error,
    /// What the batch had completed before failing (writes are all-or-nothing per txn).
    done: Stats,
}

fn show_key(key: &[u8]) -> String {
    String::from_utf8_lossy(key).into_owned()
}

/// Read the stream in a thread of its own and cut it into batches.
fn spawn_reader(
    opts: &LoadOptions,
    header_tx: std::sync::mpsc::SyncSender<Result<Header>>,
    tx: mpsc::Sender<Msg>,
) -> std::thread::JoinHandle<()> {
    let input = opts.input.clone();
    let (max_ops, max_bytes, sync) = (opts.max_txn_ops.max(1), opts.max_request_bytes, opts.mode == Mode::Sync);
    std::thread::spawn(move || {
        let reader = crate::io::open_input(input.as_deref()).and_then(StreamReader::new);
        let mut reader = match reader {
            Ok(r) => {
                let _ = header_tx.send(Ok(r.header().clone()));
                r
            }
            Err(e) => {
                let _ = header_tx.send(Err(e));
                return;
            }
        };
        let mut batch: Vec<Record> = Vec::new();
        let mut bytes = 256;
        let mut lo: Vec<u8> = vec![0];
        let mut prev: Option<Vec<u8>> = None;
        let end = loop {
            match reader.next_record() {
                Ok(Some(rec)) => {
                    if sync && prev.as_ref().is_some_and(|p| rec.key <= *p) {
                        break Err(Error::bad_line(
                            reader.line(),
                            "key is out of order: --mode sync needs a stream sorted by key, as etcd-dump writes it",
                        ));
                    }
                    let cost = record_cost(&rec);
                    if !batch.is_empty() && (batch.len() >= max_ops || bytes + cost > max_bytes) {
                        let next_lo = successor(&batch.last().expect("non-empty").key);
                        let b = Batch { records: std::mem::take(&mut batch), lo: std::mem::replace(&mut lo, next_lo) };
                        if tx.blocking_send(Msg::Batch(b)).is_err() {
                            return;
                        }
                        bytes = 256;
                    }
                    if sync {
                        prev = Some(rec.key.clone());
                    }
                    bytes += cost;
                    batch.push(rec);
                }
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        let tail = batch.last().map(|r| successor(&r.key)).unwrap_or_else(|| lo.clone());
        // After bad input, stop: the pending batch is not written.
        if end.is_ok() && !batch.is_empty() && tx.blocking_send(Msg::Batch(Batch { records: batch, lo })).is_err() {
            return;
        }
        let _ = tx.blocking_send(Msg::End(end.map(|()| (reader.records_read(), Some(tail)))));
    })
}

/// The smallest key after `k`.
fn successor(k: &[u8]) -> Vec<u8> {
    let mut s = k.to_vec();
    s.push(0);
    s
}

/// Run a load.
pub fn run(opts: LoadOptions) -> anyhow::Result<()> {
    let rt = crate::dump::runtime(2)?;
    let started = Instant::now();
    let (header_tx, header_rx) = std::sync::mpsc::sync_channel(1);
    let concurrency = if opts.dry_run { 1 } else { opts.concurrency.max(1) };
    let (tx, mut rx) = mpsc::channel::<Msg>(concurrency);
    let reader = spawn_reader(&opts, header_tx, tx);
    let header = header_rx.recv().map_err(|_| Error::new(Kind::Failure, "the stream reader stopped"))??;
    if opts.mode == Mode::Sync && header.prefixes.is_empty() {
        return Err(Error::new(
            Kind::Usage,
            "--mode sync needs a stream that covers whole prefixes; this one was filtered (its header lists no prefixes), \
             so sync could not tell keys the source lacks from keys the filter left out",
        )
        .into());
    }
    if opts.mode == Mode::Sync && !header.sorted {
        return Err(Error::new(
            Kind::Usage,
            "--mode sync needs a stream sorted by key; this stream's header says it is not",
        )
        .into());
    }
    let client = rt.block_on(opts.etcd.connect())?;
    let dry_out: Option<Mutex<Box<dyn Write + Send>>> =
        opts.dry_run.then(|| Mutex::new(Box::new(crate::io::stdout()) as Box<dyn Write + Send>));
    let ctx = Arc::new(Ctx {
        client,
        sync_ranges: prefix_ranges(&header.prefixes),
        header,
        opts: opts.clone(),
        leases: Default::default(),
        dry_out,
    });

    let outcome = rt.block_on(drive(ctx.clone(), &mut rx, concurrency));
    drop(rx);
    let _ = reader.join();
    if let Some(out) = &ctx.dry_out {
        out.lock().expect("dry-run output").flush()?;
    }
    let elapsed = started.elapsed();
    match outcome {
        Ok((stats, records)) => {
            if !opts.quiet {
                eprintln!("{}", summary(&stats, records, opts.dry_run, elapsed));
            }
            Ok(())
        }
        Err((stats, err)) => {
            let msg = if opts.dry_run {
                format!("{err} (dry run: nothing was written)")
            } else if stats.written() > 0 {
                format!(
                    "the restore is INCOMPLETE: {} keys were written ({} created, {} updated, {} deleted) before it failed: {err}",
                    stats.written(),
                    stats.created,
                    stats.updated,
                    stats.deleted
                )
            } else {
                format!("nothing was written: {err}")
            };
            let kind = if !opts.dry_run && stats.written() > 0 { Kind::Partial } else { err.kind() };
            Err(Error::with_source(kind, msg, err).into())
        }
    }
}

fn summary(s: &Stats, records: u64, dry: bool, elapsed: Duration) -> String {
    let rate = records as f64 / elapsed.as_secs_f64().max(1e-9);
    let mut text = if dry {
        format!(
            "etcd-load: dry run, nothing written: {records} keys read: would create {}, update {}, delete {}; {} unchanged",
            s.created, s.updated, s.deleted, s.unchanged
        )
    } else {
        format!(
            "etcd-load: {records} keys read: {} created, {} updated, {} deleted, {} unchanged",
            s.created, s.updated, s.deleted, s.unchanged
        )
    };
    if s.kept > 0 {
        text.push_str(&format!(", {} existing kept", s.kept));
    }
    if s.expired > 0 {
        text.push_str(&format!(", {} skipped (lease expired)", s.expired));
    }
    if !dry {
        text.push_str(&format!("; {} txns in {} ({:.0} keys/s)", s.txns, secs(elapsed), rate));
    }
    text
}

/// Feed batches to at most `concurrency` tasks; collect stats; stop at the first error.
async fn drive(
    ctx: Arc<Ctx>,
    rx: &mut mpsc::Receiver<Msg>,
    concurrency: usize,
) -> std::result::Result<(Stats, u64), (Stats, Error)> {
    let mut total = Stats::default();
    let mut tasks: JoinSet<std::result::Result<Stats, BatchError>> = JoinSet::new();
    let mut first_err: Option<Error> = None;
    let mut progress = Progress::new("etcd-load");
    let mut end: Option<Result<(u64, Option<Vec<u8>>)>> = None;
    let mut seen: u64 = 0;

    let absorb = |r: std::result::Result<std::result::Result<Stats, BatchError>, tokio::task::JoinError>,
                  total: &mut Stats,
                  first_err: &mut Option<Error>| match r {
        Ok(Ok(s)) => total.add(&s),
        Ok(Err(be)) => {
            total.add(&be.done);
            if first_err.is_none() {
                *first_err = Some(Error::with_source(be.err.kind(), format!("at key {}", show_key(&be.key)), be.err));
            }
        }
        Err(e) => {
            if first_err.is_none() {
                *first_err = Some(Error::new(Kind::Failure, format!("a batch task failed: {e}")));
            }
        }
    };

    while first_err.is_none() {
        let msg = match rx.recv().await {
            Some(m) => m,
            None => {
                end = Some(Err(Error::new(Kind::Failure, "the stream reader stopped unexpectedly")));
                break;
            }
        };
        match msg {
            Msg::Batch(b) => {
                seen += b.records.len() as u64;
                while tasks.len() >= concurrency {
                    if let Some(r) = tasks.join_next().await {
                        absorb(r, &mut total, &mut first_err);
                    }
                }
                let c = ctx.clone();
                tasks.spawn(async move { process_batch(&c, b).await });
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
        Some(Ok((records, tail))) => {
            if ctx.opts.mode == Mode::Sync {
                let lo = tail.unwrap_or_else(|| vec![0]);
                match delete_interval(&ctx, &lo, None, &[]).await {
                    Ok(s) => total.add(&s),
                    Err(be) => {
                        total.add(&be.done);
                        return Err((total, be.err));
                    }
                }
            }
            Ok((total, records))
        }
        Some(Err(e)) => Err((total, e)),
        None => Err((total, Error::new(Kind::Failure, "the load stopped before the end of the stream"))),
    }
}

/// What a batch will do to one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Create,
    Update,
    Unchanged,
    Keep,
    Expired,
}

async fn process_batch(ctx: &Ctx, batch: Batch) -> std::result::Result<Stats, BatchError> {
    let mut done = Stats::default();
    let first_key = batch.records[0].key.clone();
    let fail = |err: Error, done: Stats| BatchError { key: first_key.clone(), err, done };

    if ctx.opts.mode == Mode::Sync {
        let hi = batch.records.last().expect("non-empty").key.clone();
        let keep: Vec<&[u8]> = batch.records.iter().map(|r| r.key.as_slice()).collect();
        match delete_interval(ctx, &batch.lo, Some(&hi), &keep).await {
            Ok(s) => done.add(&s),
            Err(mut be) => {
                be.done.add(&done);
                return Err(be);
            }
        }
    }
    match write_records(ctx, &batch.records).await {
        Ok(s) => {
            done.add(&s);
            Ok(done)
        }
        Err(WriteError::Failed(key, err)) => Err(BatchError { key, err, done }),
        Err(WriteError::Other(err)) => Err(fail(err, done)),
    }
}

enum WriteError {
    /// This key could not be written.
    Failed(Vec<u8>, Error),
    Other(Error),
}

/// Write a slice of records: read, plan, guarded write; split in halves when etcd finds the txn
/// too big.
fn write_records<'a>(
    ctx: &'a Ctx,
    records: &'a [Record],
) -> futures::future::BoxFuture<'a, std::result::Result<Stats, WriteError>> {
    Box::pin(async move {
        let mut kv = ctx.client.kv_client().max_decoding_message_size(MAX_DECODE_BYTES);
        let mut attempt = 0u32;
        loop {
            // 1. Read the current state of the batch's keys.
            let reads: Vec<TxnOp> = records.iter().map(|r| TxnOp::get(r.key.clone(), None)).collect();
            let current = match kv.txn(Txn::new().and_then(reads)).await {
                Ok(resp) => resp
                    .op_responses()
                    .into_iter()
                    .map(|op| match op {
                        TxnOpResponse::Get(mut g) => g.take_kvs().into_iter().next(),
                        _ => None,
                    })
                    .collect::<Vec<_>>(),
                Err(e) => {
                    if etcd::is_request_too_big(&e) && records.len() > 1 {
                        return split_write(ctx, records).await;
                    }
                    retry_or_fail(ctx, &e, &mut attempt, records).await?;
                    continue;
                }
            };

            // 2. Plan.
            let mut stats = Stats::default();
            let mut compares = Vec::new();
            let mut puts = Vec::new();
            let mut actions = Vec::with_capacity(records.len());
            for (r, cur) in records.iter().zip(&current) {
                let want_lease = if r.lease != 0 && ctx.opts.leases == LeaseMode::Regrant {
                    match ctx.header.lease_ttl(r.lease) {
                        Some(ttl) => Some(ttl),
                        None => {
                            stats.expired += 1;
                            actions.push(Action::Expired);
                            continue;
                        }
                    }
                } else {
                    None
                };
                let action = match cur {
                    None => Action::Create,
                    Some(_) if ctx.opts.mode == Mode::CreateOnly => Action::Keep,
                    Some(kv) if kv.value() == r.value.as_slice() && kv.lease() == 0 && want_lease.is_none() => {
                        Action::Unchanged
                    }
                    Some(_) => Action::Update,
                };
                actions.push(action);
                match action {
                    Action::Create => stats.created += 1,
                    Action::Update => stats.updated += 1,
                    Action::Unchanged => stats.unchanged += 1,
                    Action::Keep => stats.kept += 1,
                    Action::Expired => {}
                }
                if matches!(action, Action::Create | Action::Update) && !ctx.opts.dry_run {
                    let observed = cur.as_ref().map(|kv| kv.mod_revision()).unwrap_or(0);
                    compares.push(Compare::mod_revision(r.key.clone(), CompareOp::Equal, observed));
                    let mut po = PutOptions::new();
                    if let Some(ttl) = want_lease {
                        let id =
                            granted_lease(ctx, r.lease, ttl).await.map_err(|e| WriteError::Failed(r.key.clone(), e))?;
                        po = po.with_lease(id);
                    }
                    puts.push(TxnOp::put(r.key.clone(), r.value.clone(), Some(po)));
                }
            }

            if ctx.opts.dry_run {
                let lines: Vec<(&str, &[u8])> = records
                    .iter()
                    .zip(&actions)
                    .filter_map(|(r, a)| match a {
                        Action::Create => Some(("create", r.key.as_slice())),
                        Action::Update => Some(("update", r.key.as_slice())),
                        _ => None,
                    })
                    .collect();
                report_dry(ctx, &lines).map_err(WriteError::Other)?;
                return Ok(stats);
            }
            if puts.is_empty() {
                return Ok(stats);
            }

            // 3. Write what changes, guarded by what was read.
            match kv.txn(Txn::new().when(compares).and_then(puts)).await {
                Ok(resp) if resp.succeeded() => {
                    stats.txns += 1;
                    return Ok(stats);
                }
                Ok(_) => {
                    // Someone changed one of these keys since the read: read again.
                    attempt += 1;
                    if attempt > 20 {
                        return Err(WriteError::Failed(
                            records[0].key.clone(),
                            Error::new(
                                Kind::Failure,
                                "the keys kept changing under the load (another writer is active)",
                            ),
                        ));
                    }
                }
                Err(e) => {
                    if etcd::is_request_too_big(&e) {
                        if records.len() > 1 {
                            return split_write(ctx, records).await;
                        }
                        return Err(WriteError::Failed(
                            records[0].key.clone(),
                            Error::new(
                                Kind::Failure,
                                format!(
                                    "etcd refused the key as too large ({} bytes of value): {}; raise etcd's --max-request-bytes",
                                    records[0].value.len(),
                                    etcd::describe(&e)
                                ),
                            ),
                        ));
                    }
                    retry_or_fail(ctx, &e, &mut attempt, records).await?;
                }
            }
        }
    })
}

async fn split_write(ctx: &Ctx, records: &[Record]) -> std::result::Result<Stats, WriteError> {
    let (a, b) = records.split_at(records.len() / 2);
    let mut s = write_records(ctx, a).await?;
    match write_records(ctx, b).await {
        Ok(t) => {
            s.add(&t);
            Ok(s)
        }
        Err(e) => Err(e),
    }
}

/// Sleep and let the caller retry a transient error, or turn it into the batch's failure.
async fn retry_or_fail(
    ctx: &Ctx,
    e: &etcd_client::Error,
    attempt: &mut u32,
    records: &[Record],
) -> std::result::Result<(), WriteError> {
    if etcd::is_transient(e) && *attempt < 6 {
        *attempt += 1;
        tokio::time::sleep(Duration::from_millis(100 << *attempt)).await;
        return Ok(());
    }
    Err(WriteError::Failed(records[0].key.clone(), ctx.opts.etcd.error("writing failed", clone_err(e))))
}

fn clone_err(e: &etcd_client::Error) -> etcd_client::Error {
    match e {
        etcd_client::Error::GRpcStatus(s) => etcd_client::Error::GRpcStatus(tonic::Status::new(s.code(), s.message())),
        other => etcd_client::Error::Internal(etcd::describe(other)),
    }
}

/// The lease granted for an original lease id, granting it on first use.
async fn granted_lease(ctx: &Ctx, original: i64, ttl: i64) -> Result<i64> {
    let mut map = ctx.leases.lock().await;
    if let Some(id) = map.get(&original) {
        return Ok(*id);
    }
    let mut lc = ctx.client.lease_client();
    let resp =
        lc.grant(ttl, None).await.map_err(|e| ctx.opts.etcd.error(&format!("cannot grant a lease of {ttl} s"), e))?;
    map.insert(original, resp.id());
    Ok(resp.id())
}

fn report_dry(ctx: &Ctx, lines: &[(&str, &[u8])]) -> Result<()> {
    let Some(out) = &ctx.dry_out else {
        return Ok(());
    };
    let mut buf = Vec::new();
    for (action, key) in lines {
        buf.extend_from_slice(b"{\"action\":\"");
        buf.extend_from_slice(action.as_bytes());
        buf.extend_from_slice(b"\",");
        push_bytes_field(&mut buf, "key", key);
        buf.extend_from_slice(b"}\n");
    }
    out.lock().expect("dry-run output").write_all(&buf)?;
    Ok(())
}

/// Sync: delete keys in `[lo, hi]` (hi `None`: to the end) within the stream's prefixes that are
/// not in `keep` (sorted). Scans keys only, page by page.
async fn delete_interval(
    ctx: &Ctx,
    lo: &[u8],
    hi: Option<&[u8]>,
    keep: &[&[u8]],
) -> std::result::Result<Stats, BatchError> {
    let mut stats = Stats::default();
    let mut kv = ctx.client.kv_client().max_decoding_message_size(MAX_DECODE_BYTES);
    let fail = |key: &[u8], err: Error, done: Stats| BatchError { key: key.to_vec(), err, done };
    let hi_excl = hi.map(successor);
    for (rs, re) in &ctx.sync_ranges {
        let start: Vec<u8> = if lo > rs.as_slice() { lo.to_vec() } else { rs.clone() };
        let end: Vec<u8> = match (&hi_excl, re.as_slice() == [0]) {
            (Some(h), true) => h.clone(),
            (Some(h), false) => std::cmp::min(h.clone(), re.clone()),
            (None, _) => re.clone(),
        };
        if end != [0] && start >= end {
            continue;
        }
        let mut from = start;
        loop {
            let opts = GetOptions::new().with_range(end.clone()).with_keys_only().with_limit(1000);
            let mut resp = match kv.get(from.clone(), Some(opts)).await {
                Ok(r) => r,
                Err(e) => {
                    return Err(fail(&from, ctx.opts.etcd.error("listing keys to delete failed", e), stats));
                }
            };
            let more = resp.more();
            let kvs = resp.take_kvs();
            let doomed: Vec<(Vec<u8>, i64)> = kvs
                .iter()
                .filter(|k| in_range(k.key(), rs, re) && keep.binary_search(&k.key()).is_err())
                .map(|k| (k.key().to_vec(), k.mod_revision()))
                .collect();
            if ctx.opts.dry_run {
                let lines: Vec<(&str, &[u8])> = doomed.iter().map(|(k, _)| ("delete", k.as_slice())).collect();
                report_dry(ctx, &lines).map_err(|e| fail(&from, e, stats))?;
                stats.deleted += doomed.len() as u64;
            } else {
                for chunk in doomed.chunks(ctx.opts.max_txn_ops.max(1)) {
                    let compares: Vec<Compare> =
                        chunk.iter().map(|(k, r)| Compare::mod_revision(k.clone(), CompareOp::Equal, *r)).collect();
                    let ops: Vec<TxnOp> = chunk.iter().map(|(k, _)| TxnOp::delete(k.clone(), None)).collect();
                    match kv.txn(Txn::new().when(compares).and_then(ops)).await {
                        Ok(r) if r.succeeded() => {
                            stats.deleted += chunk.len() as u64;
                            stats.txns += 1;
                        }
                        Ok(_) => {
                            // Changed meanwhile: delete one by one whatever is still there.
                            for (k, _) in chunk {
                                match kv.delete(k.clone(), None).await {
                                    Ok(r) => stats.deleted += r.deleted() as u64,
                                    Err(e) => {
                                        return Err(fail(k, ctx.opts.etcd.error("deleting failed", e), stats));
                                    }
                                }
                                stats.txns += 1;
                            }
                        }
                        Err(e) => {
                            return Err(fail(&chunk[0].0, ctx.opts.etcd.error("deleting failed", e), stats));
                        }
                    }
                }
            }
            match (more, kvs.last()) {
                (true, Some(last)) => from = successor(last.key()),
                _ => break,
            }
        }
    }
    Ok(stats)
}
