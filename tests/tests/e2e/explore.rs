//! etcd-explore against plain, TLS, auth-enabled and v2-enabled etcd.

use reshifter_e2e::{Etcd, sh, sh_env};

fn explore(e: &Etcd, env: &[(&str, &str)]) -> serde_json::Value {
    let out = sh_env(&format!("etcd-explore --json {}", e.flags()), env);
    out.ok();
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn plain_etcd_with_a_kubernetes_keyspace() {
    let e = Etcd::start();
    sh(&format!("kv-gen --objects 500 | etcd-load -q {}", e.flags())).ok();
    e.etcdctl(&["put", "/openshift.io/routes/a/b", "x"]).ok();
    let r = explore(&e, &[]);
    assert_eq!(r["etcd_version"], "3.4.23");
    assert_eq!(r["members"].as_array().unwrap().len(), 1);
    assert_eq!(r["members"][0]["is_leader"], true);
    assert_eq!(r["members"][0]["name"], "test");
    assert_eq!(r["leader_id"], r["member_id"]);
    assert_eq!(r["kubernetes_roots"][0], serde_json::json!({"prefix": "/registry/", "keys": 500}));
    assert_eq!(r["kubernetes_roots"][2], serde_json::json!({"prefix": "/openshift.io/", "keys": 1}));
    assert_eq!(r["distribution"], "OpenShift 4 (/registry with /openshift.io)");
    assert_eq!(r["keys"], 501);
    assert_eq!(r["revision"].as_i64().unwrap(), e.revision());
    assert_eq!(r["compact_revision"], 1);
    assert_eq!(r["tls"], false);
    assert_eq!(r["auth"], "disabled");
    assert_eq!(r["v2_api"], "disabled (GET /v2/keys/ answers 404)");
    assert!(r["db_size"].as_i64().unwrap() > 0);
    // After a compaction the report says where.
    let rev = e.revision();
    e.etcdctl(&["compact", &rev.to_string()]).ok();
    assert_eq!(explore(&e, &[])["compact_revision"], rev);
    let table = sh(&format!("etcd-explore {}", e.flags()));
    table.ok();
    assert!(
        table
            .stdout_str()
            .contains(&format!("revision           {rev} (compacted at {rev}: older revisions are gone)\n"))
    );
}

#[test]
fn tls_auth_and_v2() {
    let t = Etcd::start_tls();
    let r = explore(&t, &[]);
    assert_eq!((r["tls"].as_bool(), r["client_cert_auth"].as_bool()), (Some(true), Some(true)));
    assert_eq!(r["v2_api"], "disabled (GET /v2/keys/ answers 404)");
    assert_eq!(r["distribution"], "none found (no /registry, /kubernetes.io or /openshift.io keys)");

    let a = Etcd::start_auth();
    assert_eq!(explore(&a, &a.auth_env())["auth"], "enabled (authenticated as root)");
    let blind = explore(&a, &[]);
    assert_eq!(blind["auth"], "enabled (no credentials given: keys and revisions cannot be read; pass --user)");
    assert_eq!(blind["keys"], -1);

    let v2 = Etcd::start_with(&["--enable-v2"]);
    assert_eq!(explore(&v2, &[])["v2_api"], "enabled (GET /v2/keys/ answers 200)");

    let none = sh("etcd-explore --endpoints 127.0.0.1:1 --dial-timeout 300ms");
    assert_eq!(none.code, 6);
    assert!(
        none.stderr.starts_with("etcd-explore: cannot read the status of etcd at 127.0.0.1:1: "),
        "{}",
        none.stderr
    );
}

/// An etcd that holds an API server's keys under `--etcd-prefix /tenant-a` and another under
/// `/registry/t2`: etcd-explore names both prefixes; given one, it counts it as Kubernetes, and
/// rcli backs it up.
#[test]
fn kubernetes_under_an_etcd_prefix() {
    let e = Etcd::start();
    sh(&format!(
        "kv-gen --objects 300 | kv-filter -q --rewrite-prefix /registry/=/tenant-a/ | etcd-load -q {}",
        e.flags()
    ))
    .ok();
    e.etcdctl(&["put", "/registry/t2/namespaces/kube-system", "x"]).ok();
    e.etcdctl(&["put", "/zzz/not-kubernetes", "x"]).ok();
    // A key whose first segment is not text sorts before a root that is: the scan steps past it
    // by its own bytes.
    reshifter_e2e::rt().block_on(async {
        let mut c = e.client().await;
        c.put(b"/\xc3\x28/x".to_vec(), "x", None).await.unwrap();
        c.put("/\u{e9}t/namespaces/kube-system", "x", None).await.unwrap();
    });
    let r = explore(&e, &[]);
    assert_eq!(r["unnamed_roots"], serde_json::json!(["/registry/t2", "/tenant-a", "/\u{e9}t"]));
    assert_eq!(r["distribution"], "Kubernetes (/registry)");
    let o = sh(&format!("etcd-explore --etcd-prefix /tenant-a --json {}", e.flags()));
    let r: serde_json::Value = serde_json::from_slice(&o.ok().stdout).unwrap();
    assert_eq!(r["distribution"], "Kubernetes (--etcd-prefix /tenant-a)");
    assert_eq!(r["kubernetes_roots"][0], serde_json::json!({"prefix": "/tenant-a/", "keys": 300}));
    assert_eq!(r["unnamed_roots"], serde_json::json!(["/registry/t2", "/\u{e9}t"]));
    let table = sh(&format!("etcd-explore {}", e.flags()));
    assert!(
        table.ok().stdout_str().contains(
            "                   /tenant-a        looks like an API server's --etcd-prefix /tenant-a (give it to read these keys)\n"
        ),
        "{}",
        table.stdout_str()
    );
    let d = reshifter_e2e::tmp();
    let o = sh(&format!("rcli backup create -e {} -t {} --etcd-prefix /tenant-a", e.endpoint, d.path().display()));
    let id = o.ok().stdout_str().trim().to_string();
    let o = sh(&format!("archive-unpack {}/{id}.zip | kv-stats --json --etcd-prefix /tenant-a", d.path().display()));
    let v: serde_json::Value = serde_json::from_slice(&o.ok().stdout).unwrap();
    assert_eq!(v["roots"]["/tenant-a"]["keys"], 300, "{v}");
    assert_eq!(v["roots"]["/registry"]["keys"], 1, "the other API server's root, backed up too");
}
