//! kv-gen: a synthetic but realistic Kubernetes keyspace, written as a stream.
//!
//! Keys follow kube-apiserver's layout (`/registry/<resource>/<namespace>/<name>`, cluster-scoped
//! `/registry/<resource>/<name>`, group-qualified and custom resources). Built-in objects are
//! protobuf in the `k8s\0` + runtime.Unknown envelope, custom resources and CRDs are JSON, a share
//! of Secrets are encrypted at rest (`k8s:enc:aescbc:v1:key1:` + ciphertext), Events are attached
//! to leases. Output is sorted by key and deterministic for a seed; memory holds the plan (one
//! entry per resource and namespace), never the objects.

use std::io::Write;

use reshifter_format::{Header, Lease, StreamWriter, lease_hex};
mod objects;

use objects::{ObjCtx, object};

/// SplitMix64: small, fast, deterministic.
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// Kubernetes-style random name suffix.
    pub fn suffix(&mut self, n: usize) -> String {
        const ALPHA: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        (0..n).map(|_| ALPHA[self.below(ALPHA.len() as u64) as usize] as char).collect()
    }

    /// Uniform length in `lo..lo+span`.
    pub fn len(&mut self, lo: usize, span: usize) -> usize {
        lo + self.below(span as u64) as usize
    }

    pub fn hex(&mut self, n: usize) -> String {
        (0..n).map(|_| char::from_digit(self.below(16) as u32, 16).expect("digit")).collect()
    }

    pub fn uid(&mut self) -> String {
        format!("{}-{}-{}-{}-{}", self.hex(8), self.hex(4), self.hex(4), self.hex(4), self.hex(12))
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(n + 8);
        while v.len() < n {
            v.extend_from_slice(&self.next_u64().to_le_bytes());
        }
        v.truncate(n);
        v
    }

    /// Text that compresses like real config: words from a small vocabulary.
    pub fn text(&mut self, n: usize) -> String {
        const WORDS: &[&str] = &[
            "server",
            "port",
            "timeout",
            "enabled",
            "true",
            "false",
            "log",
            "level",
            "info",
            "debug",
            "cache",
            "size",
            "http",
            "https",
            "url",
            "endpoint",
            "replicas",
            "max",
            "min",
            "retry",
            "backoff",
            "queue",
            "worker",
            "threads",
            "database",
            "host",
            "user",
            "path",
            "/var/lib/app",
            "metrics",
            "9090",
            "8080",
            "json",
            "yaml",
        ];
        let mut s = String::with_capacity(n + 16);
        while s.len() < n {
            s.push_str(WORDS[self.below(WORDS.len() as u64) as usize]);
            s.push(if self.chance(0.15) { '\n' } else { ' ' });
        }
        s.truncate(n);
        s
    }
}

/// What kv-gen generates: its command-line options.
#[derive(Debug, Clone, clap::Args)]
pub struct GenOptions {
    /// Number of objects (keys) to generate
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub objects: u64,

    /// Seed: the same seed gives the same keyspace
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    /// Minimal objects (metadata only, a few hundred bytes) for scale runs
    #[arg(long)]
    pub small: bool,

    /// Share of Secrets encrypted at rest, 0..1
    #[arg(long, default_value_t = 0.5, value_name = "SHARE")]
    pub encrypted_share: f64,

    /// Write to FILE (renamed into place when complete) instead of stdout
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<std::path::PathBuf>,

    /// Also write the EncryptionConfiguration that opens the encrypted Secrets (aescbc key1, a
    /// key derived from the seed: a test key, not a secret)
    #[arg(long, value_name = "FILE")]
    pub encryption_config_out: Option<std::path::PathBuf>,
}

/// The aescbc key of the encrypted Secrets: SHA-256 of the seed's name (public, for tests).
pub fn at_rest_key(seed: u64) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(format!("kv-gen encryption at rest key1 seed {seed}")).into()
}

/// Run kv-gen: generate the keyspace into the output, committed when complete.
pub fn run(o: GenOptions) -> reshifter_format::Result<()> {
    if let Some(path) = &o.encryption_config_out {
        let text = reshifter_k8s::atrest::aescbc_config(&["secrets"], "key1", &at_rest_key(o.seed));
        let mut f = reshifter_format::io::AtomicFile::create(path)?;
        std::io::Write::write_all(&mut f, text.as_bytes())?;
        f.commit()?;
    }
    let out = reshifter_format::io::Output::create(o.output.as_deref())?;
    let (mut out, _) = generate(&o, out)?;
    out.flush()?;
    out.finish()
}

/// The kinds of object kv-gen writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ObjectKind {
    Pod,
    ReplicaSet,
    Deployment,
    Service,
    Endpoints,
    EndpointSlice,
    ConfigMap,
    Secret,
    Event,
    ServiceAccount,
    Role,
    RoleBinding,
    Job,
    ControllerRevision,
    CustomResource(usize),
    Namespace,
    Node,
    NodeLease,
    ClusterRole,
    ClusterRoleBinding,
    Crd(usize),
    PriorityClass,
    RangeAllocation,
    MasterLease,
}

/// Custom resource types: (group, plural, kind, version).
const CUSTOM: &[(&str, &str, &str, &str)] = &[
    ("cert-manager.io", "certificates", "Certificate", "v1"),
    ("monitoring.coreos.com", "servicemonitors", "ServiceMonitor", "v1"),
    ("argoproj.io", "applications", "Application", "v1alpha1"),
];

/// Extra CRDs installed but with no objects.
const EXTRA_CRDS: &[(&str, &str, &str)] = &[
    ("monitoring.coreos.com", "prometheusrules", "PrometheusRule"),
    ("monitoring.coreos.com", "podmonitors", "PodMonitor"),
    ("cert-manager.io", "issuers", "Issuer"),
    ("cert-manager.io", "clusterissuers", "ClusterIssuer"),
    ("argoproj.io", "appprojects", "AppProject"),
    ("snapshot.storage.k8s.io", "volumesnapshots", "VolumeSnapshot"),
];

impl ObjectKind {
    /// Key directory under /registry and whether it is namespaced.
    fn dir(self) -> String {
        match self {
            ObjectKind::Pod => "pods".into(),
            ObjectKind::ReplicaSet => "replicasets".into(),
            ObjectKind::Deployment => "deployments".into(),
            ObjectKind::Service => "services/specs".into(),
            ObjectKind::Endpoints => "services/endpoints".into(),
            ObjectKind::EndpointSlice => "endpointslices".into(),
            ObjectKind::ConfigMap => "configmaps".into(),
            ObjectKind::Secret => "secrets".into(),
            ObjectKind::Event => "events".into(),
            ObjectKind::ServiceAccount => "serviceaccounts".into(),
            ObjectKind::Role => "roles".into(),
            ObjectKind::RoleBinding => "rolebindings".into(),
            ObjectKind::Job => "jobs".into(),
            ObjectKind::ControllerRevision => "controllerrevisions".into(),
            ObjectKind::CustomResource(i) => format!("{}/{}", CUSTOM[i].0, CUSTOM[i].1),
            ObjectKind::Namespace => "namespaces".into(),
            ObjectKind::Node => "minions".into(),
            ObjectKind::NodeLease => "leases".into(),
            ObjectKind::ClusterRole => "clusterroles".into(),
            ObjectKind::ClusterRoleBinding => "clusterrolebindings".into(),
            ObjectKind::Crd(_) => "apiextensions.k8s.io/customresourcedefinitions".into(),
            ObjectKind::PriorityClass => "priorityclasses".into(),
            ObjectKind::RangeAllocation => "ranges".into(),
            ObjectKind::MasterLease => "masterleases".into(),
        }
    }
}

/// One directory of the keyspace: its key prefix and how many objects it holds.
struct Group {
    prefix: String,
    kind: ObjectKind,
    namespace: Option<String>,
    count: u64,
    /// Seed of this group's objects.
    seed: u64,
}

/// Namespaced kinds and their share of namespaced objects.
const NAMESPACED: &[(ObjectKind, f64)] = &[
    (ObjectKind::Pod, 0.34),
    (ObjectKind::Event, 0.16),
    (ObjectKind::ReplicaSet, 0.08),
    (ObjectKind::Secret, 0.08),
    (ObjectKind::ConfigMap, 0.07),
    (ObjectKind::Deployment, 0.03),
    (ObjectKind::Service, 0.03),
    (ObjectKind::Endpoints, 0.03),
    (ObjectKind::EndpointSlice, 0.03),
    (ObjectKind::ServiceAccount, 0.03),
    (ObjectKind::Role, 0.015),
    (ObjectKind::RoleBinding, 0.015),
    (ObjectKind::Job, 0.02),
    (ObjectKind::ControllerRevision, 0.01),
    (ObjectKind::CustomResource(0), 0.015),
    (ObjectKind::CustomResource(1), 0.015),
    (ObjectKind::CustomResource(2), 0.01),
];

/// Events are grouped onto leases of this many events, each with this TTL (kube-apiserver's
/// default event TTL is one hour).
const EVENTS_PER_LEASE: u64 = 500;
const EVENT_TTL: i64 = 3600;
const EVENT_LEASE_BASE: i64 = 0x694d_7a8c_0000_0000;
const MASTER_LEASE_ID: i64 = 0x694d_7a8b_0000_0001;

fn namespaces(n: u64, rng: &mut Rng) -> Vec<String> {
    const TEAMS: &[&str] =
        &["payments", "search", "checkout", "identity", "data", "ml", "web", "mobile", "infra", "ops"];
    let mut v: Vec<String> =
        ["default", "kube-node-lease", "kube-public", "kube-system"].iter().map(|s| s.to_string()).collect();
    let mut i = 0;
    while (v.len() as u64) < n {
        v.push(format!("{}-{}-{i}", rng.pick(TEAMS), rng.pick(&["prod", "staging", "dev"])));
        i += 1;
    }
    v.truncate(n.max(1) as usize);
    v
}

/// Plan the keyspace: every group, sorted by key prefix, with counts summing to `objects`.
fn plan(o: &GenOptions) -> (Vec<Group>, Vec<String>, u64) {
    let mut rng = Rng::new(o.seed);
    let n = o.objects;
    let ns_count = (n / 500).clamp(4, 2000);
    let nodes = (n / 1000).clamp(1, 5000);
    let nss = namespaces(ns_count, &mut rng);
    let mut fixed: Vec<(ObjectKind, Option<String>, u64)> = vec![
        (ObjectKind::Namespace, None, ns_count),
        (ObjectKind::Node, None, nodes),
        (ObjectKind::NodeLease, Some("kube-node-lease".into()), nodes),
        (ObjectKind::ClusterRole, None, 60 + n / 2000),
        (ObjectKind::ClusterRoleBinding, None, 50 + n / 2500),
        (ObjectKind::PriorityClass, None, 2),
        (ObjectKind::RangeAllocation, None, 2),
        (ObjectKind::MasterLease, None, 1),
    ];
    fixed.push((ObjectKind::Crd(0), None, (CUSTOM.len() + EXTRA_CRDS.len()) as u64));
    // Trim the fixed part for tiny keyspaces.
    let mut budget = n;
    for f in fixed.iter_mut() {
        f.2 = f.2.min(budget);
        budget -= f.2;
    }
    // Namespaced objects: a skewed share per namespace, then per kind.
    let workload_ns: Vec<&String> = nss.iter().filter(|ns| *ns != "kube-node-lease").collect();
    let weights: Vec<f64> = (0..workload_ns.len()).map(|i| 1.0 / ((i as f64) + 2.0).powf(0.7)).collect();
    let wsum: f64 = weights.iter().sum();
    let mut cells: Vec<(ObjectKind, Option<String>, f64)> = Vec::new();
    for (ns, w) in workload_ns.iter().zip(&weights) {
        for (kind, share) in NAMESPACED {
            cells.push((*kind, Some((*ns).clone()), budget as f64 * w / wsum * share));
        }
    }
    // Largest remainder rounding so the total is exact.
    let mut counts: Vec<u64> = cells.iter().map(|c| c.2.floor() as u64).collect();
    let mut left = budget.saturating_sub(counts.iter().sum());
    let mut order: Vec<usize> = (0..cells.len()).collect();
    order.sort_by(|&a, &b| {
        (cells[b].2 - cells[b].2.floor()).total_cmp(&(cells[a].2 - cells[a].2.floor())).then(a.cmp(&b))
    });
    for &i in order.iter().cycle().take(cells.len() * 2) {
        if left == 0 {
            break;
        }
        counts[i] += 1;
        left -= 1;
    }
    let mut groups: Vec<Group> = Vec::new();
    let mut push = |kind: ObjectKind, ns: Option<String>, count: u64, rng: &mut Rng| {
        if count == 0 {
            return;
        }
        let prefix = match &ns {
            Some(ns) => format!("/registry/{}/{ns}/", kind.dir()),
            None => format!("/registry/{}/", kind.dir()),
        };
        groups.push(Group { prefix, kind, namespace: ns, count, seed: rng.next_u64() });
    };
    for (kind, ns, count) in fixed {
        push(kind, ns, count, &mut rng);
    }
    for ((kind, ns, _), count) in cells.into_iter().zip(counts) {
        push(kind, ns, count, &mut rng);
    }
    groups.sort_by(|a, b| a.prefix.cmp(&b.prefix));
    let events: u64 = groups.iter().filter(|g| g.kind == ObjectKind::Event).map(|g| g.count).sum();
    (groups, nss, events)
}

/// Names of a group's objects, sorted.
fn names(g: &Group, nodes: u64, namespaces: &[String]) -> Vec<(String, u64)> {
    let mut rng = Rng::new(g.seed);
    let mut v: Vec<String> = match g.kind {
        ObjectKind::Namespace => namespaces.to_vec(),
        ObjectKind::Node | ObjectKind::NodeLease => {
            (0..nodes).map(|i| format!("ip-10-0-{}-{}.ec2.internal", i / 250, i % 250 + 4)).collect()
        }
        ObjectKind::Crd(_) => (0..CUSTOM.len() + EXTRA_CRDS.len()).map(crd_name).collect(),
        ObjectKind::RangeAllocation => vec!["serviceips".into(), "servicenodeports".into()],
        ObjectKind::MasterLease => vec!["10.0.0.1".into()],
        ObjectKind::PriorityClass => vec!["system-cluster-critical".into(), "system-node-critical".into()],
        _ => {
            let apps = (g.count / 6).max(1);
            (0..g.count)
                .map(|i| {
                    let app = format!("{}-{}", rng.pick(&["api", "web", "worker", "cache", "gateway", "db"]), i % apps);
                    match g.kind {
                        ObjectKind::Pod => format!("{app}-{}-{}", rng.hex(10), rng.suffix(5)),
                        ObjectKind::ReplicaSet | ObjectKind::ControllerRevision => format!("{app}-{}", rng.hex(10)),
                        ObjectKind::Event => format!("{app}-{}.{}", rng.suffix(5), rng.hex(16)),
                        ObjectKind::EndpointSlice => format!("{app}-{}", rng.suffix(5)),
                        ObjectKind::Job => format!("{app}-backup-{}", 29_000_000 + i),
                        ObjectKind::Secret if i % 3 == 0 => format!("{app}-token-{}", rng.suffix(5)),
                        _ => format!("{app}-{i}"),
                    }
                })
                .collect()
        }
    };
    v.truncate(g.count as usize);
    v.sort();
    v.dedup();
    let mut out = Vec::with_capacity(v.len());
    for (i, name) in v.into_iter().enumerate() {
        out.push((name, i as u64));
    }
    out
}

fn crd_name(i: usize) -> String {
    if i < CUSTOM.len() {
        format!("{}.{}", CUSTOM[i].1, CUSTOM[i].0)
    } else {
        let (g, p, _) = EXTRA_CRDS[i - CUSTOM.len()];
        format!("{p}.{g}")
    }
}

/// Generate the keyspace and write it as a stream.
pub fn generate<W: Write>(o: &GenOptions, out: W) -> std::io::Result<(W, u64)> {
    let (groups, nss, events) = plan(o);
    let nodes = groups.iter().find(|g| g.kind == ObjectKind::Node).map(|g| g.count).unwrap_or(0);
    let mut h = Header::new(&format!("kv-gen {}", env!("CARGO_PKG_VERSION")));
    h.time = "2026-01-01T00:00:00Z".into();
    h.prefixes = vec!["/registry/".into()];
    h.complete = true;
    h.revision = 0;
    h.extra.insert("generator".into(), serde_json::json!({"objects": o.objects, "seed": o.seed, "small": o.small}));
    let leases = events.div_ceil(EVENTS_PER_LEASE);
    h.leases = (0..leases as i64)
        .map(|i| Lease { id: lease_hex(EVENT_LEASE_BASE + i), ttl: EVENT_TTL, granted_ttl: EVENT_TTL })
        .collect();
    if groups.iter().any(|g| g.kind == ObjectKind::MasterLease) {
        // kube-apiserver grants these 15 s; 600 s keeps a demo or benchmark run from racing the expiry.
        h.leases.push(Lease { id: lease_hex(MASTER_LEASE_ID), ttl: 600, granted_ttl: 600 });
    }
    h.leases.sort_by(|a, b| a.id.cmp(&b.id));
    let mut w = StreamWriter::new(out, &h)?;
    let mut revision: i64 = 1000;
    let mut event_no: u64 = 0;
    for g in &groups {
        for (name, i) in names(g, nodes, &nss) {
            let key = format!("{}{name}", g.prefix);
            let mut rng = Rng::new(g.seed ^ (i.wrapping_mul(0x2545_f491_4f6c_dd1d)));
            let ctx = ObjCtx { name: &name, namespace: g.namespace.as_deref(), small: o.small };
            let kind = match g.kind {
                ObjectKind::Crd(_) => {
                    ObjectKind::Crd((0..CUSTOM.len() + EXTRA_CRDS.len()).find(|&j| crd_name(j) == name).unwrap_or(0))
                }
                k => k,
            };
            let value = object(kind, &ctx, &mut rng, o);
            let lease = match g.kind {
                ObjectKind::Event => {
                    event_no += 1;
                    EVENT_LEASE_BASE + ((event_no - 1) / EVENTS_PER_LEASE) as i64
                }
                ObjectKind::MasterLease => MASTER_LEASE_ID,
                _ => 0,
            };
            revision += 1 + rng.below(3) as i64;
            let version = 1 + rng.below(4) as i64;
            w.write_parts(key.as_bytes(), &value, revision - rng.below(500) as i64, revision, version, lease)?;
        }
    }
    let count = w.count();
    let (out, _) = w.finish()?;
    Ok((out, count))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reshifter_format::StreamReader;

    fn gen_bytes(objects: u64, seed: u64) -> Vec<u8> {
        generate(
            &GenOptions {
                objects,
                seed,
                small: false,
                encrypted_share: 0.5,
                output: None,
                encryption_config_out: None,
            },
            Vec::new(),
        )
        .unwrap()
        .0
    }

    #[test]
    fn exact_count_sorted_and_deterministic() {
        for n in [1, 10, 1000, 5000] {
            let a = gen_bytes(n, 7);
            let recs: Vec<_> = StreamReader::new(&a[..]).unwrap().collect::<Result<_, _>>().unwrap();
            assert_eq!(recs.len() as u64, n);
            assert_eq!(gen_bytes(n, 7), a);
        }
        assert_ne!(gen_bytes(100, 1), gen_bytes(100, 2));
    }

    #[test]
    fn values_are_kubernetes_encodings() {
        let a = gen_bytes(3000, 1);
        let recs: Vec<_> = StreamReader::new(&a[..]).unwrap().collect::<Result<Vec<_>, _>>().unwrap();
        let mut pb = 0;
        let mut enc = 0;
        let mut json = 0;
        for r in &recs {
            if let Some((_, kind, _)) = reshifter_k8s::pb::k8s_unwrap(&r.value) {
                assert!(!kind.is_empty());
                pb += 1;
            } else if r.value.starts_with(b"k8s:enc:aescbc:v1:key1:") {
                enc += 1;
            } else {
                serde_json::from_slice::<serde_json::Value>(&r.value).unwrap();
                json += 1;
            }
        }
        assert!(pb > 2000 && enc > 50 && json > 50, "{pb} {enc} {json}");
    }
}
