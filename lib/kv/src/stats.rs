//! kv-stats: the picture of a keyspace from a stream — keys and bytes per root, resource and
//! namespace, the largest keys, value encodings, leases.
//!
//! Values are not decoded beyond their first bytes (enough to tell protobuf, JSON and
//! encryption at rest apart) unless `--verify` asks for the full digest check, so the report runs
//! at close to the speed of reading the stream.

use reshifter_k8s::value::Encoding;
use std::collections::{BTreeMap, BinaryHeap, HashSet};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use serde::Serialize;

use reshifter_format::RecordMeta;
use reshifter_format::error::{Error, Kind, Result};
use reshifter_format::io::Output;
use reshifter_format::parallel::ParReader;
use reshifter_format::{Header, Record, Verify, show_key};
use reshifter_k8s as k8s;

use crate::atrest::ApiServer;

/// How many of the largest values are listed when not told.
pub const DEFAULT_TOP: usize = 10;

impl StatsOptions {
    /// A report of `input` as a library caller builds it (the server's keyspace picture).
    pub fn new(input: PathBuf) -> Self {
        StatsOptions {
            input: Some(input),
            json: true,
            verify: false,
            top: DEFAULT_TOP,
            encryption_config: None,
            etcd_prefix: Default::default(),
            report: Default::default(),
        }
    }
}

/// kv-stats' command-line options.
#[derive(Debug, Clone, clap::Args)]
pub struct StatsOptions {
    /// Where progress, warnings and the summary go (stderr, under the tool's name, unless the
    /// caller names itself or takes the lines).
    #[arg(skip)]
    pub report: reshifter_format::report::Reporter,

    /// Stream to read (default: stdin)
    #[arg(value_name = "INPUT")]
    pub input: Option<PathBuf>,

    /// JSON instead of a table
    #[arg(long)]
    pub json: bool,

    /// Also decode and hash every value to check the trailer's digests
    #[arg(long)]
    pub verify: bool,

    /// How many of the largest values to list
    #[arg(long, default_value_t = DEFAULT_TOP, value_name = "N")]
    pub top: usize,

    /// The API server's EncryptionConfiguration: decrypt every value encrypted at rest, report
    /// how many each key opens, and fail if any cannot be (a backup whose key is lost is useless)
    #[arg(long, value_name = "FILE")]
    pub encryption_config: Option<PathBuf>,

    #[command(flatten)]
    pub etcd_prefix: k8s::EtcdPrefix,
}

/// Keys and bytes (key + value).
#[derive(Debug, Default, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Count {
    pub keys: u64,
    pub bytes: u64,
}

impl Count {
    fn add(&mut self, bytes: u64) {
        self.keys += 1;
        self.bytes += bytes;
    }
}

/// A value's encoding (reshifter-k8s' one classification) and what kv-stats counts it under
/// besides: the apiVersion/kind of a protobuf object, the provider/key name of an encrypted one.
pub fn encoding(value: &[u8]) -> (Encoding, String) {
    let e = Encoding::of(value);
    let label = match e {
        Encoding::Protobuf => {
            reshifter_k8s::pb::k8s_unwrap_type(value).map(|(a, k)| format!("{a}/{k}")).unwrap_or_else(|| "?".into())
        }
        Encoding::Encrypted => {
            reshifter_k8s::atrest::envelope(value).map(|(p, _, k, _)| format!("{p}/{k}")).unwrap_or_default()
        }
        _ => String::new(),
    };
    (e, label)
}

/// One record, reduced to what the report needs (computed on the worker threads).
struct Seen {
    /// The root's place in `Roots::all`.
    root: Option<usize>,
    resource: Option<String>,
    namespace: Option<String>,
    key: Vec<u8>,
    size: u64,
    value_len: u64,
    /// The encoding, and the kind or provider/key name counted under it.
    encoding: (Encoding, String),
    lease: i64,
    /// With a config, for an encrypted value: whether it decrypted (and why not).
    opened: Option<std::result::Result<(), String>>,
}

#[derive(Debug, Default, Serialize)]
pub struct EncodingStats {
    pub protobuf: Count,
    pub protobuf_kinds: BTreeMap<String, Count>,
    pub json: Count,
    pub cbor: Count,
    pub encrypted: Count,
    /// By `provider/key name`.
    pub encrypted_keys: BTreeMap<String, Count>,
    /// With --encryption-config: the values each `provider/key name` decrypted, and those that
    /// did not decrypt (by the same name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decrypted: Option<BTreeMap<String, Count>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub undecryptable: Option<BTreeMap<String, Count>>,
    pub other: Count,
}

impl EncodingStats {
    /// How many encrypted values did not decrypt with --encryption-config.
    pub fn undecryptable_keys(&self) -> u64 {
        self.undecryptable.iter().flat_map(|m| m.values()).map(|c| c.keys).sum()
    }

    /// Count one record; for a value that did not decrypt, why.
    fn add<'a>(&mut self, x: &'a Seen) -> Option<&'a str> {
        fn bump(m: &mut BTreeMap<String, Count>, k: &str, size: u64) {
            match m.get_mut(k) {
                Some(c) => c.add(size),
                None => m.entry(k.to_string()).or_default().add(size),
            }
        }
        let (encoding, k) = &x.encoding;
        match encoding {
            Encoding::Protobuf => {
                self.protobuf.add(x.size);
                bump(&mut self.protobuf_kinds, k, x.size);
            }
            Encoding::Encrypted => {
                self.encrypted.add(x.size);
                bump(&mut self.encrypted_keys, k, x.size);
                match &x.opened {
                    Some(Ok(())) => bump(self.decrypted.get_or_insert_default(), k, x.size),
                    Some(Err(why)) => {
                        bump(self.undecryptable.get_or_insert_default(), k, x.size);
                        return Some(why);
                    }
                    None => {}
                }
            }
            Encoding::Json => self.json.add(x.size),
            Encoding::Cbor => self.cbor.add(x.size),
            Encoding::Other => self.other.add(x.size),
        }
        None
    }
}

#[derive(Debug, Default, Serialize)]
pub struct LeaseStats {
    /// Keys attached to a lease.
    pub keys: u64,
    /// Distinct leases those keys use.
    pub leases: u64,
    /// Leases listed in the header, with the smallest and largest TTL left at dump time.
    pub header_leases: u64,
    pub ttl_min: Option<i64>,
    pub ttl_max: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct Largest {
    pub key: String,
    pub size: u64,
}

/// The report.
#[derive(Debug, Default, Serialize)]
pub struct KeyspaceReport {
    pub total: Count,
    pub roots: BTreeMap<String, Count>,
    pub resources: BTreeMap<String, Count>,
    pub namespaces: BTreeMap<String, Count>,
    pub largest: Vec<Largest>,
    pub encodings: EncodingStats,
    pub leases: LeaseStats,
    pub revision: i64,
    pub source: String,
    pub time: String,
    pub verified: String,
    /// The first value that did not decrypt (its key and why), with --encryption-config.
    #[serde(skip)]
    pub first_failure: Option<String>,
}

/// A min-heap entry for the largest keys.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Big(std::cmp::Reverse<u64>, Vec<u8>);

fn see(r: Record, v: &RecordMeta, api: &ApiServer) -> Seen {
    let parsed = api.roots.parse(&r.key);
    let (root, resource, namespace) = match &parsed {
        Some(k) => (api.roots.all().position(|x| x == k.root), Some(k.resource.clone()), k.namespace.map(String::from)),
        None => (None, None, None),
    };
    Seen {
        root,
        resource,
        namespace,
        size: (r.key.len() + v.len) as u64,
        value_len: v.len as u64,
        encoding: encoding(&r.value),
        lease: r.lease,
        opened: api.at_rest().and_then(|c| c.open(&r.key, &r.value)).map(|o| o.map(|_| ()).map_err(|e| e.to_string())),
        key: r.key,
    }
}

/// Build the report from a stream.
pub fn collect(o: &StatsOptions) -> Result<KeyspaceReport> {
    collect_with(o, None)
}

/// [`collect`] over an opened input (a stage of a library pipeline: rcli checks, as it backs
/// up, that the encryption config captured with a node opens the keyspace's values).
pub fn collect_from(o: &StatsOptions, input: Box<dyn std::io::BufRead + Send>) -> Result<KeyspaceReport> {
    collect_with(o, Some(input))
}

fn collect_with(o: &StatsOptions, input: Option<Box<dyn std::io::BufRead + Send>>) -> Result<KeyspaceReport> {
    let api = ApiServer::load(o.encryption_config.as_deref(), &o.etcd_prefix)?;
    let root_names: Vec<&str> = api.roots.all().collect();
    let mut hint = k8s::RootHint::default();
    // Decrypting needs whole values: Light decodes only their first bytes.
    let full = o.verify || api.at_rest.is_some();
    let verify = if full { Verify::Full } else { Verify::Light };
    let reader = match input {
        Some(input) => ParReader::new(input, verify)?,
        None => ParReader::open(o.input.as_deref(), verify)?,
    };
    let header: Header = reader.header().clone();
    let mut s = KeyspaceReport {
        revision: header.revision,
        source: header.tool.clone(),
        time: header.time.clone(),
        verified: if full { "count, bytes and digests".into() } else { "count and bytes".into() },
        ..Default::default()
    };
    let mut heap: BinaryHeap<Big> = BinaryHeap::new();
    let mut first_failure: Option<String> = None;
    if api.at_rest.is_some() {
        s.encodings.decrypted = Some(BTreeMap::new());
        s.encodings.undecryptable = Some(BTreeMap::new());
    }
    let mut leases: HashSet<i64> = HashSet::new();
    let top = o.top;
    fn bump(m: &mut BTreeMap<String, Count>, k: &str, size: u64) {
        match m.get_mut(k) {
            Some(c) => c.add(size),
            None => m.entry(k.to_string()).or_default().add(size),
        }
    }
    reader.run(
        reshifter_format::parallel::workers(),
        |r, v, _| Ok(see(r, v, &api)),
        |x: Seen| {
            s.total.add(x.size);
            bump(&mut s.roots, x.root.map_or("(other)", |i| root_names[i]), x.size);
            hint.see(&api.roots, &x.key);
            bump(&mut s.resources, x.resource.as_deref().unwrap_or("(not kubernetes)"), x.size);
            if let Some(ns) = &x.namespace {
                bump(&mut s.namespaces, ns, x.size);
            }
            if let Some(why) = s.encodings.add(&x)
                && first_failure.is_none()
            {
                first_failure = Some(format!("{}: {why}", show_key(&x.key)));
            }
            if x.lease != 0 {
                s.leases.keys += 1;
                leases.insert(x.lease);
            }
            if top > 0 && (heap.len() < top || heap.peek().is_some_and(|b| x.value_len > b.0.0)) {
                heap.push(Big(std::cmp::Reverse(x.value_len), x.key));
                if heap.len() > top {
                    heap.pop();
                }
            }
            Ok(())
        },
    )?;
    s.leases.leases = leases.len() as u64;
    s.leases.header_leases = header.leases.len() as u64;
    s.leases.ttl_min = header.leases.iter().map(|l| l.ttl).min();
    s.leases.ttl_max = header.leases.iter().map(|l| l.ttl).max();
    let mut big: Vec<Big> = heap.into_vec();
    big.sort();
    s.largest =
        big.into_iter().map(|b| Largest { key: String::from_utf8_lossy(&b.1).into_owned(), size: b.0.0 }).collect();
    s.first_failure = first_failure;
    if let Some(m) = hint.message() {
        o.report.or_name("kv-stats").say(m);
    }
    Ok(s)
}

/// Run kv-stats: a table on a terminal (and by default), JSON with `--json`.
pub fn run(o: StatsOptions) -> Result<()> {
    let s = collect(&o)?;
    let mut out = Output::create(None)?;
    if o.json {
        serde_json::to_writer_pretty(&mut out, &s)?;
        out.write_all(b"\n")?;
    } else {
        out.write_all(table(&s, std::io::stdout().is_terminal()).as_bytes())?;
    }
    out.finish()?;
    if let Some(first) = &s.first_failure {
        let n = s.encodings.undecryptable_keys();
        return Err(Error::new(
            Kind::Integrity,
            format!(
                "{n} encrypted values do not decrypt with --encryption-config (restored, the API server could not read them); the first: {first}"
            ),
        ));
    }
    Ok(())
}

fn pct(part: u64, whole: u64) -> String {
    if whole == 0 { "-".into() } else { format!("{:.1}%", 100.0 * part as f64 / whole as f64) }
}

fn rows(title: &str, items: Vec<(String, Count)>, total: &Count, limit: usize) -> String {
    let mut t = format!("\n{title}\n");
    let width = items.iter().take(limit).map(|(k, _)| k.len()).max().unwrap_or(0).clamp(10, 60);
    t.push_str(&format!("  {:<width$}  {:>9}  {:>11}  {:>6}\n", "", "keys", "bytes", "share"));
    let n = items.len();
    for (k, c) in items.into_iter().take(limit) {
        t.push_str(&format!(
            "  {:<width$}  {:>9}  {:>11}  {:>6}\n",
            k,
            c.keys,
            reshifter_format::report::human_bytes(c.bytes),
            pct(c.bytes, total.bytes)
        ));
    }
    if n > limit {
        t.push_str(&format!("  ... and {} more\n", n - limit));
    }
    t
}

fn by_bytes(m: &BTreeMap<String, Count>) -> Vec<(String, Count)> {
    let mut v: Vec<(String, Count)> = m.iter().map(|(k, c)| (k.clone(), *c)).collect();
    v.sort_by(|a, b| b.1.bytes.cmp(&a.1.bytes).then(a.0.cmp(&b.0)));
    v
}

/// The human-readable report.
pub fn table(s: &KeyspaceReport, terminal: bool) -> String {
    let limit = if terminal { 15 } else { 40 };
    let mut t = format!(
        "{} keys, {} (keys and values); stream from {} at revision {}, {}; verified: {}\n",
        s.total.keys,
        reshifter_format::report::human_bytes(s.total.bytes),
        s.source,
        s.revision,
        s.time,
        s.verified
    );
    t.push_str(&rows("Roots", by_bytes(&s.roots), &s.total, limit));
    t.push_str(&rows("Resources", by_bytes(&s.resources), &s.total, limit));
    t.push_str(&rows("Namespaces", by_bytes(&s.namespaces), &s.total, limit));
    let e = &s.encodings;
    let enc = vec![
        ("protobuf (k8s\\0)".to_string(), e.protobuf),
        ("JSON".to_string(), e.json),
        ("CBOR".to_string(), e.cbor),
        ("encrypted at rest (k8s:enc:)".to_string(), e.encrypted),
        ("other".to_string(), e.other),
    ];
    t.push_str(&rows("Value encodings", enc, &s.total, limit));
    if !e.encrypted_keys.is_empty() {
        t.push_str(&rows("Encrypted at rest, by provider/key", by_bytes(&e.encrypted_keys), &s.total, limit));
    }
    if let Some(d) = &e.decrypted {
        t.push_str(&rows("Decrypted with --encryption-config, by provider/key", by_bytes(d), &s.total, limit));
    }
    if let Some(u) = e.undecryptable.as_ref().filter(|u| !u.is_empty()) {
        t.push_str(&rows("NOT decryptable with --encryption-config, by provider/key", by_bytes(u), &s.total, limit));
    }
    t.push_str(&rows("Protobuf kinds", by_bytes(&e.protobuf_kinds), &s.total, limit));
    t.push_str("\nLargest values\n");
    for b in &s.largest {
        t.push_str(&format!("  {:>11}  {}\n", reshifter_format::report::human_bytes(b.size), b.key));
    }
    let l = &s.leases;
    t.push_str(&format!(
        "\nLeases\n  {} keys attached to {} leases; the header lists {} leases{}\n",
        l.keys,
        l.leases,
        l.header_leases,
        match (l.ttl_min, l.ttl_max) {
            (Some(a), Some(b)) => format!(" with {a}..{b} s left at dump time"),
            _ => String::new(),
        }
    ));
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        o: StatsOptions,
    }

    #[test]
    fn options_built_in_code_are_the_tools_defaults() {
        use clap::Parser;
        let parsed = Cli::parse_from(["t", "f", "--json"]).o;
        assert_eq!(format!("{:?}", StatsOptions::new("f".into())), format!("{parsed:?}"));
    }

    #[test]
    fn encodings() {
        let pod = reshifter_k8s::pb::k8s_envelope("v1", "Pod", b"\x0a\x00");
        assert_eq!(encoding(&pod), (Encoding::Protobuf, "v1/Pod".into()));
        assert_eq!(encoding(b"k8s:enc:aescbc:v1:key1:\x00\xff"), (Encoding::Encrypted, "aescbc/key1".into()));
        assert_eq!(encoding(b"k8s:enc:kms:v1:vault-key:xyz"), (Encoding::Encrypted, "kms/vault-key".into()));
        assert_eq!(encoding(b" {\"kind\":\"X\"}"), (Encoding::Json, String::new()));
        assert_eq!(encoding(b"\xd9\xd9\xf7\xa0"), (Encoding::Cbor, String::new()));
        assert_eq!(encoding(b"plain"), (Encoding::Other, String::new()));
    }
}
