//! rcli, ReShifter's command line, against real etcd (v3, and v2 with --enable-v2) and the S3
//! test server: each command, its environment, both archive layouts, ReShifter's remote layout
//! and the kops 1.6 fixture.

use reshifter_e2e::{Etcd, S3, sh, sh_env, tmp};

fn k8s_keys(e: &Etcd) {
    let kvs: Vec<(Vec<u8>, Vec<u8>)> = [
        ("/registry/deployments/default/web", "deployment web"),
        ("/registry/services/specs/default/web", "service web"),
        ("/registry/pods/default/web-1", "k8s\u{0}pod"),
        ("/registry/configmaps/kube-system/c:colon", "config"),
    ]
    .iter()
    .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
    .collect();
    e.put_all(&kvs);
    e.put_all(&[(b"/unrelated/key".to_vec(), b"not kubernetes".to_vec())]);
}

fn kube_keys(e: &Etcd) -> Vec<(Vec<u8>, Vec<u8>)> {
    e.get_all().into_iter().filter(|(k, _, _)| k.starts_with(b"/registry/")).map(|(k, v, _)| (k, v)).collect()
}

#[test]
fn backup_list_and_restore_locally_in_both_layouts() {
    let src = Etcd::start();
    k8s_keys(&src);
    let d = tmp();
    let p = d.path().display();
    for layout in ["native", "reshifter"] {
        let o = sh(&format!("rcli backup create -e {} -t {p}/{layout} --layout {layout}", src.endpoint));
        let id = o.ok().stdout_str().trim().to_string();
        assert!(id.len() == 10 && id.bytes().all(|b| b.is_ascii_digit()), "{id:?}");
        assert!(o.stderr.contains(&format!("rcli: created backup {p}/{layout}/{id}.zip")), "{}", o.stderr);
        let list = sh(&format!("rcli backup list -t {p}/{layout}"));
        assert_eq!(list.ok().stdout_str(), format!("{id}\n"));
        let dst = Etcd::start();
        let o = sh(&format!("rcli restore -e {} -i {id} -t {p}/{layout}", dst.endpoint));
        assert!(o.ok().stdout_str().starts_with(&format!("restored 4 keys from {id}.zip in ")), "{}", o.stdout_str());
        assert_eq!(kube_keys(&dst), kube_keys(&src), "{layout}");
        assert!(dst.get_all().iter().all(|(k, _, _)| k.starts_with(b"/registry/")), "only the Kubernetes roots");
        // --json: ReShifter's API names.
        let o = sh(&format!("rcli restore -e {} -i {id} -t {p}/{layout} --json", dst.endpoint));
        let v: serde_json::Value = serde_json::from_slice(&o.ok().stdout).unwrap();
        assert_eq!(
            (v["outcome"].clone(), v["keysrestored"].clone()),
            (serde_json::json!("success"), serde_json::json!(4))
        );
    }
    // Our archive is verified and digested; ReShifter's layout is ReShifter's own.
    let list = sh(&format!("unzip -l {p}/reshifter/*.zip | grep -c content"));
    assert_eq!(list.ok().stdout_str().trim(), "4");
    let bad = sh(&format!("rcli restore -e {} -i 12ab -t {p}/native", src.endpoint));
    assert_eq!((bad.code, bad.stderr.as_str()), (2, "rcli: 12ab is not a valid backup ID (its Unix seconds)\n"));
    let none = sh(&format!("rcli restore -e {} -i 1000000000 -t {p}/native", src.endpoint));
    assert_eq!(none.code, 2);
    assert!(none.stderr.starts_with("rcli: no backup 1000000000 (looked for "), "{}", none.stderr);
}

#[test]
fn strategies_from_the_environment() {
    let src = Etcd::start();
    k8s_keys(&src);
    let d = tmp();
    let p = d.path().display();
    let o = sh_env(
        &format!("rcli backup create -e {} -t {p}", src.endpoint),
        &[("RS_BACKUP_STRATEGY", "filter:deployment,service")],
    );
    let id = o.ok().stdout_str().trim().to_string();
    let keys = sh(&format!("archive-unpack -q {p}/{id}.zip | jq -r 'select(.type | not) | .key'"));
    assert_eq!(keys.ok().stdout_str(), "/registry/deployments/default/web\n/registry/services/specs/default/web\n");
    // render: the keys and values on stdout, as a stream; no archive.
    let o =
        sh_env(&format!("rcli backup create -e {} -t {p}/render", src.endpoint), &[("RS_BACKUP_STRATEGY", "render")]);
    let n = reshifter_e2e::records(&o.ok().stdout).len();
    assert_eq!(n, 4);
    let render = d.path().join("render");
    assert!(!render.exists() || std::fs::read_dir(&render).unwrap().next().is_none(), "render makes no archive");
    let o = sh_env(&format!("rcli backup create -e {} -t {p}", src.endpoint), &[("RS_BACKUP_STRATEGY", "magic")]);
    assert_eq!(o.code, 2);
    assert_eq!(o.stderr, "rcli: RS_BACKUP_STRATEGY \"magic\": ReShifter's strategies are raw, render and filter:a,b\n");
    // explore, stats, version.
    let o = sh(&format!("rcli explore -e {}", src.endpoint));
    let text = o.ok().stdout_str();
    assert!(
        text.starts_with("Version: 3.4.")
            && text
                .contains("\nAPI: v3\nSecure: insecure etcd, no SSL/TLS configured\nDistro: Kubernetes (/registry)\n"),
        "{text}"
    );
    let o = sh(&format!("rcli stats -e {}", src.endpoint));
    assert_eq!(o.ok().stdout_str(), "Vanilla Kubernetes [keys:4, size:38]\n");
    assert_eq!(
        sh("rcli version").ok().stdout_str(),
        format!("rcli (reshifter) in version {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn backups_in_s3_in_reshifters_remote_layout() {
    let src = Etcd::start();
    k8s_keys(&src);
    let s3 = S3::start();
    let d = tmp();
    let p = d.path().display();
    let remote = format!("-r http://127.0.0.1:{} -b rsbackups", s3.port);
    let env: Vec<(&str, &str)> = vec![
        ("ACCESS_KEY_ID", reshifter_e2e::S3_ACCESS_KEY),
        ("SECRET_ACCESS_KEY", reshifter_e2e::S3_SECRET_KEY),
        ("AWS_REGION", "us-east-1"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_CONFIG_FILE", "/nonexistent"),
        ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"),
    ];
    let o = sh_env(&format!("rcli backup create -e {} -t {p}/local {remote}", src.endpoint), &env);
    let id = o.ok().stdout_str().trim().to_string();
    // The bucket holds <backup id>.zip at its root and nothing else, as ReShifter lists it.
    let objects: Vec<String> = std::fs::read_dir(s3.root().join("rsbackups"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    assert_eq!(objects, [format!("{id}.zip")]);
    let list = sh_env(&format!("rcli backup list {remote}"), &env);
    assert_eq!(list.ok().stdout_str(), format!("{id}\n"));
    let ls = sh_env(
        &format!(
            "s3-ls --layout reshifter --endpoint http://127.0.0.1:{} --json s3://rsbackups/ | jq -r .backup_id",
            s3.port
        ),
        &env,
    );
    assert_eq!(ls.ok().stdout_str(), format!("{id}\n"));
    // Restored from the remote into a fresh etcd, through an empty target directory.
    let dst = Etcd::start();
    let o = sh_env(&format!("rcli restore -e {} -i {id} -t {p}/elsewhere {remote}", dst.endpoint), &env);
    o.ok();
    assert_eq!(kube_keys(&dst), kube_keys(&src));
    // The s3 tools read the layout too: --latest is the highest backup id.
    let pulled = sh_env(
        &format!(
            "s3-pull -q --layout reshifter --latest --endpoint http://127.0.0.1:{} s3://rsbackups/ | archive-unpack -q --verify",
            s3.port
        ),
        &env,
    );
    pulled.ok();
}

#[test]
fn the_kops_fixture_restores_through_rcli() {
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fixtures/reshifter/1499588813-aws-kops-1.6.zip");
    // A missing fixture is a failure, never a silent skip.
    assert!(fixture.exists(), "{} is missing: the tests need ../shared beside the checkout", fixture.display());
    let d = tmp();
    std::fs::copy(&fixture, d.path().join("1499588813.zip")).unwrap();
    let dst = Etcd::start();
    let o = sh(&format!("rcli restore -e {} -i 1499588813 -t {}", dst.endpoint, d.path().display()));
    let out = o.ok().stdout_str();
    let n: usize = out.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(out.starts_with("restored ") && n > 100, "{out}");
    assert_eq!(dst.get_all().len(), n);
}

#[test]
fn a_v2_cluster_is_backed_up_and_restored_with_v2() {
    let src = Etcd::start_with(&["--enable-v2"]);
    for (k, v) in [("/registry/pods/default/web", "pod"), ("/registry/services/specs/default/web", "svc")] {
        sh(&format!("curl -sS -X PUT {}/v2/keys{k} -d value={v} > /dev/null", src.endpoint)).ok();
    }
    let d = tmp();
    let p = d.path().display();
    let o = sh(&format!("rcli backup create -e {} -t {p}", src.endpoint));
    let id = o.ok().stdout_str().trim().to_string();
    let h = sh(&format!("unzip -p {p}/{id}.zip reshifter/header.json | jq -r .api"));
    assert_eq!(h.ok().stdout_str(), "v2\n");
    let dst = Etcd::start_with(&["--enable-v2"]);
    let o = sh(&format!("rcli restore -e {} -i {id} -t {p}", dst.endpoint));
    assert!(o.ok().stdout_str().starts_with(&format!("restored 2 keys from {id}.zip")), "{}", o.stdout_str());
    let got = sh(&format!("curl -sS {}/v2/keys/registry/pods/default/web | jq -r .node.value", dst.endpoint));
    assert_eq!(got.ok().stdout_str(), "pod\n");
    // RS_ETCD_API_VERSION=v3 restores the same backup into v3 instead (a migration).
    let v3 = Etcd::start();
    let o = sh_env(&format!("rcli restore -e {} -i {id} -t {p}", v3.endpoint), &[("RS_ETCD_API_VERSION", "v3")]);
    o.ok();
    assert_eq!(v3.get_all().len(), 2);
}
