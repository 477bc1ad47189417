//! Kubernetes key parsing: which resource, namespace and name an etcd key holds.
//!
//! kube-apiserver stores objects at `<root>/<resource>/<namespace>/<name>` (namespaced) or
//! `<root>/<resource>/<name>` (cluster-scoped), with `<root>` = `/registry` (vanilla),
//! `/kubernetes.io` (OpenShift 3 for Kubernetes types) or `/openshift.io` (OpenShift types).
//! Resources of API groups other than the legacy core and the older built-in groups are
//! group-qualified: `/registry/<group>/<plural>/...` — `apiextensions.k8s.io/customresourcedefinitions`,
//! `apiregistration.k8s.io/apiservices` and every custom resource.
//!
//! Directories that do not follow the pattern (docs/kv-filter.md lists them):
//!
//! | directory                       | resource   | scope     |
//! |---------------------------------|------------|-----------|
//! | `services/specs/<ns>/<name>`    | services   | namespaced |
//! | `services/endpoints/<ns>/<name>`| endpoints  | namespaced |
//! | `minions/<name>`                | nodes      | cluster    |
//! | `ranges/<name>`                 | ranges (service IP and node port allocations) | cluster |
//! | `masterleases/<ip>`             | masterleases (API server endpoint leases)    | cluster |
//!
//! For resources not in the table of known scopes, a key with two segments after the resource is
//! namespaced and a key with one is cluster-scoped.

pub mod atrest;
pub mod codec;
pub mod kms;
pub mod kmsv2;
pub mod pb;
pub mod value;

/// The known key roots.
pub const ROOTS: &[&str] = &["/registry", "/kubernetes.io", "/openshift.io"];

/// Keys every Kubernetes keyspace holds under its root (the kube-system namespace and the
/// service IP allocation): what gives away an API server's `--etcd-prefix` nobody named.
const MARKERS: &[&str] = &["/namespaces/kube-system", "/ranges/serviceips"];

/// Where API servers keep their keys: the roots kube-apiserver and OpenShift use by default, and
/// the `--etcd-prefix` of an API server started with another (hosted control planes that share
/// one etcd give each tenant its own).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Roots {
    prefix: Option<String>,
}

impl Roots {
    /// The default roots, and `etcd_prefix` as kube-apiserver reads its `--etcd-prefix`
    /// (`tenant-a`, `/tenant-a` and `/tenant-a/` are one root, `/tenant-a`).
    pub fn new(etcd_prefix: Option<&str>) -> Result<Roots, String> {
        let Some(p) = etcd_prefix else { return Ok(Roots::default()) };
        let clean: Vec<&str> = p.split('/').filter(|s| !s.is_empty()).collect();
        if clean.is_empty() || clean.iter().any(|s| *s == "." || *s == "..") || p.contains('\0') {
            return Err(format!(
                "--etcd-prefix {p:?} is not a key prefix: give the API server's --etcd-prefix, such as /registry or /tenant-a"
            ));
        }
        Ok(Roots { prefix: Some(format!("/{}", clean.join("/"))) })
    }

    /// The `--etcd-prefix` given, cleaned (`/tenant-a`).
    pub fn prefix(&self) -> Option<&str> {
        self.prefix.as_deref()
    }

    /// Every root, the given prefix first.
    pub fn all(&self) -> impl Iterator<Item = &str> {
        self.prefix.as_deref().into_iter().chain(ROOTS.iter().copied())
    }

    /// Parse a key; `None` when it is not under one of the roots.
    pub fn parse<'a>(&self, key: &'a [u8]) -> Option<K8sKey<'a>> {
        let key = std::str::from_utf8(key).ok()?;
        let (root, rest) =
            self.all().find_map(|r| key.strip_prefix(r)?.strip_prefix('/').map(|rest| (r.len(), rest)))?;
        parse_under(&key[..root], rest)
    }

    /// The root a key shows a Kubernetes keyspace under when it is none of these roots:
    /// `/tenant-b` for `/tenant-b/namespaces/kube-system`.
    pub fn unknown_root<'a>(&self, key: &'a [u8]) -> Option<&'a str> {
        let key = std::str::from_utf8(key).ok()?;
        let root = MARKERS.iter().find_map(|m| key.strip_suffix(m))?;
        (!root.is_empty() && !self.all().any(|r| r == root)).then_some(root)
    }

    /// The resource (plural) and API group of a Kubernetes key ("" for the core group).
    pub fn resource_group(&self, key: &[u8]) -> Option<(String, String)> {
        let k = self.parse(key)?;
        if let Some((group, plural)) = k.resource.split_once('/') {
            return Some((plural.to_string(), group.to_string()));
        }
        let group = atrest::group_of(&k.resource);
        Some((k.resource, group.to_string()))
    }
}

/// `--etcd-prefix`, as every tool that reads Kubernetes keys or opens their values takes it.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct EtcdPrefix {
    /// The kube-apiserver's --etcd-prefix, when it is not /registry (OpenShift's /kubernetes.io
    /// and /openshift.io are known too): keys under PREFIX are read as that API server stores
    /// them, and matched against an EncryptionConfiguration's resources
    #[arg(long = "etcd-prefix", value_name = "PREFIX", value_parser = |p: &str| Roots::new(Some(p)))]
    pub etcd_prefix: Option<Roots>,
}

impl EtcdPrefix {
    /// The roots to read keys under.
    pub fn roots(&self) -> Roots {
        self.etcd_prefix.clone().unwrap_or_default()
    }

    /// The option for an API server started with `--etcd-prefix prefix`.
    pub fn new(prefix: &str) -> Result<EtcdPrefix, String> {
        Ok(EtcdPrefix { etcd_prefix: Some(Roots::new(Some(prefix))?) })
    }
}

/// Remembers the first Kubernetes root nobody named that a stream's keys show, to say once at
/// the end.
#[derive(Debug, Default)]
pub struct RootHint(Option<String>);

impl RootHint {
    /// Look at one key.
    pub fn see(&mut self, roots: &Roots, key: &[u8]) {
        if self.0.is_none()
            && let Some(r) = roots.unknown_root(key)
        {
            self.0 = Some(r.to_string());
        }
    }

    /// What to tell the user, if anything.
    pub fn message(&self) -> Option<String> {
        self.0.as_deref().map(unknown_root_hint)
    }
}

/// What to tell a user whose keyspace holds a Kubernetes root they did not name.
pub fn unknown_root_hint(root: &str) -> String {
    format!(
        "keys under {root} look like those of an API server started with --etcd-prefix {root}: \
         give --etcd-prefix {root} to read them as Kubernetes objects"
    )
}

/// A parsed Kubernetes key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct K8sKey<'a> {
    /// `/registry`, `/kubernetes.io`, `/openshift.io` or the `--etcd-prefix` given.
    pub root: &'a str,
    /// Plural resource, group-qualified as `<group>/<plural>` when stored so.
    pub resource: String,
    pub namespace: Option<&'a str>,
    /// The object name; empty for keys that stop at the resource directory.
    pub name: &'a str,
}

/// Built-in cluster-scoped resources (by their directory name).
const CLUSTER_SCOPED: &[&str] = &[
    "namespaces",
    "minions",
    "nodes",
    "persistentvolumes",
    "clusterroles",
    "clusterrolebindings",
    "storageclasses",
    "priorityclasses",
    "csidrivers",
    "csinodes",
    "volumeattachments",
    "certificatesigningrequests",
    "mutatingwebhookconfigurations",
    "validatingwebhookconfigurations",
    "validatingadmissionpolicies",
    "validatingadmissionpolicybindings",
    "runtimeclasses",
    "ingressclasses",
    "podsecuritypolicy",
    "flowschemas",
    "prioritylevelconfigurations",
    "ranges",
    "masterleases",
    "componentstatuses",
    "apiextensions.k8s.io/customresourcedefinitions",
    "apiregistration.k8s.io/apiservices",
    "clusteroperators",
    "clusterversions",
    "images",
    "users",
    "groups",
    "identities",
    "oauthclients",
    "projects",
];

/// Parse a key under the default roots; `None` when it is not under one.
pub fn parse(key: &[u8]) -> Option<K8sKey<'_>> {
    Roots::default().parse(key)
}

/// A key's parts after its root.
fn parse_under<'a>(root: &'a str, rest: &'a str) -> Option<K8sKey<'a>> {
    let segs: Vec<&str> = rest.split('/').collect();
    let (dir, resource, tail): (String, String, &[&str]) = match segs.as_slice() {
        ["services", "specs", tail @ ..] => ("services/specs".into(), "services".into(), tail),
        ["services", "endpoints", tail @ ..] => ("services/endpoints".into(), "endpoints".into(), tail),
        ["minions", tail @ ..] => ("minions".into(), "nodes".into(), tail),
        [group, plural, tail @ ..] if group.contains('.') => {
            let q = format!("{group}/{plural}");
            (q.clone(), q, tail)
        }
        [res, tail @ ..] => (res.to_string(), res.to_string(), tail),
        [] => return None,
    };
    let cluster = CLUSTER_SCOPED.contains(&dir.as_str()) || (tail.len() <= 1 && !is_known_namespaced(&dir));
    let (namespace, name) = if cluster {
        (None, tail_str(rest, tail.len()))
    } else {
        match tail {
            [] => (None, ""),
            [ns] => (Some(*ns), ""),
            [ns, ..] => (Some(*ns), tail_str(rest, tail.len() - 1)),
        }
    };
    Some(K8sKey { root, resource, namespace, name })
}

/// The last `n` segments of `s` as one string slice.
fn tail_str(s: &str, n: usize) -> &str {
    if n == 0 {
        return "";
    }
    let mut idx = s.len();
    for _ in 0..n {
        match s[..idx].rfind('/') {
            Some(i) => idx = i,
            None => return s,
        }
    }
    &s[idx + 1..]
}

fn is_known_namespaced(dir: &str) -> bool {
    const NAMESPACED: &[&str] = &[
        "pods",
        "services/specs",
        "services/endpoints",
        "endpointslices",
        "configmaps",
        "secrets",
        "events",
        "serviceaccounts",
        "deployments",
        "replicasets",
        "statefulsets",
        "daemonsets",
        "jobs",
        "cronjobs",
        "controllerrevisions",
        "roles",
        "rolebindings",
        "leases",
        "persistentvolumeclaims",
        "limitranges",
        "resourcequotas",
        "horizontalpodautoscalers",
        "poddisruptionbudgets",
        "networkpolicies",
        "ingress",
        "ingresses",
        "replicasets",
        "controllers",
        "podtemplates",
        "csistoragecapacities",
        "routes",
        "deploymentconfigs",
        "buildconfigs",
        "builds",
        "imagestreams",
        "templates",
    ];
    NAMESPACED.contains(&dir)
}

/// Canonical plural for a resource name given by a user: plural, singular, short name, or
/// `plural.group` / `group/plural`.
pub fn canonical_resource(s: &str) -> String {
    let lower = s.trim().to_ascii_lowercase();
    let short = match lower.as_str() {
        "po" | "pod" => "pods",
        "svc" | "service" => "services",
        "ep" | "endpoint" => "endpoints",
        "cm" | "configmap" => "configmaps",
        "secret" => "secrets",
        "ev" | "event" => "events",
        "sa" | "serviceaccount" => "serviceaccounts",
        "deploy" | "deployment" => "deployments",
        "rs" | "replicaset" => "replicasets",
        "sts" | "statefulset" => "statefulsets",
        "ds" | "daemonset" => "daemonsets",
        "job" => "jobs",
        "cj" | "cronjob" => "cronjobs",
        "ns" | "namespace" => "namespaces",
        "no" | "node" | "minion" | "minions" => "nodes",
        "pv" | "persistentvolume" => "persistentvolumes",
        "pvc" | "persistentvolumeclaim" => "persistentvolumeclaims",
        "role" => "roles",
        "rolebinding" => "rolebindings",
        "clusterrole" => "clusterroles",
        "clusterrolebinding" => "clusterrolebindings",
        "crd" | "crds" | "customresourcedefinition" | "customresourcedefinitions" => {
            "apiextensions.k8s.io/customresourcedefinitions"
        }
        "sc" | "storageclass" => "storageclasses",
        "lease" => "leases",
        "ing" | "ingress" => "ingress",
        "hpa" | "horizontalpodautoscaler" => "horizontalpodautoscalers",
        "pdb" | "poddisruptionbudget" => "poddisruptionbudgets",
        "netpol" | "networkpolicy" => "networkpolicies",
        "endpointslice" => "endpointslices",
        "controllerrevision" => "controllerrevisions",
        "apiservice" | "apiservices" => "apiregistration.k8s.io/apiservices",
        other => other,
    };
    // `certificates.cert-manager.io` → `cert-manager.io/certificates`
    if !short.contains('/')
        && let Some((plural, group)) = short.split_once('.')
        && group.contains('.')
    {
        return format!("{group}/{plural}");
    }
    short.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(k: &str) -> Option<(String, Option<String>, String)> {
        parse(k.as_bytes()).map(|x| (x.resource, x.namespace.map(String::from), x.name.to_string()))
    }

    fn t(r: &str, ns: Option<&str>, n: &str) -> Option<(String, Option<String>, String)> {
        Some((r.into(), ns.map(String::from), n.into()))
    }

    #[test]
    fn classification() {
        assert_eq!(p("/registry/pods/default/nginx"), t("pods", Some("default"), "nginx"));
        assert_eq!(p("/registry/namespaces/default"), t("namespaces", None, "default"));
        assert_eq!(p("/registry/services/specs/kube-system/kube-dns"), t("services", Some("kube-system"), "kube-dns"));
        assert_eq!(p("/registry/services/endpoints/default/kubernetes"), t("endpoints", Some("default"), "kubernetes"));
        assert_eq!(p("/registry/minions/node-1"), t("nodes", None, "node-1"));
        assert_eq!(p("/registry/ranges/serviceips"), t("ranges", None, "serviceips"));
        assert_eq!(p("/registry/masterleases/10.0.0.1"), t("masterleases", None, "10.0.0.1"));
        assert_eq!(p("/registry/clusterroles/system:kube-dns"), t("clusterroles", None, "system:kube-dns"));
        assert_eq!(
            p("/registry/apiextensions.k8s.io/customresourcedefinitions/certificates.cert-manager.io"),
            t("apiextensions.k8s.io/customresourcedefinitions", None, "certificates.cert-manager.io")
        );
        assert_eq!(
            p("/registry/cert-manager.io/certificates/prod/web"),
            t("cert-manager.io/certificates", Some("prod"), "web")
        );
        assert_eq!(
            p("/registry/cert-manager.io/clusterissuers/letsencrypt"),
            t("cert-manager.io/clusterissuers", None, "letsencrypt")
        );
        assert_eq!(p("/openshift.io/routes/prod/web"), t("routes", Some("prod"), "web"));
        assert_eq!(p("/kubernetes.io/pods/prod/web"), t("pods", Some("prod"), "web"));
        assert_eq!(p("/registry/leases/kube-node-lease/node-1"), t("leases", Some("kube-node-lease"), "node-1"));
        assert_eq!(p("/registry/events/default/pod.17a"), t("events", Some("default"), "pod.17a"));
        assert_eq!(p("/registry/configmaps/default"), t("configmaps", Some("default"), ""));
        assert_eq!(p("/other/pods/x"), None);
        assert_eq!(p("/registryx/pods/x"), None);
    }

    #[test]
    fn an_etcd_prefix_is_a_root_beside_the_defaults() {
        let r = Roots::new(Some("tenant-a/")).unwrap();
        assert_eq!(r.prefix(), Some("/tenant-a"));
        assert_eq!(Roots::new(Some("//tenant-a//x/")).unwrap().prefix(), Some("/tenant-a/x"));
        let k = r.parse(b"/tenant-a/secrets/prod/db").unwrap();
        assert_eq!((k.root, k.resource.as_str(), k.namespace, k.name), ("/tenant-a", "secrets", Some("prod"), "db"));
        assert_eq!(r.parse(b"/registry/pods/a/b").unwrap().root, "/registry");
        assert_eq!(r.parse(b"/tenant-b/pods/a/b"), None);
        // A prefix under a default root wins over it.
        let nested = Roots::new(Some("/registry/t1")).unwrap();
        let k = nested.parse(b"/registry/t1/deployments/a/b").unwrap();
        assert_eq!((k.root, k.resource.as_str()), ("/registry/t1", "deployments"));
        assert_eq!(nested.resource_group(b"/registry/t1/deployments/a/b"), Some(("deployments".into(), "apps".into())));
        for bad in ["", "/", "//", "/a/../b", "/a/./b"] {
            assert!(Roots::new(Some(bad)).is_err(), "{bad:?}");
        }
        assert_eq!(r.unknown_root(b"/tenant-b/namespaces/kube-system"), Some("/tenant-b"));
        assert_eq!(r.unknown_root(b"/tenant-b/ranges/serviceips"), Some("/tenant-b"));
        assert_eq!(r.unknown_root(b"/tenant-a/namespaces/kube-system"), None);
        assert_eq!(r.unknown_root(b"/registry/namespaces/kube-system"), None);
        assert_eq!(r.unknown_root(b"/tenant-b/namespaces/default"), None);
    }

    #[test]
    fn resource_names() {
        assert_eq!(canonical_resource("Deployment"), "deployments");
        assert_eq!(canonical_resource("svc"), "services");
        assert_eq!(canonical_resource("crd"), "apiextensions.k8s.io/customresourcedefinitions");
        assert_eq!(canonical_resource("certificates.cert-manager.io"), "cert-manager.io/certificates");
        assert_eq!(canonical_resource("cert-manager.io/certificates"), "cert-manager.io/certificates");
        assert_eq!(canonical_resource("events"), "events");
    }
}
