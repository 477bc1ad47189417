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
use reshifter_k8s::pb::{Msg, k8s_envelope};

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
}

/// Run kv-gen: generate the keyspace into the output, committed when complete.
pub fn run(o: GenOptions) -> reshifter_format::Result<()> {
    let out = reshifter_format::io::Output::create(o.output.as_deref())?;
    let (mut out, _) = generate(&o, out)?;
    out.flush()?;
    out.finish()
}

/// The kinds of object kv-gen writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
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

impl Kind {
    /// Key directory under /registry and whether it is namespaced.
    fn dir(self) -> String {
        match self {
            Kind::Pod => "pods".into(),
            Kind::ReplicaSet => "replicasets".into(),
            Kind::Deployment => "deployments".into(),
            Kind::Service => "services/specs".into(),
            Kind::Endpoints => "services/endpoints".into(),
            Kind::EndpointSlice => "endpointslices".into(),
            Kind::ConfigMap => "configmaps".into(),
            Kind::Secret => "secrets".into(),
            Kind::Event => "events".into(),
            Kind::ServiceAccount => "serviceaccounts".into(),
            Kind::Role => "roles".into(),
            Kind::RoleBinding => "rolebindings".into(),
            Kind::Job => "jobs".into(),
            Kind::ControllerRevision => "controllerrevisions".into(),
            Kind::CustomResource(i) => format!("{}/{}", CUSTOM[i].0, CUSTOM[i].1),
            Kind::Namespace => "namespaces".into(),
            Kind::Node => "minions".into(),
            Kind::NodeLease => "leases".into(),
            Kind::ClusterRole => "clusterroles".into(),
            Kind::ClusterRoleBinding => "clusterrolebindings".into(),
            Kind::Crd(_) => "apiextensions.k8s.io/customresourcedefinitions".into(),
            Kind::PriorityClass => "priorityclasses".into(),
            Kind::RangeAllocation => "ranges".into(),
            Kind::MasterLease => "masterleases".into(),
        }
    }
}

/// One directory of the keyspace: its key prefix and how many objects it holds.
struct Group {
    prefix: String,
    kind: Kind,
    namespace: Option<String>,
    count: u64,
    /// Seed of this group's objects.
    seed: u64,
}

/// Namespaced kinds and their share of namespaced objects.
const NAMESPACED: &[(Kind, f64)] = &[
    (Kind::Pod, 0.34),
    (Kind::Event, 0.16),
    (Kind::ReplicaSet, 0.08),
    (Kind::Secret, 0.08),
    (Kind::ConfigMap, 0.07),
    (Kind::Deployment, 0.03),
    (Kind::Service, 0.03),
    (Kind::Endpoints, 0.03),
    (Kind::EndpointSlice, 0.03),
    (Kind::ServiceAccount, 0.03),
    (Kind::Role, 0.015),
    (Kind::RoleBinding, 0.015),
    (Kind::Job, 0.02),
    (Kind::ControllerRevision, 0.01),
    (Kind::CustomResource(0), 0.015),
    (Kind::CustomResource(1), 0.015),
    (Kind::CustomResource(2), 0.01),
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
    let mut fixed: Vec<(Kind, Option<String>, u64)> = vec![
        (Kind::Namespace, None, ns_count),
        (Kind::Node, None, nodes),
        (Kind::NodeLease, Some("kube-node-lease".into()), nodes),
        (Kind::ClusterRole, None, 60 + n / 2000),
        (Kind::ClusterRoleBinding, None, 50 + n / 2500),
        (Kind::PriorityClass, None, 2),
        (Kind::RangeAllocation, None, 2),
        (Kind::MasterLease, None, 1),
    ];
    fixed.push((Kind::Crd(0), None, (CUSTOM.len() + EXTRA_CRDS.len()) as u64));
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
    let mut cells: Vec<(Kind, Option<String>, f64)> = Vec::new();
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
    let mut push = |kind: Kind, ns: Option<String>, count: u64, rng: &mut Rng| {
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
    let events: u64 = groups.iter().filter(|g| g.kind == Kind::Event).map(|g| g.count).sum();
    (groups, nss, events)
}

/// Names of a group's objects, sorted.
fn names(g: &Group, nodes: u64, namespaces: &[String]) -> Vec<(String, u64)> {
    let mut rng = Rng::new(g.seed);
    let mut v: Vec<String> = match g.kind {
        Kind::Namespace => namespaces.to_vec(),
        Kind::Node | Kind::NodeLease => {
            (0..nodes).map(|i| format!("ip-10-0-{}-{}.ec2.internal", i / 250, i % 250 + 4)).collect()
        }
        Kind::Crd(_) => (0..CUSTOM.len() + EXTRA_CRDS.len()).map(crd_name).collect(),
        Kind::RangeAllocation => vec!["serviceips".into(), "servicenodeports".into()],
        Kind::MasterLease => vec!["10.0.0.1".into()],
        Kind::PriorityClass => vec!["system-cluster-critical".into(), "system-node-critical".into()],
        _ => {
            let apps = (g.count / 6).max(1);
            (0..g.count)
                .map(|i| {
                    let app = format!("{}-{}", rng.pick(&["api", "web", "worker", "cache", "gateway", "db"]), i % apps);
                    match g.kind {
                        Kind::Pod => format!("{app}-{}-{}", rng.hex(10), rng.suffix(5)),
                        Kind::ReplicaSet | Kind::ControllerRevision => format!("{app}-{}", rng.hex(10)),
                        Kind::Event => format!("{app}-{}.{}", rng.suffix(5), rng.hex(16)),
                        Kind::EndpointSlice => format!("{app}-{}", rng.suffix(5)),
                        Kind::Job => format!("{app}-backup-{}", 29_000_000 + i),
                        Kind::Secret if i % 3 == 0 => format!("{app}-token-{}", rng.suffix(5)),
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
    let nodes = groups.iter().find(|g| g.kind == Kind::Node).map(|g| g.count).unwrap_or(0);
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
    if groups.iter().any(|g| g.kind == Kind::MasterLease) {
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
                Kind::Crd(_) => {
                    Kind::Crd((0..CUSTOM.len() + EXTRA_CRDS.len()).find(|&j| crd_name(j) == name).unwrap_or(0))
                }
                k => k,
            };
            let value = object(kind, &ctx, &mut rng, o);
            let lease = match g.kind {
                Kind::Event => {
                    event_no += 1;
                    EVENT_LEASE_BASE + ((event_no - 1) / EVENTS_PER_LEASE) as i64
                }
                Kind::MasterLease => MASTER_LEASE_ID,
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

struct ObjCtx<'a> {
    name: &'a str,
    namespace: Option<&'a str>,
    small: bool,
}

fn time(secs: i64) -> Msg {
    let mut t = Msg::new();
    t.int(1, secs).int(2, 0);
    t
}

/// ObjectMeta (k8s.io/apimachinery meta/v1): name 1, generateName 2, namespace 3, uid 5,
/// resourceVersion 6, generation 7, creationTimestamp 8, labels 11, annotations 12,
/// ownerReferences 13, finalizers 14, managedFields 17.
fn meta(c: &ObjCtx, rng: &mut Rng, api: &str, owner: Option<(&str, &str)>, managed: &[(&str, usize)]) -> Msg {
    let created = 1_760_000_000 + rng.below(10_000_000) as i64;
    let app = c.name.split('-').take(2).collect::<Vec<_>>().join("-");
    let mut m = Msg::new();
    m.str(1, c.name).str(2, "");
    if let Some(ns) = c.namespace {
        m.str(3, ns);
    }
    m.str(4, "").str(5, &rng.uid()).str(6, "").int(7, 1 + rng.below(5) as i64).msg(8, &time(created));
    if c.small {
        return m;
    }
    let labels = [
        ("app.kubernetes.io/name".to_string(), app.clone()),
        ("app.kubernetes.io/part-of".to_string(), format!("{}-suite", app.split('-').next().unwrap_or("app"))),
        ("pod-template-hash".to_string(), rng.hex(10)),
    ];
    m.map(11, &labels[..1 + rng.below(3) as usize]);
    if rng.chance(0.4) {
        m.map(
            12,
            &[("kubectl.kubernetes.io/last-applied-configuration", {
                let n = rng.len(200, 600);
                rng.text(n)
            })],
        );
    }
    if let Some((kind, owner_name)) = owner {
        let mut or = Msg::new();
        or.str(1, kind).str(3, owner_name).str(4, &rng.uid()).str(5, api).bool(6, true).bool(7, true);
        m.msg(13, &or);
    }
    for (manager, size) in managed {
        let mut mf = Msg::new();
        let mut fields = Msg::new();
        fields.bytes(1, managed_fields_json(rng, *size).as_bytes());
        mf.str(1, manager)
            .str(2, "Update")
            .str(3, api)
            .msg(4, &time(created + rng.below(1000) as i64))
            .str(6, "FieldsV1")
            .msg(7, &fields);
        m.msg(17, &mf);
    }
    m
}

/// A FieldsV1 JSON blob of about `size` bytes, as server-side apply records them.
fn managed_fields_json(rng: &mut Rng, size: usize) -> String {
    let mut s = String::from("{\"f:metadata\":{\"f:labels\":{\".\":{},\"f:app\":{}}},\"f:spec\":{");
    let mut i = 0;
    while s.len() + 40 < size {
        s.push_str(&format!(
            "\"f:{}{}\":{{\".\":{{}},\"f:{}\":{{}}}},",
            rng.pick(&["containers", "env", "ports", "resources", "volumeMounts", "image", "name", "value"]),
            i,
            rng.suffix(4)
        ));
        i += 1;
    }
    s.push_str("\"f:x\":{}}}");
    s
}

fn container(rng: &mut Rng, name: &str, rich: bool) -> Msg {
    let mut c = Msg::new();
    c.str(1, name).str(2, &format!("registry.example.com/{name}:v1.{}.{}", rng.below(30), rng.below(10)));
    if rich {
        c.strs(4, &["--config=/etc/app/config.yaml", "--log-level=info"]);
        let mut port = Msg::new();
        port.str(1, "http").int(3, 8080).str(4, "TCP");
        c.msg(6, &port);
        for i in 0..(3 + rng.below(12)) {
            let mut env = Msg::new();
            env.str(1, &format!("APP_SETTING_{i}")).str(2, &{
                let n = rng.len(10, 50);
                rng.text(n)
            });
            c.msg(7, &env);
        }
        let q = |v: &str| {
            let mut m = Msg::new();
            m.str(1, v);
            m
        };
        let mut res = Msg::new();
        res.map_msg(1, &[("cpu", q("500m")), ("memory", q("512Mi"))]);
        res.map_msg(2, &[("cpu", q("100m")), ("memory", q("128Mi"))]);
        c.msg(8, &res);
        for (n, path) in [("config", "/etc/app"), ("kube-api-access", "/var/run/secrets/kubernetes.io/serviceaccount")]
        {
            let mut vm = Msg::new();
            vm.str(1, n).bool(2, true).str(3, path);
            c.msg(9, &vm);
        }
        c.str(13, "/dev/termination-log").str(14, "IfNotPresent").str(20, "File");
    }
    c
}

fn pod_spec(rng: &mut Rng, c: &ObjCtx) -> Msg {
    let mut s = Msg::new();
    let mut vol = Msg::new();
    vol.str(1, "kube-api-access");
    s.msg(1, &vol);
    let n = 1 + rng.below(3);
    for i in 0..n {
        s.msg(2, &container(rng, &format!("app{i}"), !c.small));
    }
    s.str(3, "Always")
        .int(4, 30)
        .str(6, "ClusterFirst")
        .str(8, "default")
        .str(10, &format!("ip-10-0-0-{}.ec2.internal", rng.below(200)));
    s.str(19, "default-scheduler");
    s
}

fn object(kind: Kind, c: &ObjCtx, rng: &mut Rng, o: &GenOptions) -> Vec<u8> {
    match kind {
        Kind::Pod => pod(c, rng),
        Kind::ReplicaSet | Kind::Deployment | Kind::Job => replica_set(kind, c, rng),
        Kind::Service => service(c, rng),
        Kind::Endpoints => endpoints(c, rng),
        Kind::EndpointSlice => endpoint_slice(c, rng),
        Kind::ConfigMap => config_map(c, rng),
        Kind::Secret => secret(c, rng, o),
        Kind::Event => event(c, rng),
        Kind::ServiceAccount => service_account(c, rng),
        Kind::Role | Kind::ClusterRole => role(kind, c, rng),
        Kind::RoleBinding | Kind::ClusterRoleBinding => role_binding(kind, c, rng),
        Kind::ControllerRevision => controller_revision(c, rng),
        Kind::Namespace => namespace(c, rng),
        Kind::Node => node(c, rng),
        Kind::NodeLease => node_lease(c, rng),
        Kind::PriorityClass => priority_class(c, rng),
        Kind::RangeAllocation => range_allocation(c, rng),
        Kind::MasterLease => master_lease(c, rng),
        Kind::Crd(i) => crd(i, c, rng),
        Kind::CustomResource(i) => custom_resource(i, c, rng),
    }
}

fn pod(c: &ObjCtx, rng: &mut Rng) -> Vec<u8> {
    let rich = |n: usize| if c.small { 0 } else { n };
    let small = c.small;
    let mut m = Msg::new();
    let mf = [("kube-controller-manager", rich(rng.len(2500, 3000))), ("kubelet", rich(rng.len(2500, 3000)))];
    m.msg(1, &meta(c, rng, "v1", Some(("ReplicaSet", c.name)), if small { &[] } else { &mf }));
    m.msg(2, &pod_spec(rng, c));
    let mut st = Msg::new();
    st.str(1, "Running");
    if !small {
        for t in ["Initialized", "Ready", "ContainersReady", "PodScheduled"] {
            let mut cond = Msg::new();
            cond.str(1, t).str(2, "True").msg(4, &time(1_760_000_000));
            st.msg(2, &cond);
        }
        st.str(5, "10.0.1.17").str(6, &format!("10.244.{}.{}", rng.below(255), rng.below(255)));
        let mut cs = Msg::new();
        cs.str(1, "app0")
            .bool(4, true)
            .int(5, rng.below(3) as i64)
            .str(6, "registry.example.com/app:v1")
            .str(8, &format!("containerd://{}", rng.hex(64)));
        st.msg(8, &cs).str(9, "Burstable");
    }
    m.msg(3, &st);
    k8s_envelope("v1", "Pod", &m.into_bytes())
}

fn replica_set(kind: Kind, c: &ObjCtx, rng: &mut Rng) -> Vec<u8> {
    let rich = |n: usize| if c.small { 0 } else { n };
    let small = c.small;
    let (api, k) = match kind {
        Kind::ReplicaSet => ("apps/v1", "ReplicaSet"),
        Kind::Deployment => ("apps/v1", "Deployment"),
        _ => ("batch/v1", "Job"),
    };
    let mut m = Msg::new();
    let mf = [("kube-controller-manager", rich(rng.len(3000, 3000)))];
    m.msg(
        1,
        &meta(c, rng, api, (kind == Kind::ReplicaSet).then_some(("Deployment", c.name)), if small { &[] } else { &mf }),
    );
    let mut tmpl = Msg::new();
    tmpl.msg(1, &meta(c, rng, "v1", None, &[])).msg(2, &pod_spec(rng, c));
    let mut spec = Msg::new();
    // The pod template is field 3 of Deployment and ReplicaSet specs, field 6 of JobSpec.
    spec.int(1, 1 + rng.below(5) as i64).msg(if kind == Kind::Job { 6 } else { 3 }, &tmpl);
    m.msg(2, &spec);
    let mut st = Msg::new();
    st.int(1, 3).int(2, 3);
    m.msg(3, &st);
    k8s_envelope(api, k, &m.into_bytes())
}

fn service(c: &ObjCtx, rng: &mut Rng) -> Vec<u8> {
    let rich = |n: usize| if c.small { 0 } else { n };
    let mut m = Msg::new();
    m.msg(1, &meta(c, rng, "v1", None, &[("kubectl", rich(400))]));
    let mut spec = Msg::new();
    let mut port = Msg::new();
    let mut target = Msg::new();
    target.int(1, 0).int(2, 8080);
    port.str(1, "http").str(2, "TCP").int(3, 80).msg(4, &target);
    spec.msg(1, &port)
        .map(2, &[("app", c.name)])
        .str(3, &format!("10.96.{}.{}", rng.below(255), rng.below(255)))
        .str(4, "ClusterIP");
    m.msg(2, &spec);
    k8s_envelope("v1", "Service", &m.into_bytes())
}

fn endpoints(c: &ObjCtx, rng: &mut Rng) -> Vec<u8> {
    let rich = |n: usize| if c.small { 0 } else { n };
    let mut m = Msg::new();
    m.msg(1, &meta(c, rng, "v1", None, &[]));
    let mut subset = Msg::new();
    for _ in 0..rich(1 + rng.below(8) as usize).max(1) {
        let mut a = Msg::new();
        let mut tr = Msg::new();
        tr.str(1, "Pod")
            .str(2, c.namespace.unwrap_or(""))
            .str(3, &format!("{}-{}", c.name, rng.suffix(5)))
            .str(4, &rng.uid());
        a.str(1, &format!("10.244.{}.{}", rng.below(255), rng.below(255)))
            .msg(2, &tr)
            .str(4, "ip-10-0-0-1.ec2.internal");
        subset.msg(1, &a);
    }
    let mut p = Msg::new();
    p.str(1, "http").int(2, 8080).str(3, "TCP");
    subset.msg(3, &p);
    m.msg(2, &subset);
    k8s_envelope("v1", "Endpoints", &m.into_bytes())
}

fn endpoint_slice(c: &ObjCtx, rng: &mut Rng) -> Vec<u8> {
    let rich = |n: usize| if c.small { 0 } else { n };
    let mut m = Msg::new();
    m.msg(
        1,
        &meta(c, rng, "discovery.k8s.io/v1", Some(("Service", c.name)), &[("endpointslice-controller", rich(600))]),
    );
    for _ in 0..rich(1 + rng.below(8) as usize).max(1) {
        let mut e = Msg::new();
        let mut cond = Msg::new();
        cond.bool(1, true);
        e.str(1, &format!("10.244.{}.{}", rng.below(255), rng.below(255))).msg(2, &cond);
        m.msg(2, &e);
    }
    m.str(4, "IPv4");
    k8s_envelope("discovery.k8s.io/v1", "EndpointSlice", &m.into_bytes())
}

fn config_map(c: &ObjCtx, rng: &mut Rng) -> Vec<u8> {
    let rich = |n: usize| if c.small { 0 } else { n };
    let small = c.small;
    let mut m = Msg::new();
    m.msg(1, &meta(c, rng, "v1", None, &[("kubectl", rich(300))]));
    // Mostly small, some large (dashboards, CA bundles), rarely near etcd's limit.
    let size = if small {
        64
    } else if rng.chance(0.01) {
        200_000 + rng.below(300_000) as usize
    } else if rng.chance(0.1) {
        10_000 + rng.below(40_000) as usize
    } else {
        200 + rng.below(3000) as usize
    };
    m.map(2, &[("config.yaml", rng.text(size))]);
    k8s_envelope("v1", "ConfigMap", &m.into_bytes())
}

fn secret(c: &ObjCtx, rng: &mut Rng, o: &GenOptions) -> Vec<u8> {
    let rich = |n: usize| if c.small { 0 } else { n };
    let mut m = Msg::new();
    m.msg(1, &meta(c, rng, "v1", None, &[]));
    let token = {
        let n = rich(rng.len(900, 2000)).max(32);
        rng.bytes(n)
    };
    m.map(2, &[("token", token.as_slice()), ("ca.crt", &rng.bytes(rich(1100))[..])])
        .str(3, "kubernetes.io/service-account-token");
    let plain = k8s_envelope("v1", "Secret", &m.into_bytes());
    if rng.chance(o.encrypted_share) {
        let mut v = b"k8s:enc:aescbc:v1:key1:".to_vec();
        v.extend_from_slice(&rng.bytes(16 + plain.len().div_ceil(16) * 16));
        v
    } else {
        plain
    }
}

fn event(c: &ObjCtx, rng: &mut Rng) -> Vec<u8> {
    let rich = |n: usize| if c.small { 0 } else { n };
    let mut m = Msg::new();
    m.msg(1, &meta(c, rng, "v1", None, &[]));
    let mut io = Msg::new();
    io.str(1, "Pod")
        .str(2, c.namespace.unwrap_or(""))
        .str(3, c.name.split('.').next().unwrap_or(""))
        .str(4, &rng.uid())
        .str(5, "v1");
    let mut src = Msg::new();
    src.str(1, "kubelet").str(2, "ip-10-0-0-1.ec2.internal");
    let reason = *rng.pick(&["Pulled", "Created", "Started", "Killing", "BackOff", "Scheduled", "Unhealthy"]);
    m.msg(2, &io)
        .str(3, reason)
        .str(4, &{
            let n = rich(rng.len(60, 200)).max(8);
            rng.text(n)
        })
        .msg(5, &src);
    m.msg(6, &time(1_760_000_000)).msg(7, &time(1_760_000_100)).int(8, 1 + rng.below(20) as i64).str(9, "Normal");
    k8s_envelope("v1", "Event", &m.into_bytes())
}

fn service_account(c: &ObjCtx, rng: &mut Rng) -> Vec<u8> {
    let mut m = Msg::new();
    m.msg(1, &meta(c, rng, "v1", None, &[]));
    k8s_envelope("v1", "ServiceAccount", &m.into_bytes())
}

fn role(kind: Kind, c: &ObjCtx, rng: &mut Rng) -> Vec<u8> {
    let rich = |n: usize| if c.small { 0 } else { n };
    let mut m = Msg::new();
    m.msg(1, &meta(c, rng, "rbac.authorization.k8s.io/v1", None, &[]));
    for _ in 0..rich(2 + rng.below(8) as usize).max(1) {
        let mut r = Msg::new();
        r.strs(1, &["get", "list", "watch"])
            .strs(2, &[""])
            .strs(3, &[*rng.pick(&["pods", "configmaps", "secrets", "services"])]);
        m.msg(2, &r);
    }
    let k = if kind == Kind::Role { "Role" } else { "ClusterRole" };
    k8s_envelope("rbac.authorization.k8s.io/v1", k, &m.into_bytes())
}

fn role_binding(kind: Kind, c: &ObjCtx, rng: &mut Rng) -> Vec<u8> {
    let mut m = Msg::new();
    m.msg(1, &meta(c, rng, "rbac.authorization.k8s.io/v1", None, &[]));
    let mut s = Msg::new();
    s.str(1, "ServiceAccount").str(2, "").str(3, c.name).str(4, c.namespace.unwrap_or("kube-system"));
    let mut rr = Msg::new();
    rr.str(1, "rbac.authorization.k8s.io").str(2, "ClusterRole").str(3, "view");
    m.msg(2, &s).msg(3, &rr);
    let k = if kind == Kind::RoleBinding { "RoleBinding" } else { "ClusterRoleBinding" };
    k8s_envelope("rbac.authorization.k8s.io/v1", k, &m.into_bytes())
}

fn controller_revision(c: &ObjCtx, rng: &mut Rng) -> Vec<u8> {
    let rich = |n: usize| if c.small { 0 } else { n };
    let mut m = Msg::new();
    m.msg(1, &meta(c, rng, "apps/v1", None, &[]));
    let mut raw = Msg::new();
    raw.bytes(1, format!("{{\"spec\":{{\"template\":{{\"data\":\"{}\"}}}}}}", rng.text(rich(1500))).as_bytes());
    m.msg(2, &raw).int(3, 1 + rng.below(10) as i64);
    k8s_envelope("apps/v1", "ControllerRevision", &m.into_bytes())
}

fn namespace(c: &ObjCtx, rng: &mut Rng) -> Vec<u8> {
    let mut m = Msg::new();
    m.msg(1, &meta(c, rng, "v1", None, &[]));
    let mut spec = Msg::new();
    spec.str(1, "kubernetes");
    let mut st = Msg::new();
    st.str(1, "Active");
    m.msg(2, &spec).msg(3, &st);
    k8s_envelope("v1", "Namespace", &m.into_bytes())
}

fn node(c: &ObjCtx, rng: &mut Rng) -> Vec<u8> {
    let rich = |n: usize| if c.small { 0 } else { n };
    let mut m = Msg::new();
    m.msg(1, &meta(c, rng, "v1", None, &[("kubelet", rich(3000)), ("kube-controller-manager", rich(800))]));
    let mut spec = Msg::new();
    spec.str(1, &format!("10.244.{}.0/24", rng.below(255))).str(3, &format!("aws:///eu-west-1a/i-{}", rng.hex(17)));
    let mut st = Msg::new();
    for _ in 0..rich(40) {
        let mut img = Msg::new();
        img.str(1, &format!("registry.example.com/{}@sha256:{}", rng.suffix(8), rng.hex(64)))
            .int(2, rng.below(500_000_000) as i64);
        st.msg(8, &img);
    }
    m.msg(2, &spec).msg(3, &st);
    k8s_envelope("v1", "Node", &m.into_bytes())
}

fn node_lease(c: &ObjCtx, rng: &mut Rng) -> Vec<u8> {
    let mut m = Msg::new();
    m.msg(1, &meta(c, rng, "coordination.k8s.io/v1", None, &[]));
    let mut spec = Msg::new();
    spec.str(1, c.name).int(2, 40);
    m.msg(2, &spec);
    k8s_envelope("coordination.k8s.io/v1", "Lease", &m.into_bytes())
}

fn priority_class(c: &ObjCtx, rng: &mut Rng) -> Vec<u8> {
    let mut m = Msg::new();
    m.msg(1, &meta(c, rng, "scheduling.k8s.io/v1", None, &[]));
    m.int(2, 2_000_000_000).bool(3, false).str(4, "Used for system critical pods.");
    k8s_envelope("scheduling.k8s.io/v1", "PriorityClass", &m.into_bytes())
}

fn range_allocation(c: &ObjCtx, rng: &mut Rng) -> Vec<u8> {
    let rich = |n: usize| if c.small { 0 } else { n };
    let mut m = Msg::new();
    m.msg(1, &meta(c, rng, "v1", None, &[]));
    m.str(2, "10.96.0.0/12").bytes(3, &rng.bytes(rich(4096).max(16)));
    k8s_envelope("v1", "RangeAllocation", &m.into_bytes())
}

fn master_lease(c: &ObjCtx, rng: &mut Rng) -> Vec<u8> {
    let mut m = Msg::new();
    m.msg(1, &meta(c, rng, "v1", None, &[]));
    k8s_envelope("v1", "Endpoints", &m.into_bytes())
}

fn crd(i: usize, c: &ObjCtx, rng: &mut Rng) -> Vec<u8> {
    let rich = |n: usize| if c.small { 0 } else { n };
    let (group, plural, kind) =
        if i < CUSTOM.len() { (CUSTOM[i].0, CUSTOM[i].1, CUSTOM[i].2) } else { EXTRA_CRDS[i - CUSTOM.len()] };
    let n = rich(rng.len(8000, 40_000));
    let schema = rng.text(n);
    serde_json::to_vec(&serde_json::json!({
        "kind": "CustomResourceDefinition",
        "apiVersion": "apiextensions.k8s.io/v1",
        "metadata": {"name": c.name, "uid": rng.uid(), "generation": 1,
                     "creationTimestamp": "2025-10-09T12:00:00Z"},
        "spec": {"group": group, "names": {"plural": plural, "kind": kind, "listKind": format!("{kind}List")},
                 "scope": "Namespaced",
                 "versions": [{"name": "v1", "served": true, "storage": true,
                               "schema": {"openAPIV3Schema": {"type": "object", "description": schema}}}]},
        "status": {"acceptedNames": {"plural": plural, "kind": kind}}
    }))
    .expect("JSON")
}

fn custom_resource(i: usize, c: &ObjCtx, rng: &mut Rng) -> Vec<u8> {
    let rich = |n: usize| if c.small { 0 } else { n };
    let (group, _, kind, version) = CUSTOM[i];
    let n = rich(rng.len(400, 2500));
    let settings = rng.text(n);
    serde_json::to_vec(&serde_json::json!({
        "apiVersion": format!("{group}/{version}"),
        "kind": kind,
        "metadata": {"name": c.name, "namespace": c.namespace, "uid": rng.uid(), "generation": 1 + rng.below(5),
                     "creationTimestamp": "2025-10-09T12:00:00Z",
                     "labels": {"app.kubernetes.io/name": c.name}},
        "spec": {"settings": settings},
        "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "Reconciled"}]}
    }))
    .expect("JSON")
}

#[cfg(test)]
mod tests {
    use super::*;
    use reshifter_format::StreamReader;

    fn gen_bytes(objects: u64, seed: u64) -> Vec<u8> {
        generate(&GenOptions { objects, seed, small: false, encrypted_share: 0.5, output: None }, Vec::new()).unwrap().0
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
