//! etcd's v2 API: dumps at one index, exact round trips (values, directories, TTLs), the
//! migration to v3, a keyspace written to during the dump. Against Debian's etcd 3.4 started
//! with --enable-v2; the test's own writes and reads go through curl, not our code.

use std::time::{Duration, Instant};

use reshifter_e2e::{Etcd, records, sh, tmp};

fn v2_etcd() -> Etcd {
    Etcd::start_with(&["--enable-v2"])
}

/// `curl` against the v2 API: method, key path (already URL-safe), form fields.
fn curl(e: &Etcd, method: &str, path: &str, form: &[(&str, &str)]) -> serde_json::Value {
    let mut cmd = format!("curl -sS -X {method} '{}/v2/keys{path}'", e.endpoint);
    for (k, v) in form {
        cmd.push_str(&format!(" --data-urlencode '{k}={v}'"));
    }
    let o = sh(&cmd);
    serde_json::from_slice(&o.ok().stdout).unwrap_or(serde_json::Value::Null)
}

/// A v2 keyspace with what the representation must carry: nested and empty directories, a
/// TTL on a key and on a directory, text with every kind of character, a key outside.
fn seed(e: &Etcd) {
    curl(e, "PUT", "/registry/pods/default/web", &[("value", "{\"kind\":\"Pod\"}")]);
    curl(e, "PUT", "/registry/pods/default/caf%C3%A9", &[("value", "caf\u{e9} \"quoted\" \\ tab\there\nnewline")]);
    curl(e, "PUT", "/registry/empty", &[("dir", "true")]);
    curl(e, "PUT", "/registry/leases/master", &[("value", "10.0.0.1"), ("ttl", "300")]);
    curl(e, "PUT", "/registry/tdir", &[("dir", "true"), ("ttl", "400")]);
    curl(e, "PUT", "/registry/tdir/inside", &[("value", "x")]);
    curl(e, "PUT", "/registry/sp%20ace%3Acolon", &[("value", "")]);
    curl(e, "PUT", "/other/x", &[("value", "outside")]);
    // Hidden nodes: etcd's v2 API lists none of them.
    curl(e, "PUT", "/registry/_hidden/x", &[("value", "hidden dir key")]);
    curl(e, "PUT", "/registry/pods/_h", &[("value", "hidden key")]);
}

/// (key, value, is a directory) of every node, from a stream.
fn nodes(stream: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    records(stream).into_iter().map(|r| (r.key, r.value)).collect()
}

fn header(stream: &[u8]) -> serde_json::Value {
    serde_json::from_slice(stream.split(|&b| b == b'\n').next().unwrap()).unwrap()
}

#[test]
fn a_v2_keyspace_round_trips_with_dirs_and_ttls() {
    let a = v2_etcd();
    seed(&a);
    let d = tmp();
    let p = d.path().display();
    let o = sh(&format!("etcd-dump --api v2 --endpoints {} -o {p}/a.ndjson", a.endpoint));
    o.ok();
    assert!(o.stderr.starts_with("etcd-dump: 13 nodes (v2), "), "{}", o.stderr);
    assert!(
        o.stderr.contains("not claimed complete: etcd's v2 API hides nodes whose names start with _"),
        "{}",
        o.stderr
    );
    let sa = std::fs::read(d.path().join("a.ndjson")).unwrap();
    let h = header(&sa);
    assert_eq!(h["api"], "v2");
    assert_eq!(h["prefixes"], serde_json::json!(["/"]));
    assert_ne!(h["complete"], true, "hidden nodes cannot be listed: no claim");
    let keys: Vec<String> = nodes(&sa).iter().map(|(k, _)| String::from_utf8_lossy(k).into_owned()).collect();
    let want = [
        "/other/",
        "/other/x",
        "/registry/",
        "/registry/empty/",
        "/registry/leases/",
        "/registry/leases/master",
        "/registry/pods/",
        "/registry/pods/default/",
        "/registry/pods/default/caf\u{e9}",
        "/registry/pods/default/web",
        "/registry/sp ace:colon",
        "/registry/tdir/",
        "/registry/tdir/inside",
    ];
    assert_eq!(keys, want);
    // TTLs are leases named by the expiration's Unix seconds, listed in the header.
    let leases = h["leases"].as_array().unwrap();
    assert_eq!(leases.len(), 2, "{leases:?}");
    let ttls: Vec<i64> = leases.iter().map(|l| l["ttl"].as_i64().unwrap()).collect();
    assert!(ttls.iter().any(|t| (295..=300).contains(t)) && ttls.iter().any(|t| (395..=400).contains(t)), "{ttls:?}");
    // The validator agrees with the representation.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    sh(&format!("{}/scripts/conformance.py stream {p}/a.ndjson", root.display())).ok();

    // Into a second v2 etcd (the stream says v2: etcd-load uses v2), then read back.
    let b = v2_etcd();
    let o = sh(&format!("etcd-load --endpoints {} {p}/a.ndjson", b.endpoint));
    o.ok();
    assert!(
        o.stderr.starts_with(
            "etcd-load (v2): 13 keys read: 13 created, 0 updated, 0 deleted, 0 unchanged; 13 requests in "
        ),
        "{}",
        o.stderr
    );
    sh(&format!("etcd-dump -q --api v2 --endpoints {} -o {p}/b.ndjson", b.endpoint)).ok();
    let sb = std::fs::read(d.path().join("b.ndjson")).unwrap();
    assert_eq!(nodes(&sb), nodes(&sa), "keys, values and directories byte for byte");
    // TTLs within a second or two of the source's.
    for key in ["/registry/leases/master", "/registry/tdir"] {
        let (ta, tb) =
            (curl(&a, "GET", key, &[])["node"]["ttl"].as_i64(), curl(&b, "GET", key, &[])["node"]["ttl"].as_i64());
        let (ta, tb) = (ta.unwrap(), tb.unwrap());
        assert!((ta - tb).abs() <= 2, "{key}: ttl {ta} vs {tb}");
    }
    assert!(curl(&b, "GET", "/registry/empty", &[])["node"]["dir"] == true);

    // Again: what is equal is left alone (keys with a TTL are written again, for their TTL).
    let o = sh(&format!("etcd-load --endpoints {} {p}/a.ndjson", b.endpoint));
    assert!(
        o.ok().stderr.starts_with("etcd-load (v2): 13 keys read: 0 created, 2 updated, 0 deleted, 11 unchanged"),
        "{}",
        o.stderr
    );

    // Sync: what the target has beyond the stream goes, after the stream was read whole.
    curl(&b, "PUT", "/registry/extra", &[("value", "x")]);
    curl(&b, "PUT", "/registry/xdir/deep/y", &[("value", "y")]);
    let refused = sh(&format!("etcd-load --endpoints {} --mode sync --dry-run {p}/a.ndjson", b.endpoint));
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(refused.stderr.contains("it is a v2 dump, and etcd's v2 API hides nodes"), "{}", refused.stderr);
    let dry = sh(&format!("etcd-load --endpoints {} --mode sync --assume-complete --dry-run {p}/a.ndjson", b.endpoint));
    let lines: Vec<String> = dry.ok().stdout_str().lines().filter(|l| l.contains("delete")).map(String::from).collect();
    assert_eq!(
        lines,
        [
            "{\"action\":\"delete\",\"key\":\"/registry/extra\"}",
            "{\"action\":\"delete\",\"key\":\"/registry/xdir/deep/y\"}",
            "{\"action\":\"delete\",\"key\":\"/registry/xdir/deep/\"}",
            "{\"action\":\"delete\",\"key\":\"/registry/xdir/\"}",
        ]
    );
    sh(&format!("etcd-load -q --endpoints {} --mode sync --assume-complete {p}/a.ndjson", b.endpoint)).ok();
    sh(&format!("etcd-dump -q --api v2 --endpoints {} -o {p}/c.ndjson", b.endpoint)).ok();
    assert_eq!(nodes(&std::fs::read(d.path().join("c.ndjson")).unwrap()), nodes(&sa));

    // The stream tools carry v2 streams: an archive round trip is byte for byte; kv-filter
    // narrows by prefix and keeps the claims.
    sh(&format!("archive-pack -q {p}/a.ndjson -o {p}/a.zip")).ok();
    assert_eq!(sh(&format!("archive-unpack -q {p}/a.zip")).ok().stdout, sa);
    let f = sh(&format!("kv-filter -q --prefix /registry/pods/ {p}/a.ndjson"));
    let fh = header(&f.ok().stdout);
    assert_eq!(fh["api"], "v2");
    assert_ne!(fh["complete"], true);
    // Hidden nodes named are dumped too, at the same index.
    let o = sh(&format!(
        "etcd-dump --api v2 --endpoints {} --v2-hidden /registry/_hidden --v2-hidden /registry/pods/_h",
        a.endpoint
    ));
    let hidden: Vec<String> = nodes(&o.ok().stdout)
        .iter()
        .map(|(k, _)| String::from_utf8_lossy(k).into_owned())
        .filter(|k| k.contains("/_"))
        .collect();
    assert_eq!(hidden, ["/registry/_hidden/", "/registry/_hidden/x", "/registry/pods/_h"]);
    assert!(o.stderr.contains("(v2, 2 hidden paths named)"), "{}", o.stderr);
    let o = sh(&format!("etcd-dump --api v2 --endpoints {} --v2-hidden /registry/pods", a.endpoint));
    assert_eq!(o.code, 2, "{}", o.stderr);
    sh(&format!("kv-stats {p}/a.ndjson > /dev/null")).ok();
}

#[test]
fn a_v2_keyspace_migrates_to_v3() {
    let a = v2_etcd();
    seed(&a);
    let c = Etcd::start();
    let d = tmp();
    let p = d.path().display();
    let o = sh(&format!(
        "etcd-dump --api v2 -q --endpoints {} | kv-filter -q --prefix /registry/ | etcd-load --api v3 --endpoints {}",
        a.endpoint, c.endpoint
    ));
    o.ok();
    assert!(
        o.stderr.starts_with("etcd-load: 11 keys read: 5 created, 0 updated, 0 deleted, 0 unchanged, 6 v2 directories left out (v3 has none)"),
        "{}",
        o.stderr
    );
    let keys: Vec<(String, String, bool)> = c
        .get_all()
        .into_iter()
        .map(|(k, v, lease)| (String::from_utf8(k).unwrap(), String::from_utf8(v).unwrap(), lease != 0))
        .collect();
    let want = [
        ("/registry/leases/master", "10.0.0.1", true),
        ("/registry/pods/default/caf\u{e9}", "caf\u{e9} \"quoted\" \\ tab\there\nnewline", false),
        ("/registry/pods/default/web", "{\"kind\":\"Pod\"}", false),
        ("/registry/sp ace:colon", "", false),
        ("/registry/tdir/inside", "x", false),
    ];
    assert_eq!(keys, want.iter().map(|(k, v, l)| (k.to_string(), v.to_string(), *l)).collect::<Vec<_>>());
    // The TTL became a lease with the time left.
    let leases = c.etcdctl(&["lease", "list"]).stdout_str();
    let id = leases.lines().nth(1).unwrap().trim().to_string();
    let ttl = c.etcdctl(&["lease", "timetolive", &id]).stdout_str();
    assert!(ttl.contains("remaining(29") || ttl.contains("remaining(30"), "{ttl}");
    let _ = p;
}

#[test]
fn auto_reads_v2_only_where_v3_holds_nothing() {
    let e = v2_etcd();
    seed(&e);
    let auto = sh(&format!("etcd-dump -q --api auto --endpoints {} --prefix /registry/", e.endpoint));
    assert_eq!(header(&auto.ok().stdout)["api"], "v2");
    e.put_all(&[(b"/registry/v3key".to_vec(), b"v".to_vec())]);
    let auto = sh(&format!("etcd-dump -q --api auto --endpoints {} --prefix /registry/", e.endpoint));
    let h = header(&auto.ok().stdout);
    assert!(h.get("api").is_none(), "{h}");
    // What it leaves out is said (even with -q) and counted in the header.
    assert_eq!(
        auto.stderr,
        "etcd-dump: warning: 11 v2 nodes under the prefixes are left out: --api auto dumps v3, which holds keys \
         there too; dump them with --api v2\n"
    );
    assert_eq!(h["v2_nodes_left_out"], 11);
    let d = tmp();
    let o = sh(&format!("rcli backup create -e {} -t {}", e.endpoint, d.path().display()));
    o.ok();
    assert!(
        o.stderr.contains("rcli: warning: the etcd holds v2 keys under /registry too; they are not in this v3 backup"),
        "{}",
        o.stderr
    );
    // An etcd without --enable-v2 says so, and what to do.
    let plain = Etcd::start();
    let o = sh(&format!("etcd-dump --api v2 --endpoints {}", plain.endpoint));
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(
        o.stderr.contains("does not serve the v2 API (HTTP 404): start it with --enable-v2, or use --api v3"),
        "{}",
        o.stderr
    );
}

#[test]
fn a_dump_of_a_v2_keyspace_being_written_is_one_point_in_time() {
    let e = v2_etcd();
    // Big directories, so that reading them takes long enough for writes to fall in between.
    let d = tmp();
    let mut h = reshifter_format::Header::new("test");
    h.api = reshifter_format::Api::V2;
    let mut w = reshifter_format::StreamWriter::new(Vec::new(), &h).unwrap();
    for dir in ["/a/", "/b/"] {
        for i in 0..4000 {
            let r = reshifter_format::Record {
                key: format!("{dir}k{i:05}").into_bytes(),
                value: vec![b'v'; 100],
                ..Default::default()
            };
            w.write(&r).unwrap();
        }
        w.write(&reshifter_format::Record {
            key: format!("{dir}x").into_bytes(),
            value: b"0".to_vec(),
            ..Default::default()
        })
        .unwrap();
    }
    std::fs::write(d.path().join("big.ndjson"), w.finish().unwrap().0).unwrap();
    sh(&format!("etcd-load -q --endpoints {} {}/big.ndjson", e.endpoint, d.path().display())).ok();
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let written = std::sync::Arc::new(AtomicU64::new(0));
    let writer = {
        let (stop, written, endpoint) = (stop.clone(), written.clone(), e.endpoint.clone());
        std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(Ordering::SeqCst) {
                i += 1;
                // Both writes in one shell: as close together as curl allows.
                sh(&format!(
                    "curl -sS -X PUT {endpoint}/v2/keys/a/x -d value={i} > /dev/null && \
                     curl -sS -X PUT {endpoint}/v2/keys/b/x -d value={i} > /dev/null"
                ));
                written.store(i, Ordering::SeqCst);
            }
            i
        })
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let (mut consistent, mut refused) = (0, 0);
    // Dumps keep coming while the writer goes on, until plenty of writes fell among them.
    while (consistent < 20 || written.load(Ordering::SeqCst) < 100) && Instant::now() < deadline {
        let o = sh(&format!("etcd-dump -q --api v2 --endpoints {} --prefix /a --prefix /b", e.endpoint));
        if o.code != 0 {
            assert_eq!(o.code, 6, "{}", o.stderr);
            assert!(
                o.stderr.contains("the v2 keyspace changed while its 2 prefixes were read, 5 times in a row"),
                "{}",
                o.stderr
            );
            refused += 1;
            continue;
        }
        let v: Vec<u64> = records(&o.stdout)
            .iter()
            .filter(|r| r.key.ends_with(b"/x"))
            .map(|r| String::from_utf8_lossy(&r.value).parse().unwrap())
            .collect();
        // /a/x is written before /b/x: at one index they are equal, or /a/x is one ahead.
        assert!(v[0] == v[1] || v[0] == v[1] + 1, "an inconsistent dump: /a/x={} /b/x={}", v[0], v[1]);
        consistent += 1;
    }
    stop.store(true, Ordering::SeqCst);
    let writes = writer.join().unwrap();
    assert!(writes >= 100, "the writer kept writing: {writes}");
    assert!(consistent > 0, "no dump made it in {refused} tries");
}

#[test]
fn v2_over_tls_with_reshifters_environment_and_create_only() {
    let e = Etcd::start_tls_with(&["--enable-v2"]);
    let t = e.tls.clone().unwrap();
    let d = tmp();
    let p = d.path().display();
    let mut h = reshifter_format::Header::new("test");
    h.api = reshifter_format::Api::V2;
    let mut w = reshifter_format::StreamWriter::new(Vec::new(), &h).unwrap();
    for (k, v) in [("/registry/", ""), ("/registry/a", "1"), ("/registry/b", "2")] {
        w.write(&reshifter_format::Record { key: k.into(), value: v.into(), ..Default::default() }).unwrap();
    }
    std::fs::write(d.path().join("s.ndjson"), w.finish().unwrap().0).unwrap();
    // TLS files from ReShifter's variables, no flags.
    let env = [
        ("RS_ETCD_CA_CERT", t.ca.to_str().unwrap()),
        ("RS_ETCD_CLIENT_CERT", t.cert.to_str().unwrap()),
        ("RS_ETCD_CLIENT_KEY", t.key.to_str().unwrap()),
    ];
    let o = reshifter_e2e::sh_env(&format!("etcd-load --endpoints {} {p}/s.ndjson", e.endpoint), &env);
    assert!(o.ok().stderr.starts_with("etcd-load (v2): 3 keys read: 3 created"), "{}", o.stderr);
    // create-only keeps what exists.
    let mut h2 = h.clone();
    h2.time = "2026-01-01T00:00:00Z".into();
    let mut w = reshifter_format::StreamWriter::new(Vec::new(), &h2).unwrap();
    for (k, v) in [("/registry/a", "changed"), ("/registry/c", "3")] {
        w.write(&reshifter_format::Record { key: k.into(), value: v.into(), ..Default::default() }).unwrap();
    }
    std::fs::write(d.path().join("t.ndjson"), w.finish().unwrap().0).unwrap();
    let o =
        reshifter_e2e::sh_env(&format!("etcd-load --endpoints {} --mode create-only {p}/t.ndjson", e.endpoint), &env);
    assert!(
        o.ok()
            .stderr
            .starts_with("etcd-load (v2): 2 keys read: 1 created, 0 updated, 0 deleted, 0 unchanged, 1 existing kept"),
        "{}",
        o.stderr
    );
    let dump = reshifter_e2e::sh_env(&format!("etcd-dump -q --api v2 --endpoints {}", e.endpoint), &env);
    let kv: Vec<(String, String)> = records(&dump.ok().stdout)
        .into_iter()
        .map(|r| (String::from_utf8(r.key).unwrap(), String::from_utf8(r.value).unwrap()))
        .collect();
    let want = [("/registry/", ""), ("/registry/a", "1"), ("/registry/b", "2"), ("/registry/c", "3")];
    assert_eq!(kv, want.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>());
    // Without the CA, TLS fails with a clear message (exit 6).
    let o = sh(&format!("etcd-dump --api v2 --endpoints {}", e.endpoint));
    assert_eq!(o.code, 6, "{}", o.stderr);
    assert!(o.stderr.starts_with("etcd-dump: cannot reach etcd's v2 API at "), "{}", o.stderr);
}

#[test]
fn a_v2_tree_too_deep_to_read_is_named_not_blamed_on_etcd() {
    let e = v2_etcd();
    let deep: String = (0..70).map(|i| format!("/d{i}")).collect();
    curl(&e, "PUT", &format!("/registry{deep}/leaf"), &[("value", "x")]);
    let o = sh(&format!("etcd-dump --api v2 --endpoints {} --prefix /registry", e.endpoint));
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("nests directories more than 60 deep"), "{}", o.stderr);
    assert!(!o.stderr.contains("is not what the v2 API sends"), "{}", o.stderr);
    // Its deep part, with a prefix of its own, is read.
    let part: String = (0..40).map(|i| format!("/d{i}")).collect();
    let o = sh(&format!("etcd-dump -q --api v2 --endpoints {} --prefix /registry{part}", e.endpoint));
    assert_eq!(records(&o.ok().stdout).len(), 32, "the prefix directory, 30 below it and the leaf");
}
