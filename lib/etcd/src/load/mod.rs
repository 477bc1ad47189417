//! etcd-load: write a stream into etcd with batched, guarded transactions.
//!
//! A reader thread parses and validates the stream and cuts it into batches that respect
//! `--max-txn-ops` and `--max-request-bytes`. Several batches are in flight at once. Each batch
//! reads the current state of its keys (one read-only txn), decides per key what to do (create,
//! update, leave unchanged, keep existing), and writes only what changes in one txn guarded by
//! `mod_revision` compares, so that counts are exact even while others write; a batch whose keys
//! changed under it is re-read and retried. A batch etcd finds too big is split in halves, and
//! what the halves wrote is counted.
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

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use etcd_client::{Client, Compare, CompareOp, KeyValue, PutOptions, Txn, TxnOp, TxnOpResponse};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::{self as etcd, EtcdArgs, MAX_DECODE_BYTES};
use reshifter_format::error::{Error, Kind, Result};
use reshifter_format::report::{Progress, secs};
use reshifter_format::units::parse_size;
use reshifter_format::{Header, Record, StreamReader, push_bytes_field, show_key};

/// What to do with keys that already exist in the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Write every key of the stream; keys already equal are left as they are.
    Overwrite,
    /// Write only keys that do not exist; existing keys are left alone and counted.
    CreateOnly,
    /// Like overwrite, then delete keys under the stream's prefixes that the stream does not hold.
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

/// etcd-load's command-line options.
#[derive(Debug, Clone, clap::Args)]
pub struct LoadOptions {
    /// Stream to read (default: stdin)
    #[arg(value_name = "INPUT")]
    pub input: Option<PathBuf>,

    #[command(flatten)]
    pub etcd: EtcdArgs,

    /// What to do with keys that already exist
    #[arg(long, value_enum, default_value = "overwrite")]
    pub mode: Mode,

    /// Keys that had a lease: regrant a lease with the TTL left at dump time, or drop the lease
    #[arg(long, value_enum, default_value = "regrant")]
    pub leases: LeaseMode,

    /// Report what would change (NDJSON on stdout) and write nothing
    #[arg(long)]
    pub dry_run: bool,

    /// Most operations per transaction (etcd's --max-txn-ops)
    #[arg(long, default_value_t = DEFAULT_MAX_TXN_OPS, value_name = "N")]
    pub max_txn_ops: usize,

    /// Largest transaction request (etcd's --max-request-bytes; KiB/MiB = 1024-based, kB/MB =
    /// 1000-based)
    #[arg(long, default_value = "1.5MiB", value_parser = parse_size, value_name = "SIZE")]
    pub max_request_bytes: usize,

    /// With --mode sync on a format-1 stream (no digest covers its header) or a v2 dump (etcd's
    /// v2 API hides nodes whose names start with _): take its prefixes as complete
    #[arg(long)]
    pub assume_complete: bool,

    /// Transactions in flight at once
    #[arg(long, default_value_t = DEFAULT_CONCURRENCY, value_name = "N")]
    pub concurrency: usize,

    /// The etcd API to write with: auto (the stream's: v2 for a stream of etcd-dump --api v2),
    /// v3, or v2. `--api v3` on a v2 stream migrates it: directories are dropped (v3 has
    /// none), TTLs become leases
    #[arg(long, value_enum, default_value = "auto")]
    pub api: LoadApi,

    /// Before writing any key, raise the target's revision to the stream's revision + MARGIN
    /// (default 1000000, ~40 s) with filler writes, so that no resourceVersion goes backwards. Use
    /// it to restore a cluster's own state (its clients have seen its revisions); not to copy
    /// keys into a new cluster
    #[arg(long, value_name = "MARGIN", num_args = 0..=1, require_equals = true,
          default_missing_value = "1000000", help_heading = "Kubernetes")]
    pub bump_revision: Option<i64>,

    /// After the load, compact at the raised revision: a watch from an older revision is told
    /// "compacted" and relists (needs --bump-revision)
    #[arg(long, requires = "bump_revision", help_heading = "Kubernetes")]
    pub mark_compacted: bool,

    /// A dry run summed up per resource and namespace on stdout (NDJSON, or a table): the restore
    /// plan to read before writing
    #[arg(long, value_enum, value_name = "FORMAT", num_args = 0..=1, require_equals = true,
          default_missing_value = "table", help_heading = "Kubernetes")]
    pub plan: Option<PlanFormat>,

    /// No summary on stderr
    #[arg(short, long)]
    pub quiet: bool,

    /// Where a dry run's lines go (default: stdout); a library caller (the server) may collect
    /// them.
    #[arg(skip)]
    pub dry_out: DryOut,
}

/// Operations per transaction when not told (etcd's default --max-txn-ops).
pub const DEFAULT_MAX_TXN_OPS: usize = 128;
/// Largest transaction request when not told (etcd's default --max-request-bytes, 1.5 MiB).
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 1536 << 10;
/// Transactions in flight when not told.
pub const DEFAULT_CONCURRENCY: usize = 8;

impl LoadOptions {
    /// A load into `etcd` as a library caller builds it: overwrite, leases regranted, the
    /// stream's API, from stdin, quiet; set the fields that differ.
    pub fn new(etcd: EtcdArgs) -> Self {
        LoadOptions {
            input: None,
            etcd,
            mode: Mode::Overwrite,
            leases: LeaseMode::Regrant,
            dry_run: false,
            max_txn_ops: DEFAULT_MAX_TXN_OPS,
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            assume_complete: false,
            concurrency: DEFAULT_CONCURRENCY,
            api: LoadApi::Auto,
            bump_revision: None,
            mark_compacted: false,
            plan: None,
            quiet: true,
            dry_out: DryOut::default(),
        }
    }
}

/// Where `--dry-run` writes its `{"action","key"}` lines.
#[derive(Clone, Default)]
pub struct DryOut(Option<Arc<Mutex<Box<dyn Write + Send>>>>, bool);

impl DryOut {
    /// Send the lines to `w`; with `all`, also a line for each key left unchanged or kept
    /// (`"unchanged"`, `"keep"`).
    pub fn to(w: Box<dyn Write + Send>, all: bool) -> Self {
        DryOut(Some(Arc::new(Mutex::new(w))), all)
    }

    pub(crate) fn all(&self) -> bool {
        self.1
    }

    /// The writer: the one given, or stdout.
    pub(crate) fn writer(&self) -> Arc<Mutex<Box<dyn Write + Send>>> {
        match &self.0 {
            Some(w) => w.clone(),
            None => Arc::new(Mutex::new(Box::new(reshifter_format::io::stdout()))),
        }
    }
}

impl std::fmt::Debug for DryOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "DryOut(collected)" } else { "DryOut(stdout)" })
    }
}

/// Which etcd API etcd-load writes with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LoadApi {
    /// The stream's own (its header's `api`)
    Auto,
    /// etcd's v3 API (gRPC)
    V3,
    /// etcd's v2 API (HTTP /v2/keys; etcd started with --enable-v2)
    V2,
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
    /// Keys not written because their lease had expired: before the dump finished (not in the
    /// header), or during the restore.
    pub expired: u64,
    /// v2 directories: left out by a load into v3 (which has none); created, updated or
    /// unchanged (and counted there too) by a load into v2.
    pub dirs: u64,
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
        self.dirs += o.dirs;
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

enum Msg {
    Batch(Vec<Record>),
    /// The stream ended (trailer verified): the number of records, the v2 directories left
    /// out, and for sync the spool of their keys.
    End(Result<(u64, u64, Option<File>)>),
}

/// The fate of an original lease in this load.
#[derive(Clone, Copy)]
enum Granted {
    Lease(i64),
    /// The granted lease expired during the restore: its remaining keys are counted as expired.
    Expired,
}

/// Shared state of the batch tasks.
pub(super) struct Ctx {
    pub(super) client: Client,
    pub(super) header: Header,
    pub(super) opts: LoadOptions,
    /// original lease id -> what it became
    leases: tokio::sync::Mutex<HashMap<i64, Granted>>,
    pub(super) dry_out: Option<Arc<Mutex<Box<dyn Write + Send>>>>,
}

/// What writing some records did: the counts of what was done, and the failure if any.
#[derive(Default)]
struct Written {
    stats: Stats,
    failure: Option<(Vec<u8>, Error)>,
}

impl Written {
    fn failed(key: &[u8], err: Error) -> Self {
        Written { stats: Stats::default(), failure: Some((key.to_vec(), err)) }
    }
}

/// Spool a key (length-prefixed) for the sync merge.
fn spool_key(w: &mut BufWriter<File>, key: &[u8]) -> std::io::Result<()> {
    w.write_all(&(key.len() as u64).to_le_bytes())?;
    w.write_all(key)
}

type Input = Box<dyn std::io::BufRead + Send>;

/// Read the stream in a thread of its own and cut it into batches. A v2 stream's directories
/// are left out (counted): v3 has none.
fn spawn_reader(
    opts: &LoadOptions,
    mut reader: StreamReader<Input>,
    tx: mpsc::Sender<Msg>,
) -> std::thread::JoinHandle<()> {
    let (max_ops, max_bytes, sync) = (opts.max_txn_ops.max(1), opts.max_request_bytes, opts.mode == Mode::Sync);
    let v2 = reader.header().api == reshifter_format::Api::V2;
    std::thread::spawn(move || {
        let mut dirs = 0u64;
        let mut spool = match sync.then(tempfile::tempfile).transpose() {
            Ok(s) => s.map(|f| BufWriter::with_capacity(1 << 20, f)),
            Err(e) => {
                let _ = tx.blocking_send(Msg::End(Err(e.into())));
                return;
            }
        };
        let mut batch: Vec<Record> = Vec::new();
        let mut bytes = 256;
        let end: Result<()> = loop {
            match reader.next_record() {
                Ok(Some(rec)) if v2 && reshifter_format::is_v2_dir(&rec) => dirs += 1,
                Ok(Some(rec)) => {
                    if let Some(s) = &mut spool
                        && let Err(e) = spool_key(s, &rec.key)
                    {
                        break Err(e.into());
                    }
                    let cost = record_cost(&rec);
                    if !batch.is_empty() && (batch.len() >= max_ops || bytes + cost > max_bytes) {
                        if tx.blocking_send(Msg::Batch(std::mem::take(&mut batch))).is_err() {
                            return;
                        }
                        bytes = 256;
                    }
                    bytes += cost;
                    batch.push(rec);
                }
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        // After bad input, stop: the pending batch is not written.
        if end.is_ok() && !batch.is_empty() && tx.blocking_send(Msg::Batch(batch)).is_err() {
            return;
        }
        let end = end.and_then(|()| {
            let spool = spool.map(|s| s.into_inner().map_err(|e| Error::from(e.into_error()))).transpose()?;
            Ok((reader.records_read(), dirs, spool))
        });
        let _ = tx.blocking_send(Msg::End(end));
    })
}

/// Refuse streams this load cannot apply faithfully, before anything is written.
pub(crate) fn check_header(opts: &LoadOptions, header: &Header) -> Result<()> {
    if !header.sorted {
        return Err(Error::new(
            Kind::BadInput,
            "the stream is not sorted by key (a format-1 stream, e.g. from kv-filter --rewrite-prefix), so two \
             records could name one key: sort it with kv-seal first (kv-seal < in > out), which refuses duplicates",
        ));
    }
    if opts.mode != Mode::Sync {
        return Ok(());
    }
    if header.claims_complete() {
        return Ok(());
    }
    if (header.format == 1 || header.api == reshifter_format::Api::V2) && opts.assume_complete {
        return Ok(());
    }
    let why = if header.format == 1 {
        "this is a format-1 stream: no digest covers its header, so its prefixes cannot be trusted to say what \
         the source held (--assume-complete takes them at their word)"
    } else if header.api == reshifter_format::Api::V2 {
        "it is a v2 dump, and etcd's v2 API hides nodes whose names start with _ from every listing, so it cannot \
         claim to hold every key (--assume-complete takes its prefixes at their word)"
    } else {
        "its header does not claim to hold every key under its prefixes (it was filtered, re-sealed after \
         records were removed, or comes from a foreign archive)"
    };
    Err(Error::new(
        Kind::Usage,
        format!("--mode sync deletes what the stream lacks, but {why}; use --mode overwrite, which deletes nothing"),
    ))
}

/// What a load did.
#[derive(Debug, Clone, Copy)]
pub struct Loaded {
    pub stats: Stats,
    /// Records read from the stream.
    pub records: u64,
    pub elapsed: Duration,
    /// True when it wrote with the v2 API.
    pub v2: bool,
    /// What --bump-revision did.
    pub bumped: Option<bump::Bumped>,
}

impl Loaded {
    /// The summary line etcd-load prints.
    pub fn summary(&self, dry: bool) -> String {
        let tool = if self.v2 { "etcd-load (v2)" } else { "etcd-load" };
        format!("{tool}: {}", self.describe(dry))
    }

    /// What the load did, in words, without a tool's name (a caller's report says whose).
    pub fn describe(&self, dry: bool) -> String {
        describe(&self.stats, self.records, dry, self.elapsed, self.v2)
    }

    /// Keys (not directories) the target now holds as the stream does.
    pub fn keys_restored(&self) -> u64 {
        let s = &self.stats;
        (s.created + s.updated + s.unchanged).saturating_sub(if self.v2 { s.dirs } else { 0 })
    }
}

pub mod bump;
pub mod plan;
mod sync;

pub use plan::{Plan, PlanFormat};

use sync::delete_missing;

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
        if let Some(b) = &loaded.bumped {
            eprintln!("{}", b.summary(opts.dry_run));
        }
        eprintln!("{}", loaded.summary(opts.dry_run));
    }
    Ok(())
}

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
    let rt = reshifter_format::par::runtime(2)?;
    let started = Instant::now();
    let concurrency = if opts.dry_run { 1 } else { opts.concurrency.max(1) };
    let (tx, mut rx) = mpsc::channel::<Msg>(concurrency);
    let reader = spawn_reader(&opts, reader, tx);
    let client = rt.block_on(opts.etcd.connect())?;
    let mut bumped = match bump_to {
        Some(to) => Some(rt.block_on(bump::raise(&client, to, opts.dry_run)).map_err(|e| {
            Error::with_source(e.kind(), "nothing of the stream was written: raising the revision failed", e)
        })?),
        None => None,
    };
    let dry_out = opts.dry_run.then(|| opts.dry_out.writer());
    let ctx = Arc::new(Ctx { client, header, opts: opts.clone(), leases: Default::default(), dry_out });

    let outcome = rt.block_on(async {
        let (mut stats, records, spool) = drive(ctx.clone(), &mut rx, concurrency).await?;
        if let Some(spool) = spool {
            delete_missing(&ctx, spool, &mut stats).await.map_err(|e| (stats, e))?;
        }
        Ok::<_, (Stats, Error)>((stats, records))
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

/// The error of a failed load: exactly what was written, and how to resume.
pub(crate) fn failure(opts: &LoadOptions, stats: &Stats, err: Error) -> Error {
    let sync_note = if opts.mode == Mode::Sync && stats.deleted == 0 { "; no key was deleted" } else { "" };
    let msg = if opts.dry_run {
        format!("{err} (dry run: nothing was written)")
    } else if stats.written() > 0 {
        format!(
            "the restore is INCOMPLETE: {} keys were written ({} created, {} updated, {} deleted){sync_note} before it \
             failed; run the same command again to resume (keys already written are left unchanged): {err}",
            stats.written(),
            stats.created,
            stats.updated,
            stats.deleted
        )
    } else {
        format!("nothing was written: {err}")
    };
    let kind = if !opts.dry_run && stats.written() > 0 { Kind::Partial } else { err.kind() };
    Error::with_source(kind, msg, err)
}

fn describe(s: &Stats, records: u64, dry: bool, elapsed: Duration, v2: bool) -> String {
    let rate = records as f64 / elapsed.as_secs_f64().max(1e-9);
    let mut text = if dry {
        format!(
            "dry run, nothing written: {records} keys read: would create {}, update {}, delete {}; {} unchanged",
            s.created, s.updated, s.deleted, s.unchanged
        )
    } else {
        format!(
            "{records} keys read: {} created, {} updated, {} deleted, {} unchanged",
            s.created, s.updated, s.deleted, s.unchanged
        )
    };
    if s.kept > 0 {
        text.push_str(&format!(", {} existing kept", s.kept));
    }
    if s.expired > 0 {
        text.push_str(&format!(", {} skipped (lease expired)", s.expired));
    }
    if s.dirs > 0 && !v2 {
        text.push_str(&format!(", {} v2 directories left out (v3 has none)", s.dirs));
    }
    if !dry {
        let unit = if v2 { "requests" } else { "txns" };
        text.push_str(&format!("; {} {unit} in {} ({:.0} keys/s)", s.txns, secs(elapsed), rate));
    }
    text
}

type Outcome = std::result::Result<(Stats, u64, Option<File>), (Stats, Error)>;
type End = Result<(u64, u64, Option<File>)>;

/// Feed batches to at most `concurrency` tasks; collect stats; stop at the first error.
async fn drive(ctx: Arc<Ctx>, rx: &mut mpsc::Receiver<Msg>, concurrency: usize) -> Outcome {
    let mut total = Stats::default();
    let mut tasks: JoinSet<Written> = JoinSet::new();
    let mut first_err: Option<Error> = None;
    let mut progress = Progress::new("etcd-load");
    let mut end: Option<End> = None;
    let mut seen: u64 = 0;

    let absorb = |r: std::result::Result<Written, tokio::task::JoinError>,
                  total: &mut Stats,
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

/// What a batch will do to one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Create,
    Update,
    Unchanged,
    Keep,
}

/// The lease a record's key gets: `Ok(None)` for none, `Err(())` when the key is to be skipped
/// because its lease expired (before the dump finished, or during this restore).
async fn lease_for(ctx: &Ctx, r: &Record) -> Result<std::result::Result<Option<i64>, ()>> {
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
struct BatchPlan {
    stats: Stats,
    compares: Vec<Compare>,
    puts: Vec<TxnOp>,
    dry: Vec<(&'static str, Vec<u8>)>,
}

async fn plan_batch(ctx: &Ctx, records: &[Record], current: &[Option<KeyValue>]) -> Result<BatchPlan> {
    let mut p = BatchPlan { stats: Stats::default(), compares: Vec::new(), puts: Vec::new(), dry: Vec::new() };
    for (r, cur) in records.iter().zip(current) {
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
            Some(kv) if kv.value() == r.value.as_slice() && kv.lease() == 0 && lease.is_none() => Action::Unchanged,
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
        let observed = cur.as_ref().map(|kv| kv.mod_revision()).unwrap_or(0);
        p.compares.push(Compare::mod_revision(r.key.clone(), CompareOp::Equal, observed));
        let po = lease.map(|id| PutOptions::new().with_lease(id));
        p.puts.push(TxnOp::put(r.key.clone(), r.value.clone(), po));
    }
    Ok(p)
}

/// Read the current state of the records' keys in one read-only txn.
async fn read_current(
    kv: &mut etcd_client::KvClient,
    records: &[Record],
) -> std::result::Result<Vec<Option<KeyValue>>, etcd_client::Error> {
    let reads: Vec<TxnOp> = records.iter().map(|r| TxnOp::get(r.key.clone(), None)).collect();
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
const MAX_CONFLICTS: u32 = 20;

/// Write a slice of records: read, plan, guarded write; split in halves when etcd finds the txn
/// too big (what the first half wrote stays counted when the second fails).
fn write_records<'a>(ctx: &'a Ctx, records: &'a [Record]) -> futures::future::BoxFuture<'a, Written> {
    Box::pin(async move {
        let mut kv = ctx.client.kv_client().max_decoding_message_size(MAX_DECODE_BYTES);
        let (mut conflicts, mut lease_checks) = (0u32, 0u32);
        let mut transient = etcd::delays();
        let first = &records[0].key;
        loop {
            let current = match read_current(&mut kv, records).await {
                Ok(c) => c,
                Err(e) if etcd::is_request_too_big(&e) && records.len() > 1 => return split_write(ctx, records).await,
                Err(e) if etcd::is_transient(&e) && etcd::pause(&mut transient).await => continue,
                Err(e) => return Written::failed(first, ctx.opts.etcd.error("reading the keys failed", e)),
            };
            let p = match plan_batch(ctx, records, &current).await {
                Ok(p) => p,
                Err(e) => return Written::failed(first, e),
            };
            if ctx.opts.dry_run {
                let failure = report_dry(ctx, &p.dry).err().map(|e| (first.clone(), e));
                return Written { stats: p.stats, failure };
            }
            if p.puts.is_empty() {
                return Written { stats: p.stats, failure: None };
            }
            match kv.txn(Txn::new().when(p.compares).and_then(p.puts)).await {
                Ok(resp) if resp.succeeded() => {
                    let mut stats = p.stats;
                    stats.txns += 1;
                    return Written { stats, failure: None };
                }
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

async fn split_write(ctx: &Ctx, records: &[Record]) -> Written {
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
async fn forget_expired_leases(ctx: &Ctx, records: &[Record]) -> Result<()> {
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

pub(super) fn report_dry(ctx: &Ctx, lines: &[(&str, Vec<u8>)]) -> Result<()> {
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
