//! What to dump and how: etcd-dump's options, and their defaults for library callers.

use std::path::PathBuf;

use crate::EtcdArgs;
use reshifter_format::units::parse_size;

/// What to dump and how: its command-line options.
#[derive(Debug, Clone, clap::Args)]
pub struct DumpOptions {
    /// Where progress, warnings and the summary go (stderr, under the tool's name, unless the
    /// caller names itself or takes the lines).
    #[arg(skip)]
    pub report: reshifter_format::report::Reporter,

    #[command(flatten)]
    pub etcd: EtcdArgs,

    /// Dump only keys starting with PREFIX (repeatable; default: the whole keyspace)
    #[arg(long = "prefix", value_name = "PREFIX")]
    pub prefixes: Vec<String>,

    /// Read at this revision instead of the current one (must not be compacted)
    #[arg(long = "rev", value_name = "REVISION")]
    pub revision: Option<i64>,

    /// Most keys per range request (etcd 3.4 walks its index from a page's first key to the end
    /// of the range on every request, so fewer, larger pages are much faster on big keyspaces)
    #[arg(long, default_value_t = DEFAULT_PAGE_KEYS, value_name = "N")]
    pub page_keys: usize,

    /// Target size of a range response; pages shrink or grow to it (KiB/MiB = 1024-based,
    /// kB/MB = 1000-based)
    #[arg(long, default_value = "4MiB", value_parser = parse_size, value_name = "SIZE")]
    pub page_bytes: usize,

    /// Write to FILE (mode 0600, renamed into place when complete) instead of stdout
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// The etcd API to read: v3, v2 (HTTP /v2/keys: directories, TTLs; etcd with --enable-v2),
    /// or auto: v2 when the endpoint holds v2 keys under the prefixes and no v3 keys, as
    /// ReShifter chose
    #[arg(long, value_enum, default_value = "v3")]
    pub api: DumpApi,

    /// With --api v2: a hidden node (a name starting with _) to dump too (repeatable). etcd's v2
    /// API never lists hidden nodes, so a v2 dump cannot claim to be complete; name the ones
    /// you know
    #[arg(long = "v2-hidden", value_name = "PATH")]
    pub v2_hidden: Vec<String>,

    /// No summary on stderr
    #[arg(short, long)]
    pub quiet: bool,
}

/// Keys per range request when not told.
pub const DEFAULT_PAGE_KEYS: usize = 65536;
/// Target size of a range response when not told (`--page-bytes 4MiB`).
pub const DEFAULT_PAGE_BYTES: usize = 4 << 20;

impl DumpOptions {
    /// A dump of `etcd` as a library caller builds it: the whole keyspace at the current
    /// revision with the v3 API, to stdout, quiet; set the fields that differ.
    pub fn new(etcd: EtcdArgs) -> Self {
        DumpOptions {
            etcd,
            prefixes: Vec::new(),
            revision: None,
            page_keys: DEFAULT_PAGE_KEYS,
            page_bytes: DEFAULT_PAGE_BYTES,
            output: None,
            api: DumpApi::V3,
            v2_hidden: Vec::new(),
            quiet: true,
            report: Default::default(),
        }
    }
}

/// Which etcd API etcd-dump reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DumpApi {
    V3,
    V2,
    Auto,
}
