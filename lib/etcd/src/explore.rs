//! etcd-explore: what an etcd endpoint is — version, cluster, members, leader, sizes, revisions,
//! TLS and auth, which Kubernetes distribution keeps its state there, whether the v2 API answers.

use std::io::Write;
use std::time::Duration;

use etcd_client::{Client, GetOptions, WatchOptions};
use serde::Serialize;

use crate::{EtcdArgs, id_hex};
use reshifter_format::error::{Error, Kind, Result};
use reshifter_format::io::Output;
use reshifter_format::report::human_bytes;
use reshifter_k8s::Roots;

#[derive(Debug, Serialize)]
pub struct Member {
    pub id: String,
    pub name: String,
    pub peer_urls: Vec<String>,
    pub client_urls: Vec<String>,
    pub is_learner: bool,
    pub is_leader: bool,
}

#[derive(Debug, Serialize)]
pub struct Root {
    pub prefix: String,
    pub keys: i64,
}

/// The report.
#[derive(Debug, Serialize)]
pub struct Explore {
    pub endpoint: String,
    pub etcd_version: String,
    pub cluster_id: String,
    pub member_id: String,
    pub leader_id: String,
    pub members: Vec<Member>,
    pub db_size: i64,
    pub db_size_in_use: i64,
    pub raft_term: u64,
    pub raft_index: u64,
    pub revision: i64,
    /// Oldest revision still readable (everything before was compacted).
    pub compact_revision: i64,
    pub keys: i64,
    pub tls: bool,
    pub client_cert_auth: bool,
    pub auth: String,
    pub kubernetes_roots: Vec<Root>,
    /// Roots nobody named whose keys look like an API server's (`--etcd-prefix` not given).
    pub unnamed_roots: Vec<String>,
    pub distribution: String,
    pub v2_api: String,
    pub alarms: Vec<String>,
}

/// Keys under a prefix, counted by etcd.
async fn count(client: &mut etcd_client::Client, args: &EtcdArgs, prefix: &str) -> Result<i64> {
    let r = client
        .get(prefix, Some(GetOptions::new().with_prefix().with_count_only()))
        .await
        .map_err(|e| args.error("cannot count keys", e))?;
    Ok(r.count())
}

/// The oldest readable revision: a watch from revision 1 is told the compaction point.
async fn compact_revision(client: &mut etcd_client::Client) -> i64 {
    let Ok(mut w) = client.watch("\0reshifter-explore", Some(WatchOptions::new().with_start_revision(1))).await else {
        return 0;
    };
    let first = tokio::time::timeout(Duration::from_secs(2), w.message()).await;
    let v = match first {
        Ok(Ok(Some(r))) if r.compact_revision() > 0 => r.compact_revision(),
        Ok(Ok(Some(r))) if r.created() => {
            // Created at revision 1: nothing compacted (or a compaction event follows).
            match tokio::time::timeout(Duration::from_millis(300), w.message()).await {
                Ok(Ok(Some(r2))) if r2.compact_revision() > 0 => r2.compact_revision(),
                _ => 1,
            }
        }
        _ => 0,
    };
    let _ = w.cancel(0).await;
    v
}

fn distribution(roots: &[Root], named: &Roots) -> String {
    let has = |p: &str| roots.iter().any(|r| r.prefix == p && r.keys > 0);
    if let Some(p) = named.prefix()
        && has(&format!("{p}/"))
    {
        return format!("Kubernetes (--etcd-prefix {p})");
    }
    match (has("/registry/"), has("/kubernetes.io/"), has("/openshift.io/")) {
        (_, true, true) => "OpenShift 3 (/kubernetes.io and /openshift.io)".into(),
        (true, _, true) => "OpenShift 4 (/registry with /openshift.io)".into(),
        (true, false, false) => "Kubernetes (/registry)".into(),
        (true, true, false) => "two Kubernetes roots (/registry and /kubernetes.io)".into(),
        (false, true, false) => "Kubernetes with a custom prefix (/kubernetes.io)".into(),
        (false, false, true) => "OpenShift (/openshift.io only)".into(),
        (false, false, false) => "none found (no /registry, /kubernetes.io or /openshift.io keys)".into(),
    }
}

/// How many children of one key path are looked at for Kubernetes roots nobody named.
const ROOT_SCAN: usize = 256;

/// Kubernetes roots nobody named: each first-level key path (`/tenant-b`) and each child of a
/// known root (`/registry/tenant-c`) that holds `<root>/namespaces/kube-system`. One request per
/// path (etcd skips over each subtree), at most [`ROOT_SCAN`] paths per parent.
async fn unnamed_roots(c: &mut Client, args: &EtcdArgs, roots: &Roots) -> Result<Vec<String>> {
    let (mut found, mut parents) = (Vec::new(), vec![String::new()]);
    for _depth in 0..2 {
        let mut next = Vec::new();
        for parent in parents {
            let under = format!("{parent}/");
            let end = crate::prefix_end(under.as_bytes());
            let mut from = under.clone().into_bytes();
            for _ in 0..ROOT_SCAN {
                let opts = GetOptions::new().with_range(end.clone()).with_keys_only().with_limit(1);
                let r = c.get(from.clone(), Some(opts)).await.map_err(|e| args.error("cannot list keys", e))?;
                let Some(kv) = r.kvs().first() else { break };
                let rest = &kv.key()[under.len()..];
                let Some(slash) = rest.iter().position(|&b| b == b'/') else {
                    from = [kv.key(), b"\0"].concat();
                    continue;
                };
                // Past this child's keys, from the key's own bytes.
                from = crate::prefix_end(&kv.key()[..under.len() + slash + 1]);
                // Kubernetes' roots are text; other programs' keys need not be.
                let Ok(segment) = std::str::from_utf8(&rest[..slash]) else { continue };
                let child = format!("{parent}/{segment}");
                if roots.all().any(|r| r == child) {
                    next.push(child);
                } else if count(c, args, &format!("{child}/namespaces/kube-system")).await? > 0 {
                    found.push(child);
                }
            }
        }
        parents = next;
    }
    found.sort();
    Ok(found)
}

/// Explore the first endpoint; `roots` adds the API server's `--etcd-prefix` to the roots looked
/// for.
pub fn explore(args: &EtcdArgs, named: &Roots) -> Result<Explore> {
    let rt = reshifter_format::parallel::runtime(1)?;
    let endpoint = args.endpoints.first().cloned().unwrap_or_default();
    let mut report = rt.block_on(async {
        let mut c = args.connect().await?;
        let status = crate::retried(args.endpoints.len(), || {
            let mut c = c.clone();
            async move { c.status().await }
        })
        .await
        .map_err(|e| args.error("cannot read the status of etcd", e))?;
        let header = status.header().ok_or_else(|| Error::new(Kind::Failure, "etcd sent a status without header"))?;
        let (cluster, member, revision, term) =
            (header.cluster_id(), header.member_id(), header.revision(), header.raft_term());
        let leader = status.leader();
        let members = members(&mut c, args, leader).await?;
        let user = args.user.as_deref().map(|u| u.split(':').next().unwrap_or(u).to_string());
        let (roots, keys, auth_blocked) = key_counts(&mut c, args, user.is_some(), named).await?;
        // A user allowed to read only some prefixes cannot list the others: nothing to say then.
        let unnamed =
            if auth_blocked { Vec::new() } else { unnamed_roots(&mut c, args, named).await.unwrap_or_default() };
        let alarms = alarms(&mut c).await;
        let compact = if auth_blocked { 0 } else { compact_revision(&mut c).await };
        Ok::<_, Error>(Explore {
            endpoint: endpoint.clone(),
            etcd_version: status.version().to_string(),
            cluster_id: id_hex(cluster),
            member_id: id_hex(member),
            leader_id: id_hex(leader),
            members,
            db_size: status.db_size(),
            db_size_in_use: status.raft_used_db_size(),
            raft_term: term,
            raft_index: status.raft_index(),
            revision,
            compact_revision: compact,
            keys,
            tls: false,
            client_cert_auth: false,
            auth: match (user, auth_blocked) {
                (Some(u), _) => format!("enabled (authenticated as {u})"),
                (None, true) => "enabled (no credentials given: keys and revisions cannot be read; pass --user)".into(),
                (None, false) => "disabled".into(),
            },
            distribution: match distribution(&roots, named) {
                d if d.starts_with("none found") && !unnamed.is_empty() => {
                    format!("Kubernetes under a prefix not given ({}): give --etcd-prefix", unnamed.join(", "))
                }
                d => d,
            },
            kubernetes_roots: roots,
            unnamed_roots: unnamed,
            v2_api: String::new(),
            alarms,
        })
    })?;
    let tls = args.tls_files()?;
    report.tls = endpoint.starts_with("https://") || tls.is_some();
    report.client_cert_auth = tls.as_ref().is_some_and(|t| t.identity.is_some());
    report.v2_api = match crate::v2::V2::connect(args).and_then(|v2| v2.status_of("/v2/keys/")) {
        Ok(200) => "enabled (GET /v2/keys/ answers 200)".into(),
        Ok(code) => format!("disabled (GET /v2/keys/ answers {code})"),
        Err(e) => format!("unknown ({e})"),
    };
    Ok(report)
}

async fn members(c: &mut Client, args: &EtcdArgs, leader: u64) -> Result<Vec<Member>> {
    let list = c.member_list().await.map_err(|e| args.error("cannot list members", e))?;
    Ok(list
        .members()
        .iter()
        .map(|m| Member {
            id: id_hex(m.id()),
            name: m.name().to_string(),
            peer_urls: m.peer_urls().to_vec(),
            client_urls: m.client_urls().to_vec(),
            is_learner: m.is_learner(),
            is_leader: m.id() == leader,
        })
        .collect())
}

/// Keys under each Kubernetes root and in all, and whether auth kept them from being counted:
/// without credentials on an etcd with auth, reads are refused — reported, not a failure.
async fn key_counts(c: &mut Client, args: &EtcdArgs, has_user: bool, named: &Roots) -> Result<(Vec<Root>, i64, bool)> {
    let mut auth_blocked = false;
    let mut roots = Vec::new();
    for r in named.all() {
        let p = format!("{r}/");
        let keys = match count(c, args, &p).await {
            Ok(n) => n,
            Err(e) if e.kind() == Kind::Auth && !has_user => {
                auth_blocked = true;
                -1
            }
            Err(e) => return Err(e),
        };
        roots.push(Root { prefix: p, keys });
    }
    if auth_blocked {
        return Ok((roots, -1, true));
    }
    let r = c
        .get(vec![0u8], Some(GetOptions::new().with_from_key().with_count_only()))
        .await
        .map_err(|e| args.error("cannot count keys", e))?;
    Ok((roots, r.count(), false))
}

async fn alarms(c: &mut Client) -> Vec<String> {
    match c.alarm(etcd_client::AlarmAction::Get, etcd_client::AlarmType::None, None).await {
        Ok(a) => a.alarms().iter().map(|m| format!("{:?} on member {}", m.alarm(), id_hex(m.member_id()))).collect(),
        Err(_) => Vec::new(),
    }
}

/// The Kubernetes roots (/registry, /kubernetes.io, /openshift.io and the `--etcd-prefix` in
/// `named`) that hold keys: as v3 prefixes (`/registry/`), or with `v2` as v2 directories
/// (`/registry`).
pub fn kubernetes_roots(args: &EtcdArgs, v2: bool, named: &Roots) -> Result<Vec<String>> {
    if v2 {
        let client = crate::v2::V2::connect(args)?;
        let mut found = Vec::new();
        for r in named.all() {
            if client.has_nodes(r)? {
                found.push(r.to_string());
            }
        }
        return Ok(found);
    }
    let rt = reshifter_format::parallel::runtime(1)?;
    rt.block_on(async {
        let mut c = args.connect().await?;
        let mut found = Vec::new();
        for r in named.all() {
            let p = format!("{r}/");
            if count(&mut c, args, &p).await? > 0 {
                found.push(p);
            }
        }
        Ok(found)
    })
}

/// Run etcd-explore: a table, or JSON with `--json`.
pub fn run(args: EtcdArgs, json: bool, named: &Roots) -> Result<()> {
    let r = explore(&args, named)?;
    let mut out = Output::create(None)?;
    if json {
        serde_json::to_writer_pretty(&mut out, &r)?;
        out.write_all(b"\n")?;
    } else {
        out.write_all(table(&r).as_bytes())?;
    }
    out.finish()?;
    Ok(())
}

fn table(r: &Explore) -> String {
    let mut t = String::new();
    let mut row = |k: &str, v: String| t.push_str(&format!("{k:<18} {v}\n"));
    row("endpoint", r.endpoint.clone());
    row("etcd version", r.etcd_version.clone());
    row("cluster id", r.cluster_id.clone());
    row("member id", r.member_id.clone());
    row("leader", r.leader_id.clone());
    row("db size", format!("{} ({} in use)", human_bytes(r.db_size as u64), human_bytes(r.db_size_in_use as u64)));
    row("raft", format!("term {}, index {}", r.raft_term, r.raft_index));
    row(
        "revision",
        match r.compact_revision {
            0 => format!("{} (compaction unknown)", r.revision),
            1 => format!("{} (nothing compacted)", r.revision),
            c => format!("{} (compacted at {c}: older revisions are gone)", r.revision),
        },
    );
    row("keys", r.keys.to_string());
    row(
        "TLS",
        if r.tls {
            format!("on{}", if r.client_cert_auth { ", client certificate" } else { "" })
        } else {
            "off".into()
        },
    );
    row("auth", r.auth.clone());
    row("v2 API", r.v2_api.clone());
    row("kubernetes", r.distribution.clone());
    for root in &r.kubernetes_roots {
        row("", format!("{:<16} {} keys", root.prefix, root.keys));
    }
    for root in &r.unnamed_roots {
        row("", format!("{root:<16} looks like an API server's --etcd-prefix {root} (give it to read these keys)"));
    }
    row("alarms", if r.alarms.is_empty() { "none".into() } else { r.alarms.join(", ") });
    t.push_str(&format!("members ({})\n", r.members.len()));
    for m in &r.members {
        t.push_str(&format!(
            "  {} {:<12} peers {} clients {}{}{}\n",
            m.id,
            m.name,
            m.peer_urls.join(","),
            m.client_urls.join(","),
            if m.is_leader { "  (leader)" } else { "" },
            if m.is_learner { "  (learner)" } else { "" }
        ));
    }
    t
}
