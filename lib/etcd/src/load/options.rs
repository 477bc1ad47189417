//! What a load is asked to do: etcd-load's options, their defaults for library callers, where a
//! dry run's lines go.

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::EtcdArgs;
use reshifter_format::units::parse_size;

use super::plan::PlanFormat;

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
    /// Where progress, warnings and the summary go (stderr, under the tool's name, unless the
    /// caller names itself or takes the lines).
    #[arg(skip)]
    pub report: reshifter_format::report::Reporter,

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
/// Transactions in flight when not told: etcd takes a restore fastest with 32 (100k objects into
/// an empty etcd, 2 cores: 3.3 s with 8, 3.0 s with 32 and 64; docs/BENCHMARKS.notes.md,
/// "Restores at etcd's ceiling"). At most 32 × 1.5 MiB of requests are in flight.
pub const DEFAULT_CONCURRENCY: usize = 32;

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
            report: Default::default(),
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
