//! etcd-dump and etcd-load against real etcd servers, in real pipelines.

use std::io::{BufRead, BufReader, Read};
use std::process::Stdio;

use reshifter_e2e::{Etcd, records, sh, sh_cmd, sh_env, sh_input, tmp, trailer};
use reshifter_format::{Header, Lease, Record, StreamWriter, lease_hex};

fn kv(k: &[u8], v: &[u8]) -> (Vec<u8>, Vec<u8>) {
    (k.to_vec(), v.to_vec())
}

/// A keyspace with the awkward cases: binary keys and values, empty values, a value near the
/// request limit, long shared prefixes, JSON-special characters, and 10k+ keys.
fn awkward_keyspace() -> Vec<(Vec<u8>, Vec<u8>)> {
    let long = format!("/registry/{}", "deep/".repeat(40));
    let mut kvs: Vec<_> =
        (0..10_050).map(|i| kv(format!("{long}key-{i:06}").as_bytes(), format!("value {i}").as_bytes())).collect();
    kvs.push(kv(b"/bin/\xff\xfe\x00key", b"\x00\x01\x02\xff"));
    kvs.push(kv(b"/empty", b""));
    kvs.push(kv(b"/k8s/pod", b"k8s\x00\x0a\x0dv1\x12\x03Pod\x12\xc3\x28"));
    kvs.push(kv(b"/enc/secret", b"k8s:enc:aescbc:v1:key1:\x8f\x11\x00\xff"));
    kvs.push(kv(b"/big", &vec![b'x'; 1_400_000]));
    kvs.push(kv("/utf8/café".as_bytes(), "json \"quoted\" \\ back\nslash\t\u{2028}".as_bytes()));
    kvs.push(kv(b"/a", b"first"));
    kvs.push(kv(b"/a/b", b"child of a key"));
    kvs
}

fn sorted(mut kvs: Vec<(Vec<u8>, Vec<u8>)>) -> Vec<(Vec<u8>, Vec<u8>)> {
    kvs.sort();
    kvs
}

fn key_values(recs: &[Record]) -> Vec<(Vec<u8>, Vec<u8>)> {
    recs.iter().map(|r| (r.key.clone(), r.value.clone())).collect()
}

/// Every line after the header (records and trailer).
fn body(stream: &[u8]) -> Vec<u8> {
    let at = stream.iter().position(|&b| b == b'\n').expect("header line") + 1;
    stream[at..].to_vec()
}

#[test]
fn round_trip_is_byte_exact() {
    let src = Etcd::start();
    let dst = Etcd::start();
    let kvs = awkward_keyspace();
    src.put_all(&kvs);
    let d = tmp();
    let p = d.path().display();

    sh(&format!("etcd-dump {} > {p}/a.ndjson", src.flags())).ok();
    let a = std::fs::read(d.path().join("a.ndjson")).unwrap();
    assert_eq!(key_values(&records(&a)), sorted(kvs.clone()));

    // Page boundaries anywhere give the same stream.
    for (keys, bytes) in [("1", "4MiB"), ("7", "4MiB"), ("4096", "1000"), ("128", "64KiB")] {
        sh(&format!("etcd-dump {} --page-keys {keys} --page-bytes {bytes} > {p}/paged.ndjson", src.flags())).ok();
        assert_eq!(body(&std::fs::read(d.path().join("paged.ndjson")).unwrap()), body(&a), "pages {keys}/{bytes}");
    }

    let load = sh(&format!("etcd-load {} {p}/a.ndjson", dst.flags()));
    load.ok();
    assert!(
        load.stderr.starts_with(&format!(
            "etcd-load: {} keys read: {} created, 0 updated, 0 deleted, 0 unchanged; ",
            kvs.len(),
            kvs.len()
        )),
        "{}",
        load.stderr
    );
    sh(&format!("etcd-dump {} > {p}/b.ndjson", dst.flags())).ok();
    let b = std::fs::read(d.path().join("b.ndjson")).unwrap();

    // Keys and values byte for byte, read by us and read directly from both servers.
    assert_eq!(key_values(&records(&b)), key_values(&records(&a)));
    assert_eq!(dst.get_all(), src.get_all());
    // The content digest is the same for identical keyspaces.
    assert_eq!(trailer(&a)["sha256"], trailer(&b)["sha256"]);
    assert_eq!(trailer(&a)["count"], kvs.len());

    // Loading the same stream again changes nothing.
    let again = sh(&format!("etcd-load {} < {p}/a.ndjson", dst.flags()));
    again.ok();
    assert!(
        again.stderr.starts_with(&format!(
            "etcd-load: {n} keys read: 0 created, 0 updated, 0 deleted, {n} unchanged; ",
            n = kvs.len()
        )),
        "{}",
        again.stderr
    );
}

/// Thousands of tiny keys, then big values, then one value above the 16 MiB soft page limit:
/// pages shrink to stay small, and the single huge key is still read.
#[test]
fn pages_follow_jumps_in_value_size() {
    let e = Etcd::start_with(&["--max-request-bytes=20971520"]);
    let mut kvs: Vec<_> = (0..3000).map(|i| kv(format!("/a/{i:05}").as_bytes(), b"v")).collect();
    kvs.extend((0..30).map(|i| kv(format!("/m/{i:03}").as_bytes(), &vec![b'0' + (i % 10) as u8; 1 << 20])));
    kvs.push(kv(b"/z/huge", &vec![b'h'; 17 << 20]));
    e.put_all(&kvs);
    for flags in ["", "--page-bytes 64KiB"] {
        let out = sh(&format!("etcd-dump -q {} {flags}", e.flags()));
        out.ok();
        assert!(key_values(&records(&out.stdout)) == sorted(kvs.clone()), "flags {flags:?}");
    }
}

/// Seed `n` keys with values of `size` bytes under `/pit/`.
fn seed(e: &Etcd, n: usize, size: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
    let kvs: Vec<_> =
        (0..n).map(|i| kv(format!("/pit/key-{i:05}").as_bytes(), &vec![b'0' + (i % 10) as u8; size])).collect();
    e.put_all(&kvs);
    kvs
}

/// Start a dump with small pages and return it after its header line has been read.
fn start_dump(e: &Etcd, extra: &str) -> (std::process::Child, BufReader<std::process::ChildStdout>, serde_json::Value) {
    let mut child = sh_cmd(&format!("exec etcd-dump {} --page-keys 10 {extra}", e.flags()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let header: serde_json::Value = serde_json::from_str(&line).unwrap();
    (child, out, header)
}

fn finish_dump(
    mut child: std::process::Child,
    mut out: BufReader<std::process::ChildStdout>,
) -> (i32, Vec<u8>, String) {
    let mut rest = Vec::new();
    out.read_to_end(&mut rest).unwrap();
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    let status = child.wait().unwrap();
    (status.code().unwrap_or(-1), rest, err)
}

#[test]
fn dump_is_one_point_in_time() {
    let e = Etcd::start();
    let kvs = seed(&e, 5000, 400);
    let (child, out, header) = start_dump(&e, "");
    assert_eq!(header["revision"], e.revision());
    // Write while the dump runs: before, inside and after the dumped range.
    e.put_all(&[kv(b"/pit/aaa-new", b"x"), kv(b"/pit/key-04999", b"changed"), kv(b"/pit/zzz-new", b"x")]);
    e.etcdctl(&["del", "/pit/key-02500"]).ok();
    let (code, rest, err) = finish_dump(child, out);
    assert_eq!(code, 0, "{err}");
    let mut stream = serde_json::to_vec(&header).unwrap();
    stream.push(b'\n');
    stream.extend_from_slice(&rest);
    assert_eq!(key_values(&records(&stream)), kvs);
    // --rev reads the same point in time later on; a future revision is refused.
    let rev = header["revision"].as_i64().unwrap();
    let again = sh(&format!("etcd-dump -q {} --rev {rev}", e.flags()));
    again.ok();
    assert_eq!(key_values(&records(&again.stdout)), kvs);
    let future = sh(&format!("etcd-dump -q {} --rev {}", e.flags(), rev + 1000));
    assert_eq!(future.code, 2);
    assert_eq!(
        future.stderr,
        format!("etcd-dump: --rev {} is in the future: the current revision is {}\n", rev + 1000, e.revision())
    );
}

#[test]
fn compaction_during_dump_fails_without_trailer() {
    let e = Etcd::start();
    seed(&e, 5000, 400);
    let (child, out, header) = start_dump(&e, "");
    let rev = header["revision"].as_i64().unwrap();
    e.put_all(&[kv(b"/pit/new", b"x")]);
    e.etcdctl(&["compact", &(rev + 1).to_string()]).ok();
    let (code, rest, err) = finish_dump(child, out);
    assert_eq!(code, 7, "{err}");
    let prefix = format!("etcd-dump: revision {rev} was compacted while dumping (after ");
    assert!(err.starts_with(&prefix), "{err}");
    assert!(
        err.ends_with(
            " keys): etcd's compaction overtook the dump; run it again, or raise etcd's --auto-compaction-retention\n"
        ),
        "{err}"
    );
    assert!(!String::from_utf8_lossy(&rest).contains("\"type\":\"trailer\""));
}

#[test]
fn etcd_killed_during_dump_fails_without_trailer() {
    let mut e = Etcd::start();
    seed(&e, 5000, 400);
    let (child, out, _) = start_dump(&e, "");
    e.kill();
    let (code, rest, err) = finish_dump(child, out);
    assert_eq!(code, 6, "{err}");
    assert!(err.starts_with("etcd-dump: reading keys failed after "), "{err}");
    assert!(err.contains(&format!(" keys at {}: ", e.endpoint)), "{err}");
    assert!(
        err.ends_with(": is etcd running there, and are --endpoints and TLS (--cacert/--cert/--key) right?\n"),
        "{err}"
    );
    assert!(!String::from_utf8_lossy(&rest).contains("\"type\":\"trailer\""));
}

#[test]
fn dump_to_file_is_0600_and_absent_on_failure() {
    use std::os::unix::fs::PermissionsExt;
    let e = Etcd::start();
    seed(&e, 10, 10);
    let d = tmp();
    let p = d.path().display();
    sh(&format!("etcd-dump {} -o {p}/b.ndjson", e.flags())).ok();
    let meta = std::fs::metadata(d.path().join("b.ndjson")).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let out = sh(&format!("etcd-dump --endpoints 127.0.0.1:1 --dial-timeout 300ms -o {p}/c.ndjson"));
    assert_eq!(out.code, 6, "{}", out.stderr);
    assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1, "only b.ndjson");
}

#[test]
fn dump_into_head_exits_quietly() {
    let e = Etcd::start();
    seed(&e, 5000, 400);
    let out = sh(&format!("etcd-dump {} | head -1", e.flags()));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stderr, "");
    assert_eq!(out.stdout_str().lines().count(), 1);
}

fn dump_of(e: &Etcd, prefix: &str) -> Vec<u8> {
    let out = sh(&format!("etcd-dump -q {} --prefix {prefix}", e.flags()));
    out.ok();
    out.stdout
}

#[test]
fn truncated_stream_fails_the_load_and_says_how_much_was_written() {
    let src = Etcd::start();
    let dst = Etcd::start();
    seed(&src, 1000, 10);
    let stream = dump_of(&src, "/pit/");
    let lines: Vec<&[u8]> = stream.split_inclusive(|&b| b == b'\n').collect();
    let cut: Vec<u8> = lines[..300].concat();
    let out = sh_input(&format!("etcd-load {}", dst.flags()), &cut);
    assert_eq!(out.code, 8);
    assert_eq!(
        out.stderr,
        "etcd-load: the restore is INCOMPLETE: 256 keys were written (256 created, 0 updated, 0 deleted) before it failed; \
         run the same command again to resume (keys already written are left unchanged): \
         stream ended after 299 records without its trailer: the input is truncated or its producer failed\n"
    );
    assert_eq!(dst.get_all().len(), 256);

    // Cut inside a line.
    let mut cut = lines[..5].concat();
    cut.extend_from_slice(&lines[5][..20]);
    let out = sh_input(&format!("etcd-load {}", dst.flags()), &cut);
    assert_eq!(out.code, 4);
    assert_eq!(
        out.stderr,
        "etcd-load: nothing was written: line 6: stream ends in the middle of a line: the input is truncated\n"
    );

    // No input at all (the producer died before its header).
    let out = sh(&format!("false | etcd-load {}", dst.flags()));
    assert_eq!(out.code, 4);
    assert_eq!(out.stderr, "etcd-load: empty input: no stream header (is the producer failing?)\n");
}

#[test]
fn malformed_lines_are_reported_with_their_line_number() {
    let src = Etcd::start();
    let dst = Etcd::start();
    seed(&src, 20, 10);
    let stream = String::from_utf8(dump_of(&src, "/pit/")).unwrap();
    let lines: Vec<&str> = stream.lines().collect();
    let cases = [
        (
            r#"{"key":"/pit/x","create_revision":2,"mod_revision":2,"version":1,"value_b64":"%%%"}"#,
            3,
            "line 5: value_b64 is not base64",
        ),
        (
            r#"{"key":"/pit/x","create_revision":2,"mod_revision":2,"version":1}"#,
            3,
            "line 5: record has no value (nor value_b64)",
        ),
        (r#"{"key":"/pit/x" "value":""}"#, 3, "line 5: invalid JSON at column 17"),
        (
            r#"{"key":"/pit/x","create_revision":"2","mod_revision":2,"version":1,"value":""}"#,
            3,
            "line 5: invalid type: string \"2\", expected i64",
        ),
        (
            r#"{"key":"/pit/x","create_revision":2,"mod_revision":2,"version":1,"lease":"xyz","value":""}"#,
            3,
            "line 5: lease is not a lease id of up to 16 hex digits",
        ),
        ("", 3, "line 5: empty line"),
    ];
    for (bad, code, msg) in cases {
        let mut s: Vec<&str> = lines.clone();
        s[4] = bad;
        let input = s.join("\n") + "\n";
        let out = sh_input(&format!("etcd-load {}", dst.flags()), input.as_bytes());
        assert_eq!(out.code, code, "{bad}: {}", out.stderr);
        assert_eq!(out.stderr, format!("etcd-load: nothing was written: {msg}\n"), "{bad}");
    }
    // A record that was altered keeps valid JSON but fails the digest at the trailer: the last
    // batch is not written, earlier ones were (here: 16 keys in batches of 8).
    let altered = stream.replacen("\"value\":\"0000000000\"", "\"value\":\"0000000001\"", 1);
    let out = sh_input(&format!("etcd-load -q --max-txn-ops 8 {}", dst.flags()), altered.as_bytes());
    assert_eq!(out.code, 8);
    assert_eq!(
        out.stderr,
        "etcd-load: the restore is INCOMPLETE: 16 keys were written (16 created, 0 updated, 0 deleted) before it failed; \
         run the same command again to resume (keys already written are left unchanged): \
         line 22: the stream's digest does not match its trailer: records were altered (after jq, re-seal with kv-seal)\n"
    );
    assert_eq!(dst.get_all().len(), 16);
    // Not a stream at all.
    let out = sh_input(&format!("etcd-load {}", dst.flags()), b"hello\n");
    assert_eq!(out.code, 3);
    assert_eq!(
        out.stderr,
        "etcd-load: line 1: not a reshifter stream: the first line must be the header {\"type\":\"header\",...}\n"
    );
}

/// Target state for the mode tests: one key differs, one is equal, one is extra, one is outside
/// the stream's prefix.
fn mode_fixture() -> (Etcd, Etcd, Vec<u8>) {
    let src = Etcd::start();
    let dst = Etcd::start();
    src.put_all(&[kv(b"/m/a", b"new"), kv(b"/m/b", b"same"), kv(b"/m/c", b"new"), kv(b"/n/x", b"not dumped")]);
    dst.put_all(&[kv(b"/m/a", b"old"), kv(b"/m/b", b"same"), kv(b"/m/extra", b"x"), kv(b"/other/z", b"y")]);
    let stream = dump_of(&src, "/m/");
    (src, dst, stream)
}

fn state(e: &Etcd) -> Vec<(Vec<u8>, Vec<u8>)> {
    e.get_all().into_iter().map(|(k, v, _)| (k, v)).collect()
}

#[test]
fn dry_run_reports_exactly_and_writes_nothing() {
    let (_src, dst, stream) = mode_fixture();
    let before = state(&dst);
    let rev = dst.revision();
    let out = sh_input(&format!("etcd-load --mode sync --dry-run {}", dst.flags()), &stream);
    out.ok();
    assert_eq!(
        out.stdout_str(),
        "{\"action\":\"update\",\"key\":\"/m/a\"}\n{\"action\":\"create\",\"key\":\"/m/c\"}\n{\"action\":\"delete\",\"key\":\"/m/extra\"}\n"
    );
    assert_eq!(
        out.stderr,
        "etcd-load: dry run, nothing written: 3 keys read: would create 1, update 1, delete 1; 1 unchanged\n"
    );
    assert_eq!(state(&dst), before);
    assert_eq!(dst.revision(), rev);
}

#[test]
fn overwrite_mode_updates_and_leaves_others() {
    let (_src, dst, stream) = mode_fixture();
    let out = sh_input(&format!("etcd-load {}", dst.flags()), &stream);
    out.ok();
    assert!(
        out.stderr.starts_with("etcd-load: 3 keys read: 1 created, 1 updated, 0 deleted, 1 unchanged; 1 txns in "),
        "{}",
        out.stderr
    );
    assert_eq!(
        state(&dst),
        vec![
            kv(b"/m/a", b"new"),
            kv(b"/m/b", b"same"),
            kv(b"/m/c", b"new"),
            kv(b"/m/extra", b"x"),
            kv(b"/other/z", b"y")
        ]
    );
}

#[test]
fn create_only_mode_keeps_existing_keys() {
    let (_src, dst, stream) = mode_fixture();
    let out = sh_input(&format!("etcd-load --mode create-only {}", dst.flags()), &stream);
    out.ok();
    assert!(
        out.stderr.starts_with(
            "etcd-load: 3 keys read: 1 created, 0 updated, 0 deleted, 0 unchanged, 2 existing kept; 1 txns in "
        ),
        "{}",
        out.stderr
    );
    assert_eq!(
        state(&dst),
        vec![
            kv(b"/m/a", b"old"),
            kv(b"/m/b", b"same"),
            kv(b"/m/c", b"new"),
            kv(b"/m/extra", b"x"),
            kv(b"/other/z", b"y")
        ]
    );
}

#[test]
fn sync_mode_deletes_only_under_the_stream_prefixes() {
    let (_src, dst, stream) = mode_fixture();
    let out = sh_input(&format!("etcd-load --mode sync {}", dst.flags()), &stream);
    out.ok();
    assert!(
        out.stderr.starts_with("etcd-load: 3 keys read: 1 created, 1 updated, 1 deleted, 1 unchanged; "),
        "{}",
        out.stderr
    );
    assert_eq!(
        state(&dst),
        vec![kv(b"/m/a", b"new"), kv(b"/m/b", b"same"), kv(b"/m/c", b"new"), kv(b"/other/z", b"y")]
    );
}

#[test]
fn sync_mode_over_many_batches_matches_the_source_exactly() {
    let src = Etcd::start();
    let dst = Etcd::start();
    let kvs: Vec<_> = (0..2000).filter(|i| i % 3 != 0).map(|i| kv(format!("/s/{i:05}").as_bytes(), b"v")).collect();
    src.put_all(&kvs);
    // The target holds every third key the source lacks, keys before and after, and stale values.
    let stale: Vec<_> =
        (0..2000).filter(|i| i % 2 == 0).map(|i| kv(format!("/s/{i:05}").as_bytes(), b"stale")).collect();
    dst.put_all(&stale);
    dst.put_all(&[kv(b"/s/", b"prefix itself"), kv(b"/s/zzz", b"after"), kv(b"/r", b"outside"), kv(b"/t", b"outside")]);
    let stream = dump_of(&src, "/s/");
    let out = sh_input(&format!("etcd-load --mode sync --max-txn-ops 50 {}", dst.flags()), &stream);
    out.ok();
    let mut want = vec![kv(b"/r", b"outside")];
    want.extend(kvs);
    want.push(kv(b"/t", b"outside"));
    assert_eq!(state(&dst), want);
}

#[test]
fn leases_are_regranted_with_the_ttl_left_or_dropped() {
    let src = Etcd::start();
    let granted = src.etcdctl(&["lease", "grant", "600"]);
    granted.ok();
    let id = granted.stdout_str().split_whitespace().nth(1).unwrap().to_string();
    src.etcdctl(&["put", "/ev/1", "event", &format!("--lease={id}")]).ok();
    src.etcdctl(&["put", "/ev/2", "no lease"]).ok();
    let stream = dump_of(&src, "/ev/");
    let header: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&stream).lines().next().unwrap()).unwrap();
    assert_eq!(header["leases"][0]["id"], id);
    assert_eq!(header["leases"][0]["granted_ttl"], 600);

    let dst = Etcd::start();
    sh_input(&format!("etcd-load {}", dst.flags()), &stream).ok();
    let all = dst.get_all();
    assert_eq!(all.len(), 2);
    assert_ne!(all[0].2, 0, "/ev/1 has a lease");
    assert_eq!(all[1].2, 0, "/ev/2 has none");
    let ttl = dst.etcdctl(&["lease", "timetolive", &lease_hex(all[0].2), "-w", "json"]);
    let ttl: serde_json::Value = serde_json::from_slice(&ttl.stdout).unwrap();
    let left = ttl["ttl"].as_i64().unwrap();
    assert!((590..=600).contains(&left), "ttl left {left}");

    let dst2 = Etcd::start();
    sh_input(&format!("etcd-load --leases drop {}", dst2.flags()), &stream).ok();
    assert!(dst2.get_all().iter().all(|(_, _, lease)| *lease == 0));
}

#[test]
fn keys_whose_lease_expired_are_skipped_and_counted() {
    let dst = Etcd::start();
    let mut h = Header::new("test");
    h.leases = vec![Lease { id: lease_hex(7), ttl: 100, granted_ttl: 100 }];
    let mut w = StreamWriter::new(Vec::new(), &h).unwrap();
    for (key, lease) in [(&b"/l/alive"[..], 7), (b"/l/expired", 8), (b"/l/plain", 0)] {
        w.write(&Record {
            key: key.to_vec(),
            value: b"v".to_vec(),
            create_revision: 1,
            mod_revision: 1,
            version: 1,
            lease,
        })
        .unwrap();
    }
    let (stream, _) = w.finish().unwrap();
    let out = sh_input(&format!("etcd-load {}", dst.flags()), &stream);
    out.ok();
    assert!(
        out.stderr.starts_with(
            "etcd-load: 3 keys read: 2 created, 0 updated, 0 deleted, 0 unchanged, 1 skipped (lease expired); "
        ),
        "{}",
        out.stderr
    );
    let keys: Vec<Vec<u8>> = dst.get_all().into_iter().map(|(k, _, _)| k).collect();
    assert_eq!(keys, vec![b"/l/alive".to_vec(), b"/l/plain".to_vec()]);
}

#[test]
fn tls_connections_follow_etcdctl_and_reshifter_conventions() {
    let e = Etcd::start_tls();
    e.etcdctl(&["put", "/tls/k", "v"]).ok();
    let t = e.tls.clone().unwrap();
    let (ca, cert, key) = (t.ca.display().to_string(), t.cert.display().to_string(), t.key.display().to_string());
    let flags = sh(&format!("etcd-dump -q {}", e.flags()));
    flags.ok();
    assert_eq!(records(&flags.stdout).len(), 1);
    let env = sh_env(
        "etcd-dump -q",
        &[
            ("ETCDCTL_ENDPOINTS", e.endpoint.as_str()),
            ("ETCDCTL_CACERT", &ca),
            ("ETCDCTL_CERT", &cert),
            ("ETCDCTL_KEY", &key),
        ],
    );
    env.ok();
    assert_eq!(body(&env.stdout), body(&flags.stdout));
    let rs = sh_env(
        &format!("etcd-dump -q --endpoints {}", e.endpoint),
        &[("RS_ETCD_CA_CERT", &ca), ("RS_ETCD_CLIENT_CERT", &cert), ("RS_ETCD_CLIENT_KEY", &key)],
    );
    rs.ok();
    assert_eq!(body(&rs.stdout), body(&flags.stdout));
    // Without the client certificate the server refuses.
    let no_cert =
        sh(&format!("etcd-dump -q --endpoints {} --cacert {ca} --dial-timeout 1s --command-timeout 2s", e.endpoint));
    assert_eq!(no_cert.code, 6, "{}", no_cert.stderr);
    assert!(
        no_cert.stderr.starts_with(&format!("etcd-dump: cannot read the status of etcd at {}: ", e.endpoint)),
        "{}",
        no_cert.stderr
    );
    assert_eq!(no_cert.stdout, b"");
}

/// A stream of `n` keys `/w/NNNN` written with the library.
fn small_stream(n: usize) -> Vec<u8> {
    let mut h = Header::new("test");
    h.time = "2026-01-01T00:00:00Z".into();
    h.prefixes = vec!["/w/".into()];
    let mut w = StreamWriter::new(Vec::new(), &h).unwrap();
    for i in 0..n {
        let key = format!("/w/{i:04}").into_bytes();
        w.write(&Record {
            key,
            value: format!("value {i}").into_bytes(),
            create_revision: 2,
            mod_revision: 2,
            version: 1,
            lease: 0,
        })
        .unwrap();
    }
    w.finish().unwrap().0
}

/// What etcdctl prints of the keys under /w/, and what it prints of `small_stream(n)`'s.
fn written(e: &Etcd) -> String {
    let out = e.etcdctl(&["get", "--prefix", "/w/"]);
    out.ok();
    String::from_utf8(out.stdout).unwrap()
}

fn wanted(n: usize) -> String {
    (0..n).map(|i| format!("/w/{i:04}\nvalue {i}\n")).collect()
}

#[test]
fn loads_write_over_tls_in_both_endpoint_forms() {
    // etcd-load's write txns have a connection of their own (reshifter_etcd::wire): an https://
    // endpoint, and a bare host:port made TLS by --cacert, as etcd-client makes them.
    let e = Etcd::start_tls();
    let t = e.tls.clone().unwrap();
    let files = format!("--cacert {} --cert {} --key {}", t.ca.display(), t.cert.display(), t.key.display());
    let bare = e.endpoint.trim_start_matches("https://").to_string();
    for (i, endpoint) in [e.endpoint.clone(), bare].iter().enumerate() {
        let n = 3 + i;
        let out = sh_input(&format!("etcd-load --mode overwrite --endpoints {endpoint} {files}"), &small_stream(n));
        out.ok();
        assert!(out.stderr.starts_with(&format!("etcd-load: {n} keys read: ")), "{}", out.stderr);
        assert_eq!(written(&e), wanted(n));
    }
}

#[test]
fn a_load_outlives_its_auth_token() {
    // etcd forgets a token unused for --auth-token-ttl seconds. The stream stalls after its first
    // record for longer than that, so the first write txn meets an expired token: it takes a new
    // one and goes on (before, the load failed with "invalid auth token").
    let e = Etcd::start_auth_with(&["--auth-token-ttl", "1"]);
    let d = tmp();
    let s = small_stream(300);
    let cut = s.iter().enumerate().filter(|(_, b)| **b == b'\n').nth(1).unwrap().0 + 1;
    std::fs::write(d.path().join("a"), &s[..cut]).unwrap();
    std::fs::write(d.path().join("b"), &s[cut..]).unwrap();
    let p = d.path().display();
    let out =
        sh_env(&format!("(cat {p}/a; sleep 3; cat {p}/b) | etcd-load --max-txn-ops 100 {}", e.flags()), &e.auth_env());
    out.ok();
    assert!(out.stderr.starts_with("etcd-load: 300 keys read: 300 created, 0 updated"), "{}", out.stderr);
    assert_eq!(written(&e), wanted(300));
}

#[test]
fn auth_takes_the_password_from_env_or_file_never_the_command_line() {
    let e = Etcd::start_auth();
    e.etcdctl(&["put", "/auth/k", "v"]).ok();
    let env = sh_env(&format!("etcd-dump -q {}", e.flags()), &e.auth_env());
    env.ok();
    assert_eq!(key_values(&records(&env.stdout)), vec![kv(b"/auth/k", b"v")]);
    let d = tmp();
    std::fs::write(d.path().join("pw"), "s3cret-pw\n").unwrap();
    let file = sh(&format!("etcd-dump -q {} --user root --password-file {}/pw", e.flags(), d.path().display()));
    file.ok();
    assert_eq!(body(&file.stdout), body(&env.stdout));
    let wrong =
        sh_env(&format!("etcd-dump -q {}", e.flags()), &[("ETCDCTL_USER", "root"), ("ETCDCTL_PASSWORD", "nope")]);
    assert_eq!(wrong.code, 9, "{}", wrong.stderr);
    assert!(wrong.stderr.contains("authentication failed"), "{}", wrong.stderr);
    assert!(!wrong.stderr.contains("nope"), "the password is never printed");
    let missing = sh(&format!("etcd-dump -q {} --user root", e.flags()));
    assert_eq!(missing.code, 2);
    assert_eq!(
        missing.stderr,
        "etcd-dump: --user root needs a password: set ETCDCTL_PASSWORD or pass --password-file FILE\n"
    );
    let none = sh(&format!("etcd-dump -q {}", e.flags()));
    assert_eq!(none.code, 9, "{}", none.stderr);
    // Loading with credentials works too.
    std::fs::write(d.path().join("s.ndjson"), &env.stdout).unwrap();
    let load =
        sh_env(&format!("etcd-load {} --mode create-only {}/s.ndjson", e.flags(), d.path().display()), &e.auth_env());
    load.ok();
    assert!(
        load.stderr
            .starts_with("etcd-load: 1 keys read: 0 created, 0 updated, 0 deleted, 0 unchanged, 1 existing kept; "),
        "{}",
        load.stderr
    );
    let denied = sh(&format!("etcd-load {} {}/s.ndjson", e.flags(), d.path().display()));
    assert_eq!(denied.code, 9, "{}", denied.stderr);
}
