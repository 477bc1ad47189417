//! kv-filter, kv-seal and kv-stats over realistic keyspaces, checked against independent oracles
//! (jq, grep) and downstream tools.

use std::path::Path;

use reshifter_e2e::{Etcd, records, sh, sh_input, tmp};
use reshifter_format::{Header, Lease, Record, StreamWriter, lease_hex};
use reshifter_k8s::pb::k8s_envelope;

/// kv-gen keyspace written to `dir/gen.ndjson`.
fn generate(dir: &Path, n: u32) -> String {
    let p = dir.join("gen.ndjson").display().to_string();
    sh(&format!("kv-gen --objects {n} --seed 3 -o {p}")).ok();
    p
}

fn keys_of(stream: &[u8]) -> Vec<String> {
    records(stream).into_iter().map(|r| String::from_utf8(r.key).unwrap()).collect()
}

/// Keys selected by a jq expression over the records (the oracle).
fn jq_keys(file: &str, expr: &str) -> Vec<String> {
    let out = sh(&format!("jq -r 'select(.type | not) | select({expr}) | .key' {file}"));
    out.ok();
    out.stdout_str().lines().map(String::from).collect()
}

/// The namespace of a key as kube-apiserver lays keys out, in jq.
const JQ_NS: &str = r#"(.key | split("/")) as $s |
  (if ($s[2] == "services" and ($s[3] == "specs" or $s[3] == "endpoints")) then $s[4]
   elif ($s[2] | contains(".")) then (if ($s | length) >= 6 then $s[4] else null end)
   elif $s[2] == "namespaces" then $s[3]
   else (if ($s | length) >= 5 then $s[3] else null end) end)"#;

#[test]
fn selectors_match_an_independent_oracle() {
    let d = tmp();
    let g = generate(d.path(), 3000);
    let ns = "default";
    let cases: Vec<(String, String)> = vec![
        (
            format!("--namespace {ns} --exclude-resource events"),
            format!("({JQ_NS}) == \"{ns}\" and (.key | startswith(\"/registry/events/\") | not)"),
        ),
        (
            "--resource po,svc".into(),
            r#"(.key | startswith("/registry/pods/")) or (.key | startswith("/registry/services/specs/"))"#.into(),
        ),
        ("--resource endpoints".into(), r#".key | startswith("/registry/services/endpoints/")"#.into()),
        ("--resource nodes".into(), r#".key | startswith("/registry/minions/")"#.into()),
        (
            "--resource crd".into(),
            r#".key | startswith("/registry/apiextensions.k8s.io/customresourcedefinitions/")"#.into(),
        ),
        (
            format!("--resource certificates.cert-manager.io --namespace {ns}"),
            format!("(.key | startswith(\"/registry/cert-manager.io/certificates/{ns}/\"))"),
        ),
        (
            "--prefix /registry/pods/ --exclude-namespace kube-system".into(),
            r#"(.key | startswith("/registry/pods/")) and ((.key | startswith("/registry/pods/kube-system/")) | not)"#
                .into(),
        ),
        (
            "--strategy filter:deployment,service".into(),
            r#"(.key | contains("deployment")) or (.key | contains("service"))"#.into(),
        ),
        (
            "--glob '/registry/*/kube-public/*'".into(),
            r#"(.key | split("/") | length == 5 and .[3] == "kube-public")"#.into(),
        ),
        (
            "--regex '^/registry/(secrets|configmaps)/' --name '^api-'".into(),
            r#"(.key | test("^/registry/(secrets|configmaps)/[^/]+/api-"))"#.into(),
        ),
        (
            "--exclude-resource events,pods,replicasets --exclude-namespace kube-system,default".into(),
            format!(
                "((.key | test(\"^/registry/(events|pods|replicasets)/\")) | not) and ((({JQ_NS}) // \"\") | test(\"^(kube-system|default)$\") | not)"
            ),
        ),
    ];
    for (args, oracle) in cases {
        let out = sh(&format!("kv-filter -q {args} {g}"));
        out.ok();
        let got = keys_of(&out.stdout);
        let want = jq_keys(&g, &oracle);
        assert!(!want.is_empty(), "oracle for {args} selects nothing");
        assert_eq!(got, want, "kv-filter {args}");
        let header: serde_json::Value = serde_json::from_str(out.stdout_str().lines().next().unwrap()).unwrap();
        assert_eq!(header["history"][0], format!("kv-filter -q {} {g}", args.replace('\'', "")), "history for {args}");
    }
}

#[test]
fn filtered_streams_stay_valid_downstream() {
    let d = tmp();
    let p = d.path().display().to_string();
    let g = generate(d.path(), 1500);
    // Pack and verify, load and dump: the recomputed trailer holds.
    let pipeline = format!(
        "kv-filter -q --exclude-resource events {g} | archive-pack -q -o {p}/f.zip && archive-unpack --verify -q {p}/f.zip"
    );
    sh(&pipeline).ok();
    let e = Etcd::start();
    let load = sh(&format!("kv-filter -q --namespace kube-system {g} | etcd-load {}", e.flags()));
    load.ok();
    let filtered = sh(&format!("kv-filter -q --namespace kube-system {g}"));
    let n = keys_of(&filtered.stdout).len();
    assert!(load.stderr.starts_with(&format!("etcd-load: {n} keys read: {n} created")), "{}", load.stderr);
    // Sync refuses a stream that a filter thinned out.
    let sync = sh(&format!("kv-filter -q --namespace kube-system {g} | etcd-load --mode sync {}", e.flags()));
    assert_eq!(sync.code, 2);
    assert_eq!(
        sync.stderr,
        "etcd-load: --mode sync deletes what the stream lacks, but its header does not claim to hold every key under its prefixes (it was filtered, re-sealed after records were removed, or comes from a foreign archive); use --mode overwrite, which deletes nothing\n"
    );
    // A prefix-only filter keeps a sync-able header.
    let pre = sh(&format!("kv-filter -q --prefix /registry/configmaps/ {g}"));
    let header: serde_json::Value = serde_json::from_str(pre.stdout_str().lines().next().unwrap()).unwrap();
    assert_eq!(header["prefixes"], serde_json::json!(["/registry/configmaps/"]));
}

#[test]
fn prefix_rewrite_then_load() {
    let d = tmp();
    let g = generate(d.path(), 1500);
    let e = Etcd::start();
    sh(&format!(
        "kv-filter -q --prefix /registry/configmaps/ --rewrite-prefix /registry/=/kubernetes.io/ {g} | etcd-load -q {}",
        e.flags()
    ))
    .ok();
    let src = records(&std::fs::read(&g).unwrap());
    let want: Vec<(Vec<u8>, Vec<u8>)> = src
        .into_iter()
        .filter(|r| r.key.starts_with(b"/registry/configmaps/"))
        .map(|r| ([b"/kubernetes.io/".as_slice(), &r.key[10..]].concat(), r.value))
        .collect();
    let got: Vec<(Vec<u8>, Vec<u8>)> = e.get_all().into_iter().map(|(k, v, _)| (k, v)).collect();
    assert!(!want.is_empty());
    assert_eq!(got, want);
}

#[test]
fn bad_input_is_reported_and_output_has_no_trailer() {
    let d = tmp();
    let g = generate(d.path(), 200);
    let text = std::fs::read_to_string(&g).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines[41] = r#"{"key":"/registry/x","create_revision":1,"mod_revision":1,"version":1,"value_b64":"@@@@"}"#;
    let bad = lines.join("\n") + "\n";
    for tool in ["kv-filter -q --exclude-resource events", "kv-seal -q", "kv-stats"] {
        let out = sh_input(tool, bad.as_bytes());
        assert_eq!(out.code, 3, "{tool}: {}", out.stderr);
        let name = tool.split(' ').next().unwrap();
        assert_eq!(out.stderr, format!("{name}: line 42: value_b64 is not base64\n"), "{tool}");
        assert!(!out.stdout_str().contains("\"type\":\"trailer\""), "{tool}");
    }
    let truncated = &text[..text.len() - 10];
    for tool in ["kv-filter -q", "kv-seal -q", "kv-stats"] {
        let out = sh_input(tool, truncated.as_bytes());
        assert_eq!(out.code, 4, "{tool}: {}", out.stderr);
    }
}

#[test]
fn kv_seal_reseals_jq_output_but_not_a_dead_producer() {
    let d = tmp();
    let g = generate(d.path(), 500);
    let jq = format!("jq -c 'select(.type or (.key // \"\" | startswith(\"/registry/secrets/\")))' {g}");
    // Without re-sealing, consumers refuse the thinned stream.
    let raw = sh(&format!("{jq} | etcd-load --dry-run --endpoints 127.0.0.1:1"));
    assert_eq!(raw.code, 5, "{}", raw.stderr);
    assert!(raw.stderr.contains("the trailer counts 500 records but the stream held"), "{}", raw.stderr);
    let sealed = sh(&format!("{jq} | kv-seal"));
    sealed.ok();
    let want = jq_keys(&g, r#".key | startswith("/registry/secrets/")"#);
    assert_eq!(keys_of(&sealed.stdout), want);
    // jq dropped records: the result no longer claims every key under its prefixes.
    assert_eq!(
        sealed.stderr,
        format!(
            "kv-seal: {} keys sealed (the old trailer counted 500)\nkv-seal: the stream no longer claims to hold every key \
             under its prefixes (records were removed, added or reordered), so etcd-load --mode sync will not delete by it\n",
            want.len()
        )
    );
    // jq dropping the trailer (as when the producer died) is refused.
    let dead = sh(&format!("jq -c 'select(.type != \"trailer\")' {g} | kv-seal"));
    assert_eq!(dead.code, 4);
    assert_eq!(
        dead.stderr,
        "kv-seal: stream ended after 500 records without its trailer: the input is truncated or its producer failed\n"
    );
}

fn rec(key: &str, value: Vec<u8>, lease: i64) -> Record {
    Record { key: key.as_bytes().to_vec(), value, create_revision: 5, mod_revision: 6, version: 1, lease }
}

#[test]
fn stats_figures_match_a_known_keyspace() {
    let pod = |n: usize| k8s_envelope("v1", "Pod", &vec![7u8; n]);
    let mut recs = vec![
        rec("/registry/pods/a/p1", pod(100), 0),
        rec("/registry/pods/a/p2", pod(200), 0),
        rec("/registry/pods/b/p3", pod(300), 0),
        rec("/registry/secrets/a/s1", b"k8s:enc:aescbc:v1:key1:\x01\x02\x03".to_vec(), 0),
        rec("/registry/secrets/b/s2", b"k8s:enc:kms:v1:vault:\xff".to_vec(), 0),
        rec("/registry/events/a/e1", k8s_envelope("v1", "Event", b"x"), 0x10),
        rec("/registry/events/a/e2", k8s_envelope("v1", "Event", b"y"), 0x10),
        rec("/registry/cert-manager.io/certificates/a/c1", br#"{"kind":"Certificate"}"#.to_vec(), 0),
        rec("/registry/namespaces/a", k8s_envelope("v1", "Namespace", b""), 0),
        rec("/other/key", b"plain".to_vec(), 0),
    ];
    recs.sort_by(|x, y| x.key.cmp(&y.key));
    let mut h = Header::new("test");
    h.leases = vec![
        Lease { id: lease_hex(0x10), ttl: 3000, granted_ttl: 3600 },
        Lease { id: lease_hex(0x11), ttl: 10, granted_ttl: 60 },
    ];
    let mut w = StreamWriter::new(Vec::new(), &h).unwrap();
    for r in &recs {
        w.write(r).unwrap();
    }
    let (stream, _) = w.finish().unwrap();
    let out = sh_input("kv-stats --json --top 2", &stream);
    out.ok();
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let count = |v: &serde_json::Value| (v["keys"].as_u64().unwrap(), v["bytes"].as_u64().unwrap());
    let total_bytes: usize = recs.iter().map(|r| r.key.len() + r.value.len()).sum();
    assert_eq!(count(&s["total"]), (10, total_bytes as u64));
    assert_eq!(s["roots"]["/registry"]["keys"], 9);
    assert_eq!(s["roots"]["(other)"]["keys"], 1);
    assert_eq!(s["resources"]["pods"]["keys"], 3);
    assert_eq!(s["resources"]["cert-manager.io/certificates"]["keys"], 1);
    assert_eq!(s["resources"]["(not kubernetes)"]["keys"], 1);
    assert_eq!(s["namespaces"]["a"]["keys"], 6);
    assert_eq!(s["namespaces"]["b"]["keys"], 2);
    assert_eq!(s["encodings"]["protobuf"]["keys"], 6);
    assert_eq!(s["encodings"]["protobuf_kinds"]["v1/Pod"]["keys"], 3);
    assert_eq!(s["encodings"]["protobuf_kinds"]["v1/Event"]["keys"], 2);
    assert_eq!(s["encodings"]["encrypted"]["keys"], 2);
    assert_eq!(s["encodings"]["encrypted_keys"]["aescbc/key1"]["keys"], 1);
    assert_eq!(s["encodings"]["encrypted_keys"]["kms/vault"]["keys"], 1);
    assert_eq!(s["encodings"]["json"]["keys"], 1);
    assert_eq!(s["encodings"]["other"]["keys"], 1);
    assert_eq!(
        s["leases"],
        serde_json::json!({"keys": 2, "leases": 1, "header_leases": 2, "ttl_min": 10, "ttl_max": 3000})
    );
    let p3 = pod(300).len();
    let p2 = pod(200).len();
    assert_eq!(
        s["largest"],
        serde_json::json!([{"key": "/registry/pods/b/p3", "size": p3}, {"key": "/registry/pods/a/p2", "size": p2}])
    );
    assert_eq!(s["verified"], "count and bytes");
    // The full check agrees, and the table says the same in words.
    let v = sh_input("kv-stats --json --verify", &stream);
    let sv: serde_json::Value = serde_json::from_slice(&v.stdout).unwrap();
    assert_eq!(sv["resources"], s["resources"]);
    let table = sh_input("kv-stats", &stream);
    table.ok();
    assert!(table.stdout_str().starts_with(&format!(
        "10 keys, {} (keys and values); stream from test at revision 0, ",
        reshifter_format::report::human_bytes(total_bytes as u64)
    )));
    assert!(
        table
            .stdout_str()
            .contains("  2 keys attached to 1 leases; the header lists 2 leases with 10..3000 s left at dump time")
    );
}

#[test]
fn stats_of_a_generated_cluster_agree_with_jq() {
    let d = tmp();
    let g = generate(d.path(), 2000);
    let out = sh(&format!("kv-stats --json {g}"));
    out.ok();
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["total"]["keys"], 2000);
    let sum: u64 = s["resources"].as_object().unwrap().values().map(|c| c["keys"].as_u64().unwrap()).sum();
    assert_eq!(sum, 2000);
    for (resource, prefix) in
        [("pods", "/registry/pods/"), ("endpoints", "/registry/services/endpoints/"), ("nodes", "/registry/minions/")]
    {
        let n = jq_keys(&g, &format!(".key | startswith(\"{prefix}\")")).len();
        assert_eq!(s["resources"][resource]["keys"], n, "{resource}");
    }
    let enc = jq_keys(&g, r#"(.value_b64 // "") | startswith("azhzOmVuYzphZXNjYmM6djE6a2V5MT")"#).len();
    assert_eq!(s["encodings"]["encrypted_keys"]["aescbc/key1"]["keys"], enc);
    let leased = jq_keys(&g, ".lease").len();
    assert_eq!(s["leases"]["keys"], leased);
    // A file given by name or as stdin is mapped, a pipe is read: the same report either way.
    for how in [format!("kv-stats --json < {g}"), format!("cat {g} | kv-stats --json")] {
        let other = sh(&how);
        other.ok();
        assert!(other.stdout == out.stdout, "{how}");
    }
    // Standard input is read from where its offset is, not from the start of the file.
    let after = sh(&format!("(read -r line; kv-filter -q) < {g}"));
    assert_eq!(after.code, 3);
    assert_eq!(
        after.stderr,
        "kv-filter: line 1: not a reshifter stream: the first line must be the header {\"type\":\"header\",...}\n"
    );
}
