//! A control-plane node's files (issue 25): trees made with openssl by
//! tests/helpers/control_plane.sh (kubeadm-like and k3s-like) go through node-dump, an age
//! archive and node-load byte for byte; node-load plans, refuses and never writes through a
//! symlink or from a hostile stream; node-stats reports exactly; the captured
//! EncryptionConfiguration opens the etcd backup taken with it.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use reshifter_e2e::{Out, control_plane, sh, sh_input, tmp, trailer};

fn secret(byte: u8) -> String {
    base64_simd::STANDARD.encode_to_string([byte; 32])
}

/// A tree of `layout` under `root`, its encryption key `secret(key)`.
fn tree(layout: &str, root: &Path, key: u8, extra: &str) {
    control_plane(layout, root, &secret(key), extra);
}

fn is_root() -> bool {
    sh("id -u").stdout_str().trim() == "0"
}

/// The trailer's content and metadata digests: equal for two dumps of trees alike in bytes,
/// modes, owners, times and link targets (whatever their roots).
fn digests(stream: &[u8]) -> (String, String, u64) {
    let t = trailer(stream);
    (t["sha256"].as_str().unwrap().into(), t["meta_sha256"].as_str().unwrap().into(), t["count"].as_u64().unwrap())
}

fn header(stream: &[u8]) -> serde_json::Value {
    serde_json::from_slice(stream.split(|&b| b == b'\n').next().unwrap()).unwrap()
}

fn paths(stream: &[u8]) -> Vec<String> {
    stream
        .split(|&b| b == b'\n')
        .filter(|l| l.starts_with(b"{\"path\""))
        .map(|l| serde_json::from_slice::<serde_json::Value>(l).unwrap()["path"].as_str().unwrap().to_string())
        .collect()
}

fn dump(root: &Path, flags: &str) -> Out {
    let o = sh(&format!("node-dump -q --root {} {flags}", root.display()));
    o.ok();
    o
}

/// Everything under `dir`, as it is: nothing at all.
fn is_empty(dir: &Path) -> bool {
    !dir.exists() || std::fs::read_dir(dir).unwrap().next().is_none()
}

#[test]
fn a_kubeadm_tree_comes_back_byte_for_byte_through_an_age_archive() {
    let d = tmp();
    let (a, b, p) = (d.path().join("a"), d.path().join("b"), d.path().display().to_string());
    tree("kubeadm", &a, 1, "");
    if is_root() {
        // An owner that is not the writer's: node-load as root restores it.
        sh(&format!("chown 1234:4321 {}/etc/kubernetes/pki/sa.key", a.display())).ok();
    }
    let before = dump(&a, "").stdout;
    let h = header(&before);
    assert_eq!((h["kind"].as_str(), h["layouts"].clone()), (Some("files"), serde_json::json!(["kubeadm"])));
    assert_eq!(h["root"].as_str(), Some(&*std::fs::canonicalize(&a).unwrap().display().to_string()));
    let taken = paths(&before);
    for must in [
        "etc/kubernetes/admin.conf",
        "etc/kubernetes/pki/sa.key",
        "etc/kubernetes/pki/etcd/ca.key",
        "etc/kubernetes/manifests/kube-apiserver.yaml",
        // Named by the API server's flags, outside the directories taken whole.
        "etc/kubernetes/enc/enc.yaml",
        "etc/kubernetes/audit/policy.yaml",
        // Named by kubelet.conf, through a symlink: the link and its target.
        "var/lib/kubelet/pki/kubelet-client-current.pem",
        "var/lib/kubelet/pki/kubelet-client-2026-12-06-08-00-00.pem",
        "var/lib/kubelet",
    ] {
        assert!(taken.contains(&must.to_string()), "{must} is missing from {taken:?}");
    }
    assert!(
        !taken.iter().any(|t| t.starts_with("var/lib/etcd")),
        "the etcd data directory is not a node file: {taken:?}"
    );

    // node-dump | archive-pack (age) | archive-unpack | node-load into an empty root.
    sh(&format!("age-keygen -o {p}/key.txt 2>/dev/null && age-keygen -y {p}/key.txt > {p}/pub.txt")).ok();
    let o = sh(&format!(
        "node-dump --root {} | archive-pack -q --recipients-file {p}/pub.txt > {p}/node.zip.age && \
         archive-unpack -q --identity-file {p}/key.txt {p}/node.zip.age | node-load --root {}",
        a.display(),
        b.display()
    ));
    o.ok();
    assert!(
        o.stderr.contains("node-load: loaded: 41 created, 0 changed, 0 with new mode or owner, 0 unchanged under"),
        "{}",
        o.stderr
    );
    let after = dump(&b, "").stdout;
    assert_eq!(digests(&after), digests(&before), "the restored tree differs from the dumped one");
    // The same, seen from the files themselves.
    for (rel, mode) in
        [("etc/kubernetes/pki/sa.key", 0o600), ("etc/kubernetes/enc", 0o700), ("etc/kubernetes/pki", 0o755)]
    {
        let (ma, mb) = (std::fs::metadata(a.join(rel)).unwrap(), std::fs::metadata(b.join(rel)).unwrap());
        assert_eq!((mb.mode() & 0o7777, mb.mtime(), mb.mtime_nsec()), (mode, ma.mtime(), ma.mtime_nsec()), "{rel}");
        if is_root() {
            assert_eq!((mb.uid(), mb.gid()), (ma.uid(), ma.gid()), "{rel}");
        }
    }
    assert_eq!(
        std::fs::read(b.join("etc/kubernetes/pki/ca.key")).unwrap(),
        std::fs::read(a.join("etc/kubernetes/pki/ca.key")).unwrap()
    );
    assert_eq!(
        std::fs::read_link(b.join("var/lib/kubelet/pki/kubelet-client-current.pem")).unwrap(),
        Path::new("/var/lib/kubelet/pki/kubelet-client-2026-12-06-08-00-00.pem")
    );
    if is_root() {
        assert_eq!(std::fs::metadata(b.join("etc/kubernetes/pki/sa.key")).unwrap().uid(), 1234);
    }
    // Private keys never go to a terminal.
    let o = sh(&format!("script -qec 'node-dump --root {}' /dev/null", a.display()));
    assert!(o.stdout_str().contains("node-dump: refusing to write private keys to a terminal"), "{}", o.stdout_str());
}

#[test]
fn a_k3s_tree_is_found_and_comes_back() {
    let d = tmp();
    let (a, b) = (d.path().join("a"), d.path().join("b"));
    tree("k3s", &a, 2, "");
    let before = dump(&a, "").stdout;
    assert_eq!(header(&before)["layouts"], serde_json::json!(["k3s"]));
    let taken = paths(&before);
    for must in [
        "var/lib/rancher/k3s/server/token",
        "var/lib/rancher/k3s/server/node-token",
        "var/lib/rancher/k3s/server/tls/server-ca.key",
        "var/lib/rancher/k3s/server/tls/etcd/server-ca.crt",
        "var/lib/rancher/k3s/server/cred/encryption-config.json",
        "var/lib/rancher/k3s/server/manifests/coredns.yaml",
        "etc/rancher/k3s/config.yaml",
        // Named by config.yaml's kube-apiserver-arg.
        "etc/rancher/k3s/audit.yaml",
    ] {
        assert!(taken.contains(&must.to_string()), "{must} is missing from {taken:?}");
    }
    assert!(!taken.iter().any(|t| t.contains("/db")), "the datastore is not a node file: {taken:?}");
    sh_input(&format!("node-load -q --root {}", b.display()), &before).ok();
    assert_eq!(digests(&dump(&b, "").stdout), digests(&before));
    // --include takes what no layout knows; --layout none only that.
    std::fs::create_dir_all(a.join("etc/cni/net.d")).unwrap();
    std::fs::write(a.join("etc/cni/net.d/10-flannel.conflist"), "{}").unwrap();
    let only = dump(&a, "--layout none --include 'etc/cni/**'").stdout;
    assert_eq!(paths(&only), ["etc", "etc/cni", "etc/cni/net.d", "etc/cni/net.d/10-flannel.conflist"]);
    assert_eq!(header(&only)["layouts"], serde_json::json!(["include"]));
    let o = sh(&format!("node-dump -q --root {} > /dev/null", d.path().join("nothing-here").display()));
    assert_eq!(o.code, 2, "{}", o.stderr);
    std::fs::create_dir_all(d.path().join("empty")).unwrap();
    let o = sh(&format!("node-dump -q --root {} > /dev/null", d.path().join("empty").display()));
    assert_eq!(
        o.stderr,
        format!(
            "node-dump: no control-plane layout (kubeadm, k3s, rke2) under {}: name the files with --include GLOB, \
             or the root with --root DIR\n",
            std::fs::canonicalize(d.path().join("empty")).unwrap().display()
        )
    );
}

#[test]
fn an_rke2_tree_is_found_with_what_its_static_pods_name() {
    let d = tmp();
    let (a, b) = (d.path().join("a"), d.path().join("b"));
    tree("rke2", &a, 3, "");
    let before = dump(&a, "").stdout;
    assert_eq!(header(&before)["layouts"], serde_json::json!(["rke2"]));
    let taken = paths(&before);
    for must in [
        "var/lib/rancher/rke2/server/token",
        "var/lib/rancher/rke2/server/cred/encryption-config.json",
        "var/lib/rancher/rke2/agent/pod-manifests/kube-apiserver.yaml",
        // Named only by the API server's static pod.
        "etc/rancher/rke2/policy/static.yaml",
        // Named by config.yaml's kube-apiserver-arg.
        "etc/rancher/rke2/audit.yaml",
    ] {
        assert!(taken.contains(&must.to_string()), "{must} is missing from {taken:?}");
    }
    assert!(!taken.iter().any(|t| t.contains("/db")), "{taken:?}");
    sh_input(&format!("node-load -q --root {}", b.display()), &before).ok();
    assert_eq!(digests(&dump(&b, "").stdout), digests(&before));
}

#[test]
fn node_load_plans_and_overwrites_only_when_forced() {
    let d = tmp();
    let (a, b) = (d.path().join("a"), d.path().join("b"));
    tree("kubeadm", &a, 1, "");
    let stream = dump(&a, "").stdout;
    std::fs::write(d.path().join("s.ndjson"), &stream).unwrap();
    let s = d.path().join("s.ndjson").display().to_string();
    sh(&format!("node-load -q --root {} {s}", b.display())).ok();
    // Change one file, one mode; remove one file.
    std::fs::write(b.join("etc/kubernetes/admin.conf"), "edited").unwrap();
    sh(&format!("chmod 644 {}/etc/kubernetes/pki/sa.key && rm {}/etc/kubernetes/pki/ca.crt", b.display(), b.display()))
        .ok();
    let o = sh(&format!("node-load --root {} --plan {s} | grep -v '^same '", b.display()));
    assert_eq!(
        o.stdout_str(),
        "change file etc/kubernetes/admin.conf\ncreate file etc/kubernetes/pki/ca.crt\n\
         meta file etc/kubernetes/pki/sa.key mode 0644 -> 0600\n"
    );
    assert_eq!(
        o.stderr,
        format!(
            "node-load: plan: 1 created, 1 changed, 1 with new mode or owner, 38 unchanged under {} (from {})\n",
            b.display(),
            std::fs::canonicalize(&a).unwrap().display()
        )
    );
    assert_eq!(sh(&format!("node-load --root {} --plan {s} | grep -c '^same '", b.display())).stdout_str(), "38\n");
    // Without --force nothing is written, not even what needs no force.
    let o = sh(&format!("node-load --root {} {s}", b.display()));
    assert_eq!(o.code, 2);
    assert_eq!(
        o.stderr,
        "node-load: 1 file(s) differ from the stream (first: \"etc/kubernetes/admin.conf\"): nothing was written; \
         --plan lists them, --force overwrites them\n"
    );
    assert!(!b.join("etc/kubernetes/pki/ca.crt").exists());
    assert_eq!(std::fs::read(b.join("etc/kubernetes/admin.conf")).unwrap(), b"edited");
    sh(&format!("node-load -q --root {} --force {s}", b.display())).ok();
    assert_eq!(digests(&dump(&b, "").stdout), digests(&stream));
    // No temporary file is left beside what was written.
    assert_eq!(sh(&format!("find {} -name '*.node-load-*' | wc -l", b.display())).stdout_str(), "0\n");
}

/// A files stream of one hand-written entry line, sealed with the right trailer when `seal`.
fn hostile(d: &Path, name: &str, entry: &str) -> PathBuf {
    let p = d.join(name);
    let header = r#"{"type":"header","format":2,"kind":"files","tool":"test","time":"2026-12-06T00:00:00Z","root":"/","prefixes":[""],"sorted":true,"leases":[]}"#;
    let t = r#"{"type":"trailer","count":1,"bytes":1,"sha256":"00","meta_sha256":"00","header_sha256":"00"}"#;
    std::fs::write(&p, format!("{header}\n{entry}\n{t}\n")).unwrap();
    p
}

#[test]
fn hostile_streams_and_trees_get_nothing_written() {
    let d = tmp();
    let target = d.path().join("target");
    let meta = r#""mode":"0644","uid":0,"gid":0,"mtime":0"#;
    for (name, entry, code, message) in [
        ("dotdot", format!(r#"{{"path":"etc/../../x","kind":"dir",{meta}}}"#), 3, "has a \"..\" component"),
        (
            "absolute",
            format!(r#"{{"path":"/etc/shadow","kind":"file",{meta},"size":1,"value":"x"}}"#),
            3,
            "is absolute",
        ),
        ("device", format!(r#"{{"path":"dev/sda","kind":"device",{meta}}}"#), 3, "device nodes, FIFOs and sockets"),
        ("fifo", format!(r#"{{"path":"run/f","kind":"fifo",{meta}}}"#), 3, "device nodes, FIFOs and sockets"),
        (
            "escape",
            format!(r#"{{"path":"etc/l","kind":"symlink",{meta},"target":"../../etc/shadow"}}"#),
            3,
            "points out of the root",
        ),
        (
            "huge",
            format!(r#"{{"path":"big","kind":"file",{meta},"size":2147483648,"value":"x"}}"#),
            3,
            "claims 2147483648 bytes",
        ),
    ] {
        let p = hostile(d.path(), name, &entry);
        let o = sh(&format!("node-load --root {} {}", target.display(), p.display()));
        assert_eq!(o.code, code, "{name}: {}", o.stderr);
        assert!(o.stderr.contains(message), "{name}: {}", o.stderr);
        assert!(is_empty(&target), "{name}: something was written");
    }
    // A stream cut short: nothing written either.
    let a = d.path().join("a");
    tree("kubeadm", &a, 1, "");
    let stream = dump(&a, "").stdout;
    let altered = String::from_utf8(stream.clone()).unwrap().replacen("kind: Policy", "kind: Pwned!", 1);
    let o = sh_input(&format!("node-load --root {}", target.display()), altered.as_bytes());
    assert_eq!(o.code, 5, "{}", o.stderr);
    assert!(o.stderr.contains("the stream's digest does not match its trailer"), "{}", o.stderr);
    assert!(is_empty(&target));
    // Lines swapped, a line twice: the order checks refuse them before anything is written.
    let text = String::from_utf8(stream.clone()).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.swap(3, 4);
    let swapped = lines.join("\n") + "\n";
    let o = sh_input(&format!("node-load --root {}", target.display()), swapped.as_bytes());
    assert!(o.code == 3 && o.stderr.contains("is out of order (paths are in byte order)"), "{}", o.stderr);
    lines.swap(3, 4);
    lines.insert(5, lines[4]);
    let doubled = lines.join("\n") + "\n";
    let o = sh_input(&format!("node-load --root {}", target.display()), doubled.as_bytes());
    assert!(o.code == 3 && o.stderr.contains("appears twice"), "{}", o.stderr);
    assert!(is_empty(&target));
    let cut = &stream[..stream.len() - 200];
    let o = sh_input(&format!("node-load --root {}", target.display()), cut);
    assert_eq!(o.code, 4, "{}", o.stderr);
    assert!(is_empty(&target));
    // A symlink inside the target is never written through.
    let outside = d.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::create_dir_all(&target).unwrap();
    std::os::unix::fs::symlink(&outside, target.join("etc")).unwrap();
    let o = sh_input(&format!("node-load --root {}", target.display()), &stream);
    assert_eq!(o.code, 3, "{}", o.stderr);
    assert_eq!(
        o.stderr,
        "node-load: etc is a symlink or not a directory under the root: node-load does not write through symlinks \
         (move it away, or restore into an empty --root)\n"
    );
    assert!(is_empty(&outside));
    let o = sh_input(&format!("node-load --root {} --plan", target.display()), &stream);
    assert_eq!(o.code, 3, "{}", o.stderr);
}

/// node-stats' text with times and the node's names replaced, so that it can be compared.
fn normalized(text: &str, root: &Path) -> String {
    let re = regex::Regex::new(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ").unwrap();
    let root = std::fs::canonicalize(root).unwrap().display().to_string();
    let host = sh("cat /proc/sys/kernel/hostname").stdout_str().trim().to_string();
    re.replace_all(text, "TIME").replace(&root, "ROOT").replace(&format!(" on {host} "), " on HOST ")
}

const REPORT_HEAD: &str = "31 files from ROOT on HOST at TIME

certificates: 10
  etc/kubernetes/pki/apiserver-etcd-client.crt
    subject    CN=kube-apiserver-etcd-client
    issuer     CN=etcd-ca  signed by etc/kubernetes/pki/etcd/ca.crt
    not after  TIME (364 days left)
    key        etc/kubernetes/pki/apiserver-etcd-client.key
  etc/kubernetes/pki/apiserver-kubelet-client.crt
    subject    O=kubeadm:cluster-admins, CN=kube-apiserver-kubelet-client
    issuer     CN=kubernetes  signed by etc/kubernetes/pki/ca.crt
    not after  TIME (364 days left)
    key        etc/kubernetes/pki/apiserver-kubelet-client.key
  etc/kubernetes/pki/apiserver.crt
    subject    CN=kube-apiserver
    issuer     CN=kubernetes  signed by etc/kubernetes/pki/ca.crt
    SANs       DNS:cp1, DNS:kubernetes, DNS:kubernetes.default, DNS:kubernetes.default.svc, IP:10.96.0.1, IP:10.0.0.10
    not after  TIME (364 days left)
    key        etc/kubernetes/pki/apiserver.key
  etc/kubernetes/pki/ca.crt  (CA)
    subject    CN=kubernetes
    issuer     CN=kubernetes  signed by self
    not after  TIME (3649 days left)
    key        etc/kubernetes/pki/ca.key
";

const REPORT_TAIL: &str = "kubeconfigs: 4
  etc/kubernetes/admin.conf  server https://10.0.0.10:6443
    user kubernetes-admin: O=kubeadm:cluster-admins, CN=kubernetes-admin until TIME (364 days left), signed by etc/kubernetes/pki/ca.crt
  etc/kubernetes/controller-manager.conf  server https://10.0.0.10:6443
    user system:kube-controller-manager: CN=system:kube-controller-manager until TIME (364 days left), signed by etc/kubernetes/pki/ca.crt
  etc/kubernetes/kubelet.conf  server https://10.0.0.10:6443
    user default-auth: O=system:nodes, CN=system:node:cp1 until TIME (364 days left), signed by etc/kubernetes/pki/ca.crt
  etc/kubernetes/scheduler.conf  server https://10.0.0.10:6443
    user system:kube-scheduler: CN=system:kube-scheduler until TIME (364 days left), signed by etc/kubernetes/pki/ca.crt

warnings: 1
  etc/kubernetes/pki/old-client.crt: EXPIRED on TIME (1 days ago)
";

#[test]
fn node_stats_reports_certificates_keys_and_kubeconfigs() {
    let d = tmp();
    let a = d.path().join("a");
    tree("kubeadm", &a, 1, "--expired");
    let stream = dump(&a, "").stdout;
    // Judged an hour after the cluster CA was made (certificates made seconds apart: their days
    // left do not depend on when the test runs).
    let at = sh(&format!(
        "date -u -d \"$(openssl x509 -in {}/etc/kubernetes/pki/ca.crt -noout -startdate | cut -d= -f2) + 1 hour\" +%FT%TZ",
        a.display()
    ))
    .stdout_str();
    let o = sh_input(&format!("node-stats --at {}", at.trim()), &stream);
    o.ok();
    let text = normalized(&o.stdout_str(), &a);
    assert!(text.starts_with(REPORT_HEAD), "{text}");
    assert!(text.ends_with(REPORT_TAIL), "{text}");
    for line in [
        "  etc/kubernetes/pki/old-client.crt\n    subject    CN=old-client\n    issuer     CN=kubernetes  signed by etc/kubernetes/pki/ca.crt\n    not after  TIME (EXPIRED 1 days ago)\n",
        "  etc/kubernetes/pki/sa.key  private RSA 2048  pairs with etc/kubernetes/pki/sa.pub\n",
        "  etc/kubernetes/pki/sa.pub  public RSA 2048  pairs with etc/kubernetes/pki/sa.key\n",
        "  etc/kubernetes/pki/etcd/server.key  private RSA 2048  etc/kubernetes/pki/etcd/server.crt\n",
        "    SANs       DNS:cp1, DNS:localhost, IP:10.0.0.10, IP:127.0.0.1\n",
    ] {
        assert!(text.contains(line), "{line} missing from\n{text}");
    }
    // --warn-days and --at move the horizon; --json is for jq.
    let o = sh_input(&format!("node-stats --json --warn-days 400 --at {}", at.trim()), &stream);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["certificates"].as_array().unwrap().len(), 10);
    assert_eq!(v["keys"].as_array().unwrap().len(), 12);
    let warnings: Vec<&str> = v["warnings"].as_array().unwrap().iter().map(|w| w.as_str().unwrap()).collect();
    assert_eq!(warnings.iter().filter(|w| w.contains("expires on")).count(), 9, "{warnings:?}");
    let o = sh_input("node-stats --json --at 2040-01-01T00:00:00Z", &stream);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["certificates"].as_array().unwrap().iter().all(|c| c["expired"] == true));
    // A key without its certificate, a certificate whose CA is not in the stream.
    sh(&format!(
        "rm {0}/etc/kubernetes/pki/front-proxy-client.crt {0}/etc/kubernetes/pki/front-proxy-ca.crt",
        a.display()
    ))
    .ok();
    let o = sh(&format!("node-dump -q --root {} | node-stats", a.display()));
    assert!(
        o.stdout_str().contains(
            "  etc/kubernetes/pki/front-proxy-client.key: a private key that matches no certificate or public key in the stream\n"
        ),
        "{}",
        o.stdout_str()
    );
    let o = sh_input(
        "node-stats",
        b"{\"type\":\"header\",\"format\":2,\"tool\":\"t\",\"time\":\"2026-12-06T00:00:00Z\",\"sorted\":true}\n",
    );
    assert_eq!(o.code, 3);
    assert_eq!(
        o.stderr,
        "node-stats: line 1: this is an etcd stream (etcd-dump or etcd-watch), not a files stream (node-dump)\n"
    );
}

/// A keyspace of two Secrets sealed with aescbc key `key1` = `secret(key)` (by the independent
/// implementation in tests/helpers/atrest.py) and one ConfigMap in the clear.
fn sealed_keyspace(dir: &Path, key: u8) -> PathBuf {
    let helper = Path::new(env!("CARGO_MANIFEST_DIR")).join("helpers/atrest.py");
    let mut h = reshifter_format::Header::new("test");
    h.prefixes = vec!["/registry/".into()];
    h.complete = true;
    let mut w = reshifter_format::StreamWriter::new(Vec::new(), &h).unwrap();
    for (k, plain) in [
        ("/registry/configmaps/default/c", None),
        ("/registry/secrets/default/a", Some(&b"k8s\0secret-a"[..])),
        ("/registry/secrets/kube-system/b", Some(&b"k8s\0secret-b"[..])),
    ] {
        let value = match plain {
            Some(p) => {
                let o = sh_input(
                    &format!("/usr/bin/python3 {} seal aescbc key1 {} '{k}'", helper.display(), secret(key)),
                    p,
                );
                o.ok();
                o.stdout
            }
            None => b"k8s\0configmap".to_vec(),
        };
        let r = reshifter_format::Record {
            key: k.into(),
            value,
            create_revision: 2,
            mod_revision: 3,
            version: 1,
            lease: 0,
        };
        w.write(&r).unwrap();
    }
    let p = dir.join("etcd.ndjson");
    std::fs::write(&p, w.finish().unwrap().0).unwrap();
    p
}

#[test]
fn one_archive_holds_the_keyspace_and_the_node_files_that_open_it() {
    let d = tmp();
    let p = d.path().display().to_string();
    let (a, b) = (d.path().join("a"), d.path().join("b"));
    tree("kubeadm", &a, 1, "");
    sh(&format!("node-dump -q --root {} -o {p}/node.ndjson", a.display())).ok();
    let etcd = sealed_keyspace(d.path(), 1).display().to_string();
    sh(&format!("archive-pack -q --node-files {p}/node.ndjson {etcd} -o {p}/both.zip")).ok();
    let out = sh(&format!(
        "{} archive {p}/both.zip",
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/conformance.py").display()
    ));
    assert_eq!(
        out.stdout_str(),
        "archive: format 2, 3 entries, 211 bytes; node files: files archive: 1 chunks, 41 entries\n",
        "{}",
        out.stderr
    );
    // The keyspace by default, byte for byte; the node's files with --node-files.
    assert_eq!(sh(&format!("archive-unpack -q {p}/both.zip | cmp - {etcd}")).code, 0);
    assert_eq!(sh(&format!("archive-unpack -q --node-files {p}/both.zip | cmp - {p}/node.ndjson")).code, 0);
    // Files first, then the captured EncryptionConfiguration opens every Secret of the keyspace.
    sh(&format!("archive-unpack -q --node-files {p}/both.zip | node-load -q --root {}", b.display())).ok();
    let o = sh(&format!(
        "archive-unpack --verify --encryption-config {}/etc/kubernetes/enc/enc.yaml {p}/both.zip",
        b.display()
    ));
    o.ok();
    // A node whose encryption key is not the one the Secrets were sealed with: exit 5.
    let (c, e) = (d.path().join("c"), d.path().join("e"));
    tree("kubeadm", &c, 9, "");
    sh(&format!("node-dump -q --root {} | node-load -q --root {}", c.display(), e.display())).ok();
    let o = sh(&format!(
        "archive-unpack -q --verify --encryption-config {}/etc/kubernetes/enc/enc.yaml {p}/both.zip",
        e.display()
    ));
    assert_eq!(o.code, 5, "{}", o.stderr);
    assert!(o.stderr.contains("2 encrypted values do not decrypt"), "{}", o.stderr);
    // A damaged node part fails the whole archive.
    sh(&format!("archive-pack -q --compression store --node-files {p}/node.ndjson {etcd} -o {p}/stored.zip")).ok();
    let mut bytes = std::fs::read(d.path().join("stored.zip")).unwrap();
    let at = bytes.windows(12).position(|w| w == b"kind: Policy").expect("the audit policy, stored");
    bytes[at] = b'K';
    std::fs::write(d.path().join("bad.zip"), &bytes).unwrap();
    let o = sh(&format!("archive-unpack -q --verify {p}/bad.zip"));
    assert_eq!(o.code, 5, "{}", o.stderr);
    let o = sh(&format!("archive-unpack -q {p}/bad.zip > {p}/out.ndjson"));
    assert_eq!(o.code, 5, "{}", o.stderr);
    // An archive without node files, asked for them; node files that are not a files stream.
    sh(&format!("archive-pack -q {etcd} -o {p}/plain.zip")).ok();
    let o = sh(&format!("archive-unpack -q --node-files {p}/plain.zip"));
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (
            3,
            "archive-unpack: the archive carries no node files (it was packed without --node-files): --node-files has nothing to write\n"
        )
    );
    let o = sh(&format!("archive-pack -q --node-files {etcd} {etcd} -o {p}/x.zip"));
    assert_eq!(o.code, 3, "{}", o.stderr);
    assert!(
        o.stderr.starts_with(&format!("archive-pack: --node-files {etcd}: line 1: this is an etcd stream")),
        "{}",
        o.stderr
    );
    assert!(!d.path().join("x.zip").exists());
}

#[test]
fn rcli_and_the_server_back_up_the_node_with_the_keyspace_and_check_the_pair() {
    let etcd = reshifter_e2e::Etcd::start();
    let d = tmp();
    let p = d.path().display().to_string();
    let stream = sealed_keyspace(d.path(), 1);
    sh(&format!("etcd-load -q {} {}", etcd.flags(), stream.display())).ok();
    let (a, c) = (d.path().join("a"), d.path().join("c"));
    tree("kubeadm", &a, 1, "");
    tree("kubeadm", &c, 9, "");
    let node = dump(&a, "").stdout;

    // rcli: one backup id, both halves, the pair checked.
    let o = sh(&format!("rcli backup create -e {} -t {p}/store --node-root {}", etcd.endpoint, a.display()));
    let id = o.ok().stdout_str().trim().to_string();
    assert!(
        o.stderr.contains(
            "rcli: the node's files are in the backup; their EncryptionConfiguration (etc/kubernetes/enc/enc.yaml) \
             opens every encrypted value\n"
        ),
        "{}",
        o.stderr
    );
    let carried = sh(&format!("archive-unpack -q --node-files {p}/store/{id}.zip")).stdout;
    assert_eq!(digests(&carried), digests(&node));
    // Another node's files: the backup is kept, and the mismatch is an integrity failure.
    let o = sh(&format!("rcli backup create -e {} -t {p}/store --node-root {}", etcd.endpoint, c.display()));
    assert_eq!(o.code, 5, "{}", o.stderr);
    assert!(
        o.stderr.contains(
            "but the EncryptionConfiguration captured with the node (etc/kubernetes/enc/enc.yaml) does not open 2 \
             encrypted values of its keyspace"
        ) && o.stderr.contains("do not belong together"),
        "{}",
        o.stderr
    );
    assert_eq!(sh(&format!("rcli backup list -t {p}/store | wc -l")).stdout_str(), "2\n");
    assert_eq!(sh(&format!("ls -A {p}/store | grep -c '^\\.rcli-'")).stdout_str(), "0\n", "temporary files left");

    // The server: encrypted backups carry the node's files too; a restore reads the keyspace.
    sh(&format!("age-keygen -o {p}/key.txt 2>/dev/null && age-keygen -y {p}/key.txt > {p}/pub.txt")).ok();
    let dst = reshifter_e2e::Etcd::start();
    let s = reshifter_e2e::server::Server::start(
        &etcd.endpoint,
        &format!(
            "--node-root {} --recipients-file {p}/pub.txt --identity-file {p}/key.txt --allow-endpoint {}",
            a.display(),
            dst.endpoint
        ),
    );
    let id = s.json("POST", "/v1/backup", Some("{}"))["backupid"].as_str().unwrap().to_string();
    let zip = s.store.join(format!("{id}.zip"));
    let carried = sh(&format!("archive-unpack -q --identity-file {p}/key.txt --node-files {}", zip.display())).stdout;
    assert_eq!(digests(&carried), digests(&node));
    let body = format!("{{\"endpoint\":\"{}\",\"backupid\":\"{id}\"}}", dst.endpoint);
    assert_eq!(s.json("POST", "/v1/restore", Some(&body))["keysrestored"], 3);
    let bad = reshifter_e2e::server::Server::start(&etcd.endpoint, &format!("--node-root {}", c.display()));
    let (status, text) = bad.call("POST", "/v1/backup", Some("{}"), true);
    assert_ne!(status, 200);
    assert!(text.contains("do not belong together"), "{status} {text}");
}

#[test]
fn kv_diff_names_what_changed_on_a_node() {
    let d = tmp();
    let p = d.path().display().to_string();
    let (a, b) = (d.path().join("a"), d.path().join("b"));
    tree("kubeadm", &a, 1, "");
    sh(&format!(
        "node-dump -q --root {} -o {p}/a.ndjson && node-load -q --root {} {p}/a.ndjson",
        a.display(),
        b.display()
    ))
    .ok();
    assert_eq!(sh(&format!("node-dump -q --root {} | kv-diff -q {p}/a.ndjson -", b.display())).code, 0);
    sh(&format!(
        "cd {} && chmod 640 etc/kubernetes/pki/ca.key && echo x >> etc/kubernetes/admin.conf && rm etc/kubernetes/pki/sa.pub \
         && ln -sfn /elsewhere.pem var/lib/kubelet/pki/kubelet-client-current.pem",
        b.display()
    ))
    .ok();
    let o = sh(&format!(
        "node-dump -q --root {} | kv-diff {p}/a.ndjson - | jq -c '[.change, .path, .a.mode, .b.mode, .b.target]'",
        b.display()
    ));
    assert_eq!(
        o.stdout_str(),
        "[\"changed\",\"etc/kubernetes/admin.conf\",\"0600\",\"0600\",null]\n\
         [\"changed\",\"etc/kubernetes/pki/ca.key\",\"0600\",\"0640\",null]\n\
         [\"removed\",\"etc/kubernetes/pki/sa.pub\",\"0644\",null,null]\n\
         [\"removed\",\"var/lib/kubelet/pki/kubelet-client-2026-12-06-08-00-00.pem\",\"0600\",null,null]\n\
         [\"changed\",\"var/lib/kubelet/pki/kubelet-client-current.pem\",\"0777\",\"0777\",\"/elsewhere.pem\"]\n"
    );
    // No content in the output unless asked for: these are keys.
    let o = sh(&format!("node-dump -q --root {} | kv-diff {p}/a.ndjson -", b.display()));
    assert_eq!(o.code, 1);
    assert!(!o.stdout_str().contains("BEGIN"), "{}", o.stdout_str());
    // The node's files of two backups; a keyspace against files is refused.
    let etcd = sealed_keyspace(d.path(), 1).display().to_string();
    sh(&format!("archive-pack -q --node-files {p}/a.ndjson {etcd} -o {p}/1.zip")).ok();
    sh(&format!("node-dump -q --root {} | archive-pack -q -o {p}/bfiles.zip", b.display())).ok();
    sh(&format!(
        "node-dump -q --root {} -o {p}/b.ndjson && archive-pack -q --node-files {p}/b.ndjson {etcd} -o {p}/2.zip",
        b.display()
    ))
    .ok();
    let o = sh(&format!("kv-diff --node-files --stat {p}/1.zip {p}/2.zip"));
    assert_eq!((o.code, o.stdout_str()), (1, "{\"files\":true,\"added\":0,\"removed\":2,\"changed\":3}\n".to_string()));
    assert_eq!(sh(&format!("kv-diff -q {p}/1.zip {p}/2.zip")).code, 0, "the keyspaces are the same");
    let o = sh(&format!("kv-diff -q {p}/1.zip {p}/bfiles.zip"));
    assert_eq!(o.code, 2, "{}", o.stderr);
}

#[test]
fn s3_carries_and_checks_files_streams_and_archives_of_them() {
    let s3 = reshifter_e2e::S3::start();
    let d = tmp();
    let p = d.path().display().to_string();
    let a = d.path().join("a");
    tree("k3s", &a, 2, "");
    let f = s3.flags();
    let run = |script: &str| reshifter_e2e::sh_env(script, &s3.env());
    run(&format!("node-dump -q --root {} | s3-push -q {f} --create-bucket s3://nodes/cp1.ndjson", a.display())).ok();
    run(&format!("node-dump -q --root {} | archive-pack -q | s3-push -q {f} s3://nodes/cp1.zip", a.display())).ok();
    // A files stream cut short is refused before anything is stored.
    let cut =
        run(&format!("node-dump -q --root {} | head -c 3000 | s3-push -q {f} s3://nodes/cut.ndjson", a.display()));
    assert_ne!(cut.code, 0, "{}", cut.stderr);
    let ls = run(&format!("s3-ls {f} s3://nodes/"));
    let lines = ls.ok().json_lines();
    let seen: Vec<(&str, &str, bool)> = lines
        .iter()
        .map(|l| (l["uri"].as_str().unwrap(), l["checked"].as_str().unwrap_or("-"), l["verified"].as_bool().unwrap()))
        .collect();
    assert_eq!(seen, [("s3://nodes/cp1.ndjson", "files", true), ("s3://nodes/cp1.zip", "archive", true)]);
    let back = run(&format!("s3-pull -q {f} s3://nodes/cp1.zip | archive-unpack -q | node-load -q --root {p}/b"));
    back.ok();
    let again = run(&format!("s3-pull -q {f} s3://nodes/cp1.ndjson"));
    assert_eq!(digests(&again.ok().stdout), digests(&dump(&d.path().join("b"), "").stdout));
}

#[test]
fn a_directory_node_dump_cannot_read_fails_the_dump() {
    let d = tmp();
    let a = d.path().join("a");
    let private = a.join("etc/kubernetes/pki/private");
    std::fs::create_dir_all(&private).unwrap();
    std::fs::write(a.join("etc/kubernetes/pki/ca.crt"), "x").unwrap();
    std::fs::write(private.join("k"), "k").unwrap();
    sh(&format!("chmod 755 {} && chmod 700 {}", d.path().display(), private.display())).ok();
    // The executable where the unprivileged user can run it, whatever the checkout's modes.
    let exe = d.path().join("node-dump");
    std::fs::copy(reshifter_e2e::bin("node-dump"), &exe).unwrap();
    // As an unprivileged user (root reads everything): before, the directory was left out with
    // a warning and the dump exited 0 — a backup missing files that looked whole.
    let o = sh(&format!(
        "setpriv --reuid=65534 --regid=65534 --clear-groups {} --root {} -o {}/out.ndjson",
        exe.display(),
        a.display(),
        d.path().display()
    ));
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert_eq!(
        o.stderr,
        "node-dump: cannot read the directory etc/kubernetes/pki/private: Permission denied (os error 13)\n"
    );
    assert!(!d.path().join("out.ndjson").exists());
}

#[test]
fn many_certificates_of_one_subject_are_judged_in_bounded_work() {
    let d = tmp();
    let a = d.path().join("a");
    tree("kubeadm", &a, 1, "");
    let pki = a.join("etc/kubernetes/pki");
    // 2,000 impostors of the cluster CA's subject (another key), sorted before it, and 2,000
    // copies of a certificate the real CA signed: each copy would try every impostor first.
    sh(&format!(
        "cd {} && openssl req -x509 -newkey rsa:2048 -nodes -keyout /dev/null -out impostor.pem -subj /CN=kubernetes -days 1 2>/dev/null \
         && for i in $(seq 2000); do cat impostor.pem; done > a-impostors.crt && rm impostor.pem \
         && for i in $(seq 2000); do cat apiserver.crt; done > z-copies.crt",
        pki.display()
    ))
    .ok();
    let started = std::time::Instant::now();
    let o = sh(&format!("node-dump -q --root {} | node-stats --json", a.display()));
    let took = started.elapsed();
    o.ok();
    // Before, 4 million signature checks: minutes. Now at most 100,000, and the report says so.
    assert!(took < std::time::Duration::from_secs(60), "{took:?}");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let warnings = v["warnings"].as_array().unwrap();
    assert!(
        warnings
            .iter()
            .any(|w| w == "signatures past the first 100000 tries were not checked: their certificates name no signer"),
        "{warnings:?}"
    );
    // What was judged before the bound still is: the CA and the API server's certificate.
    let apiserver =
        v["certificates"].as_array().unwrap().iter().find(|c| c["path"] == "etc/kubernetes/pki/apiserver.crt");
    assert_eq!(apiserver.unwrap()["signed_by"], "etc/kubernetes/pki/ca.crt");
}
