//! Every tool's output passes scripts/conformance.py, an independent validator written from
//! docs/FORMAT.md alone, so the spec and the code cannot drift apart; and the validator itself
//! refuses what the spec forbids.

use std::os::unix::ffi::OsStrExt;

use reshifter_e2e::{Etcd, control_plane, sh, sh_input, tmp};

fn validator() -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    root.join("scripts/conformance.py").display().to_string()
}

/// A keyspace with what the format must carry: binary and control-character keys and values,
/// a key whose archive path is too long, leases, several roots.
fn awkward(e: &Etcd) {
    let mut kvs: Vec<(Vec<u8>, Vec<u8>)> = vec![
        (b"/registry/pods/ns/a".to_vec(), b"{\"kind\":\"Pod\"}".to_vec()),
        (b"/registry/secrets/ns/s".to_vec(), b"k8s\x00\x01\x02\xff".to_vec()),
        (b"/registry/x/\x01ctl".to_vec(), b"tab\there".to_vec()),
        (b"/registry/x/\xffbin".to_vec(), Vec::new()),
        (b"/registry/x/a//b/".to_vec(), b"slashes".to_vec()),
        (b"/registry/x/../up".to_vec(), b"dots".to_vec()),
        (b"/registry/x/content".to_vec(), b"leaf name".to_vec()),
        (b"/other/k".to_vec(), "unicode \u{e9}\u{1F600}".as_bytes().to_vec()),
        (b"noslash".to_vec(), b"v".to_vec()),
    ];
    let mut long = b"/registry/long/".to_vec();
    long.extend(std::iter::repeat_n(b':', 3000));
    kvs.push((long, b"long key".to_vec()));
    e.put_all(&kvs);
    e.etcdctl(&["lease", "grant", "600"]).ok();
    let out = e.etcdctl(&["lease", "list"]);
    let id = out.stdout_str().lines().nth(1).unwrap_or_default().trim().to_string();
    e.etcdctl(&["put", "/registry/events/ns/e", "ev", "--lease", &id]).ok();
}

#[test]
fn every_tools_output_conforms_to_the_spec() {
    let e = Etcd::start();
    awkward(&e);
    let d = tmp();
    let p = d.path().display();
    let v = validator();
    // A real ReShifter backup (CI has ../shared/fixtures).
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fixtures/reshifter/1499588813-aws-kops-1.6.zip");
    let fixture = if fixture.exists() {
        fixture.display().to_string()
    } else {
        eprintln!("{} is not present: a ReShifter archive made here stands in", fixture.display());
        format!("{p}/reshifter.zip")
    };
    sh(&format!("kv-gen --objects 50 | archive-pack -q --layout reshifter -o {p}/reshifter.zip")).ok();
    sh(&format!("etcd-dump -q {} -o {p}/dump.ndjson", e.flags())).ok();
    sh(&format!("kv-gen --objects 300 -o {p}/gen.ndjson")).ok();
    let streams = [
        format!("cat {p}/dump.ndjson"),
        format!("etcd-dump -q {} --prefix /registry/", e.flags()),
        format!("cat {p}/gen.ndjson"),
        format!("kv-filter -q --exclude-resource events {p}/dump.ndjson"),
        format!("kv-filter -q --prefix /registry/x/ {p}/dump.ndjson"),
        format!("kv-filter -q --rewrite-prefix /registry/=/kubernetes.io/ {p}/dump.ndjson"),
        format!("kv-filter -q --namespace ns {p}/gen.ndjson"),
        format!("jq -c 'select(.type or (.key // \"\" | startswith(\"/registry/x/\")))' {p}/dump.ndjson | kv-seal -q"),
        format!("kv-seal -q {p}/dump.ndjson"),
        format!("archive-pack -q {p}/dump.ndjson | archive-unpack -q"),
        format!("archive-pack -q {p}/dump.ndjson | archive-unpack -q --prefix /registry/x/"),
        format!("archive-pack -q --layout reshifter {p}/gen.ndjson | archive-unpack -q"),
        format!("archive-unpack -q {fixture}"),
        // Decoded objects are derived data beside the records (FORMAT.md "Decoded objects").
        format!("kv-decode -q {p}/gen.ndjson"),
        format!("kv-decode -q {p}/gen.ndjson | kv-encode -q"),
    ];
    for s in &streams {
        let out = sh(&format!("{s} | {v} stream -"));
        assert_eq!(out.code, 0, "{s}: {}", out.stderr);
        assert!(out.stdout_str().starts_with("stream: format 2, "), "{s}: {}", out.stdout_str());
    }
    for (input, flags) in [
        ("dump", ""),
        ("dump", "--compression store"),
        ("dump", "--compression zstd"),
        ("gen", "--level 9"),
        ("gen", "--threads 1"),
    ] {
        sh(&format!("archive-pack -q {flags} {p}/{input}.ndjson -o {p}/a.zip")).ok();
        let out = sh(&format!("{v} archive {p}/a.zip"));
        assert_eq!(out.code, 0, "{input} {flags}: {}", out.stderr);
        // The archive's trailer equals the stream's: same records, same digests.
        let want = sh(&format!("tail -1 {p}/{input}.ndjson | jq -c .")).stdout_str();
        let got = sh(&format!("unzip -p {p}/a.zip reshifter/manifest.ndjson | tail -1 | jq -c .")).stdout_str();
        assert_eq!(got, want);
    }
}

#[test]
fn the_validator_refuses_what_the_spec_forbids() {
    let d = tmp();
    let p = d.path().display();
    let v = validator();
    sh(&format!("kv-gen --objects 20 -o {p}/g.ndjson")).ok();
    let good = std::fs::read(d.path().join("g.ndjson")).unwrap();
    assert_eq!(sh_input(&format!("{v} stream -"), &good).code, 0);
    let text = String::from_utf8(good).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let edits: Vec<(&str, String)> = vec![
        ("a record dropped", [&lines[..3], &lines[4..]].concat().join("\n") + "\n"),
        ("two records swapped", [&lines[..2], &[lines[3], lines[2]], &lines[4..]].concat().join("\n") + "\n"),
        ("prefixes widened", text.replacen("\"prefixes\":[\"/registry/\"]", "\"prefixes\":[\"\"]", 1)),
        ("completeness claimed away", text.replacen("\"complete\":true,", "", 1)),
        ("an uppercase digest", {
            let t = lines.last().unwrap();
            let sha = &t[t.find("\"sha256\":\"").unwrap() + 10..][..64];
            text.replacen(sha, &sha.to_uppercase(), 1)
        }),
        ("no trailer", lines[..lines.len() - 1].join("\n") + "\n"),
        ("an unknown field", text.replacen("\"version\":", "\"x\":1,\"version\":", 1)),
    ];
    for (what, bad) in edits {
        let out = sh_input(&format!("{v} stream -"), bad.as_bytes());
        assert_eq!(out.code, 1, "{what} passed");
        assert!(out.stderr.starts_with("conformance: -: "), "{what}: {}", out.stderr);
        // Our own readers agree.
        let ours = sh_input("kv-filter -q > /dev/null", bad.as_bytes());
        assert_ne!(ours.code, 0, "{what}: kv-filter accepted it");
    }
    // kv-decode's digest binds each object to its value: an object edited without it is refused.
    let decoded = sh(&format!("kv-decode -q {p}/g.ndjson")).ok().stdout_str().to_string();
    assert_eq!(sh_input(&format!("{v} stream -"), decoded.as_bytes()).code, 0);
    let edited = decoded.replacen("\"metadata\":{", "\"metadata\":{\"finalizers\":[\"x\"],", 1);
    let out = sh_input(&format!("{v} stream -"), edited.as_bytes());
    assert_eq!(out.code, 1, "an edited object passed");
    assert!(out.stderr.contains("object_sha256 does not match the object and the value"), "{}", out.stderr);
}

#[test]
fn delta_streams_and_their_archives_conform_and_kv_apply_output_too() {
    let e = Etcd::start();
    awkward(&e);
    let d = tmp();
    let p = d.path().display();
    let v = validator();
    let f = e.flags();
    sh(&format!("etcd-dump -q {f} -o {p}/base.ndjson")).ok();
    let base = sh(&format!("head -1 {p}/base.ndjson | jq .revision")).stdout_str().trim().to_string();
    // Changes of every kind after the dump: puts (binary, leased), deletes, a transaction.
    awkward(&e);
    e.etcdctl(&["del", "/registry/x/", "--prefix"]).ok();
    e.etcdctl(&["put", "/registry/pods/ns/a", "{\"kind\":\"Pod\",\"v\":2}"]).ok();
    e.put_all(&[(b"/registry/x/\xffbin".to_vec(), b"\x00\x01".to_vec())]);
    let end = e.revision();
    sh(&format!("etcd-watch -q {f} --from-rev {base} --until-rev {end} -o {p}/deltas --segment-bytes 100")).ok();
    sh(&format!("etcd-watch -q {f} --from-rev {base} --until-rev {end} > {p}/one.ndjson")).ok();
    let mut files: Vec<String> =
        std::fs::read_dir(d.path().join("deltas")).unwrap().map(|e| e.unwrap().path().display().to_string()).collect();
    files.sort();
    assert!(files.len() >= 3, "{files:?}");
    files.push(format!("{p}/one.ndjson"));
    for file in &files {
        let out = sh(&format!("{v} stream {file}"));
        assert_eq!(out.code, 0, "{file}: {}", out.stderr);
        assert!(out.stdout_str().starts_with("delta stream: "), "{}", out.stdout_str());
        for flags in ["", "--compression zstd", "--compression store"] {
            sh(&format!("archive-pack -q {flags} {file} -o {p}/d.zip")).ok();
            let out = sh(&format!("{v} archive {p}/d.zip"));
            assert_eq!(out.code, 0, "{file} {flags}: {}", out.stderr);
        }
    }
    let out = sh(&format!("kv-apply -q {p}/base.ndjson {p}/deltas/*.ndjson | {v} stream -"));
    assert_eq!(out.code, 0, "{}", out.stderr);
    // A delta stream edited by hand is refused by the validator and by our readers alike.
    let text = std::fs::read_to_string(d.path().join("one.ndjson")).unwrap();
    for bad in [
        text.replacen("\"op\":\"put\"", "\"op\":\"set\"", 1),
        text.replacen("\"kind\":\"delta\",", "", 1),
        text.replacen("\"end_revision\":", "\"end_revision\":1", 1),
        text.replacen("\"sorted\":false", "\"sorted\":true", 1),
    ] {
        let out = sh_input(&format!("{v} stream -"), bad.as_bytes());
        assert_eq!(out.code, 1, "passed: {}", out.stdout_str());
        let ours = sh_input("archive-pack -q > /dev/null", bad.as_bytes());
        assert_ne!(ours.code, 0, "archive-pack accepted it");
    }
}

#[test]
fn files_streams_and_their_archives_conform() {
    let d = tmp();
    let p = d.path().display();
    let v = validator();
    let root = d.path().join("node");
    control_plane("kubeadm", &root, &base64_simd::STANDARD.encode_to_string([1u8; 32]), "");
    // What the format must carry: a name that is not UTF-8, one with a newline, binary content.
    let odd = root.join("etc/kubernetes/odd");
    std::fs::create_dir_all(&odd).unwrap();
    std::fs::write(odd.join(std::ffi::OsStr::from_bytes(b"\xffname")), b"\x00\x01binary").unwrap();
    std::fs::write(odd.join("new\nline"), "text").unwrap();
    std::os::unix::fs::symlink("../pki/ca.crt", odd.join("ca-link")).unwrap();
    let r = root.display();
    sh(&format!("node-dump -q --root {r} --include 'etc/kubernetes/odd/**' -o {p}/files.ndjson")).ok();
    let out = sh(&format!("{v} stream {p}/files.ndjson"));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout_str().starts_with("files stream: 45 entries, "), "{}", out.stdout_str());
    for flags in ["", "--compression zstd", "--compression store"] {
        sh(&format!("archive-pack -q {flags} {p}/files.ndjson -o {p}/f.zip")).ok();
        let out = sh(&format!("{v} archive {p}/f.zip"));
        assert_eq!(out.code, 0, "{flags}: {}", out.stderr);
        assert!(out.stdout_str().starts_with("files archive: 1 chunks, 45 entries"), "{}", out.stdout_str());
        // Unpacked, the very stream.
        let back = sh(&format!("archive-unpack -q {p}/f.zip | cmp - {p}/files.ndjson"));
        assert_eq!(back.code, 0, "{flags}: {}", back.stdout_str());
    }
    // Edited by hand: refused by the validator and by our readers alike.
    let text = std::fs::read_to_string(d.path().join("files.ndjson")).unwrap();
    for (what, bad) in [
        ("a mode", text.replacen("\"mode\":\"0600\"", "\"mode\":\"0666\"", 1)),
        ("a device", text.replacen("\"kind\":\"dir\"", "\"kind\":\"device\"", 1)),
        ("a root", text.replacen("\"root\":\"", "\"root\":\"/elsewhere", 1)),
        ("an escaping link", text.replacen("\"target\":\"../pki/ca.crt\"", "\"target\":\"../../../../../x\"", 1)),
        ("a size", text.replacen("\"size\":", "\"size\":1", 1)),
    ] {
        assert_ne!(bad, text, "{what}: nothing was edited");
        let out = sh_input(&format!("{v} stream -"), bad.as_bytes());
        assert_eq!(out.code, 1, "{what} passed the validator");
        let ours = sh_input("archive-pack -q > /dev/null", bad.as_bytes());
        assert_ne!(ours.code, 0, "{what}: archive-pack accepted it");
    }
}
