//! Continuous backup and point in time: etcd-watch segments, kv-apply, kv-diff, against a real
//! etcd that a writer keeps changing (puts, overwrites, deletes, transactions, leases that
//! expire).

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use etcd_client::{Client, DeleteOptions, PutOptions, Txn, TxnOp};
use reshifter_e2e::{Etcd, S3, rt, sh, sh_cmd, sh_env, tmp};
use reshifter_format::delta::{DeltaWriter, Event, delta_header, parse_segment_name};
use reshifter_format::{Header, Record, StreamWriter};

/// One step of the writer: what it does depends on `i`; returns the revision after it. Keys
/// put with a lease of one second expire: their deletes come at revisions of their own.
async fn step(c: &mut Client, i: usize, long: i64) -> i64 {
    let r = match i % 7 {
        0 => c.put(format!("/w/k{}", i % 37), format!("value {i}"), None).await.unwrap().header().unwrap().revision(),
        1 => {
            let po = PutOptions::new().with_lease(long);
            c.put(format!("/w/l{}", i % 11), format!("leased {i}"), Some(po))
                .await
                .unwrap()
                .header()
                .unwrap()
                .revision()
        }
        2 => c.delete(format!("/w/k{}", (i * 7) % 37), None).await.unwrap().header().unwrap().revision(),
        3 => {
            let t = Txn::new().and_then(vec![
                TxnOp::put(format!("/w/t{}a", i % 13), format!("a{i}"), None),
                TxnOp::put(format!("/w/t{}b", i % 13), format!("b{i}"), None),
                TxnOp::delete(format!("/w/k{}", (i * 3) % 37), None),
            ]);
            c.txn(t).await.unwrap().header().unwrap().revision()
        }
        4 => {
            let short = c.lease_grant(1, None).await.unwrap().id();
            let po = PutOptions::new().with_lease(short);
            c.put(format!("/w/s{}", i % 5), format!("short {i}"), Some(po)).await.unwrap().header().unwrap().revision()
        }
        5 if i % 50 == 47 => {
            let o = DeleteOptions::new().with_prefix();
            c.delete("/w/t", Some(o)).await.unwrap().header().unwrap().revision()
        }
        _ => {
            let key = [b"/w/bin\xff\x00".as_slice(), &[(i % 3) as u8]].concat();
            c.put(key, vec![0u8, 0xff, (i % 251) as u8], None).await.unwrap().header().unwrap().revision()
        }
    };
    tokio::time::sleep(Duration::from_millis(4)).await;
    r
}

/// Run `n` writer steps from `from`; the revision after each.
fn write(e: &Etcd, from: usize, n: usize, long: i64) -> Vec<i64> {
    rt().block_on(async {
        let mut c = e.client().await;
        let mut revs = Vec::new();
        for i in from..from + n {
            revs.push(step(&mut c, i, long).await);
        }
        revs
    })
}

fn grant(e: &Etcd, ttl: i64) -> i64 {
    rt().block_on(async { e.client().await.lease_grant(ttl, None).await.unwrap().id() })
}

/// Start etcd-watch in the background, stderr into `log`.
fn spawn_watch(args: &str, log: &Path) -> Child {
    let log = std::fs::File::create(log).unwrap();
    sh_cmd(&format!("exec etcd-watch {args}")).stdin(Stdio::null()).stdout(Stdio::null()).stderr(log).spawn().unwrap()
}

/// The complete segments in `dir`, by revision: (first, last, path).
fn segments(dir: &Path) -> Vec<(i64, i64, std::path::PathBuf)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let e = e.unwrap();
            let (a, b) = parse_segment_name(e.file_name().to_str()?)?;
            Some((a, b, e.path()))
        })
        .collect();
    v.sort();
    v
}

fn wait_for_end(dir: &Path, rev: i64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while segments(dir).last().is_none_or(|s| s.1 < rev) {
        assert!(Instant::now() < deadline, "no segment reached revision {rev}: {:?}", segments(dir));
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn stop(mut child: Child, sig: &str) -> i32 {
    sh(&format!("kill -{sig} {}", child.id()));
    child.wait().unwrap().code().unwrap_or(-1)
}

fn header_revision(stream: &[u8]) -> i64 {
    let first = stream.split(|&b| b == b'\n').next().unwrap();
    serde_json::from_slice::<serde_json::Value>(first).unwrap()["revision"].as_i64().unwrap()
}

/// Records lines and the trailer's count and digests: what must be equal between kv-apply's
/// output and etcd-dump --rev (headers differ in tool, time and the leases alive now).
fn content(stream: &[u8]) -> (Vec<String>, serde_json::Value) {
    let text = String::from_utf8_lossy(stream);
    let lines: Vec<&str> = text.lines().collect();
    let t: serde_json::Value = serde_json::from_str(lines[lines.len() - 1]).unwrap();
    let records = lines[1..lines.len() - 1].iter().map(|s| s.to_string()).collect();
    (records, serde_json::json!([t["count"], t["bytes"], t["sha256"], t["meta_sha256"]]))
}

#[test]
fn segments_replay_to_every_revision_across_a_killed_watcher() {
    let e = Etcd::start();
    let long = grant(&e, 600);
    write(&e, 0, 60, long);
    let d = tmp();
    let p = d.path().display();
    let f = e.flags();
    sh(&format!("etcd-dump {f} -q -o {p}/base.ndjson")).ok();
    let base = header_revision(&std::fs::read(d.path().join("base.ndjson")).unwrap());

    let deltas = d.path().join("deltas");
    let w1 = spawn_watch(&format!("{f} --from-rev {base} -o {p}/deltas --segment-seconds 1"), &d.path().join("w1.log"));
    let mut revs = write(&e, 60, 500, long);
    wait_for_end(&deltas, revs[250]);
    // Killed outright: its open segment is left as a temporary file, never as a segment.
    assert_eq!(stop(w1, "KILL"), -1);
    revs.extend(write(&e, 560, 200, long));
    let w2 =
        spawn_watch(&format!("{f} --resume {p}/deltas -o {p}/deltas --segment-seconds 1"), &d.path().join("w2.log"));
    revs.extend(write(&e, 760, 400, long));
    // Leases expire: their deletes come at revisions of their own.
    std::thread::sleep(Duration::from_secs(3));
    let last = e.revision();
    wait_for_end(&deltas, last);
    // SIGTERM stops it cleanly: the open segment is closed at the last revision it has whole.
    assert_eq!(stop(w2, "TERM"), 0, "{}", std::fs::read_to_string(d.path().join("w2.log")).unwrap());
    let log = std::fs::read_to_string(d.path().join("w2.log")).unwrap();
    assert!(log.starts_with("etcd-watch: stopped by signal 15: "), "{log}");

    // Contiguous segments, one after the other, none left half-written by the signal.
    let segs = segments(&deltas);
    assert!(segs.len() >= 4, "{segs:?}");
    assert_eq!(segs[0].0, base + 1);
    for w in segs.windows(2) {
        assert_eq!(w[1].0, w[0].1 + 1, "{segs:?}");
    }
    let partial: Vec<_> = std::fs::read_dir(&deltas)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(partial.len() <= 1, "only the killed watcher's temporary file may remain: {partial:?}");

    for r in [base, revs[0], revs[137], revs[250], revs[600], revs[700], revs[1000], last] {
        let a = sh(&format!("kv-apply -q --to-rev {r} {p}/base.ndjson {p}/deltas/*.ndjson"));
        a.ok();
        let b = sh(&format!("etcd-dump {f} -q --rev {r}"));
        b.ok();
        assert_eq!(header_revision(&a.stdout), r);
        assert_eq!(content(&a.stdout), content(&b.stdout), "revision {r}");
    }
    // Without --to-rev: as far as the deltas reach.
    let a = sh(&format!("kv-apply -q {p}/base.ndjson {p}/deltas/*.ndjson"));
    assert_eq!(header_revision(&a.ok().stdout), last);

    // A missing segment is a gap, named.
    let middle = &segs[segs.len() / 2];
    std::fs::remove_file(&middle.2).unwrap();
    let gap = sh(&format!("kv-apply --to-rev {last} {p}/base.ndjson {p}/deltas/*.ndjson > /dev/null"));
    assert_eq!(gap.code, 2);
    assert!(gap.stderr.starts_with(&format!("kv-apply: no delta holds revisions {}..", middle.0)), "{}", gap.stderr);
    // Up to the gap, kv-apply still works.
    sh(&format!("kv-apply -q --to-rev {} {p}/base.ndjson {p}/deltas/*.ndjson > /dev/null", middle.0 - 1)).ok();
}

#[test]
fn a_compacted_start_exits_7_and_says_to_dump_again() {
    let e = Etcd::start();
    let long = grant(&e, 600);
    let revs = write(&e, 0, 30, long);
    let d = tmp();
    let p = d.path().display();
    let f = e.flags();
    // A watcher that ran to revs[9], then stopped; etcd compacts behind it.
    sh(&format!("etcd-watch {f} -q --from-rev {} --until-rev {} -o {p}/deltas", revs[0], revs[9])).ok();
    e.etcdctl(&["compact", &revs[20].to_string()]).ok();
    let o = sh(&format!("etcd-watch {f} --resume {p}/deltas -o {p}/deltas --until-rev {}", revs[29]));
    assert_eq!(o.code, 7, "{}", o.stderr);
    assert_eq!(
        o.stderr,
        format!(
            "etcd-watch: revision {} was compacted (etcd keeps history from revision {} on): the changes in between \
             are gone; take a new full dump (etcd-dump) and watch from its revision\n",
            revs[9] + 1,
            revs[20]
        )
    );
    assert_eq!(segments(&d.path().join("deltas")).len(), 1, "no segment from the failed watch");
}

#[test]
fn one_stream_on_stdout_packs_and_is_refused_by_keyspace_tools() {
    let e = Etcd::start();
    let long = grant(&e, 600);
    let start = e.revision();
    let revs = write(&e, 0, 50, long);
    let d = tmp();
    let p = d.path().display();
    let f = e.flags();
    let o = sh(&format!("etcd-watch {f} --from-rev {start} --until-rev {} > {p}/d.ndjson", revs[40]));
    o.ok();
    let text = std::fs::read_to_string(d.path().join("d.ndjson")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].contains("\"kind\":\"delta\"") && lines[0].contains(&format!("\"revision\":{start}")));
    assert!(lines.last().unwrap().contains(&format!("\"end_revision\":{}", revs[40])), "{}", lines.last().unwrap());
    assert!(!text.contains(&format!("\"mod_revision\":{}", revs[41])), "nothing after --until-rev");
    assert!(text.contains("{\"op\":\"delete\",\"key\":\"/w/k"), "deletes are events");
    assert!(o.stderr.starts_with("etcd-watch: "), "{}", o.stderr);

    // --for: the stream ends, with its trailer, when the time is up.
    let o = sh(&format!("etcd-watch {f} -q --from-rev {start} --for 1s | tail -1 | jq -r .end_revision"));
    assert_eq!(o.ok().stdout_str().trim(), e.revision().to_string());

    // Through an archive and back, byte for byte, every compression.
    for c in ["deflate", "zstd", "store"] {
        sh(&format!("archive-pack -q --compression {c} {p}/d.ndjson -o {p}/d.zip")).ok();
        let back = sh(&format!("archive-unpack -q {p}/d.zip"));
        assert_eq!(back.ok().stdout, text.as_bytes(), "{c}");
        sh(&format!("archive-unpack -q --verify {p}/d.zip")).ok();
    }
    // A cut archive never unpacks to a complete stream.
    let zip = std::fs::read(d.path().join("d.zip")).unwrap();
    std::fs::write(d.path().join("cut.zip"), &zip[..zip.len() - 30]).unwrap();
    assert_ne!(sh(&format!("archive-unpack -q {p}/cut.zip > /dev/null")).code, 0);

    // Tools that read a keyspace refuse a delta stream with one line that says what to do.
    for tool in ["kv-filter --prefix /w/", "kv-stats", "kv-seal", &format!("etcd-load {f} --dry-run")] {
        let o = sh(&format!("{tool} < {p}/d.ndjson"));
        assert_eq!(o.code, 3, "{tool}: {}", o.stderr);
        let name = tool.split(' ').next().unwrap();
        assert_eq!(
            o.stderr,
            format!(
                "{name}: line 1: this is a delta stream (changes after revision {start}, from etcd-watch), not a keyspace: \
                 kv-apply BASE DELTA... turns a full dump and its deltas into a stream this tool reads\n"
            ),
            "{tool}"
        );
    }
    // A delta in the base's place, a keyspace in a delta's.
    let o = sh(&format!("kv-apply {p}/d.ndjson {p}/d.ndjson"));
    assert_eq!(o.code, 3, "{}", o.stderr);
}

#[test]
fn filters_get_each_segment_and_a_failing_one_stops_the_watch() {
    let e = Etcd::start();
    let long = grant(&e, 600);
    let start = e.revision();
    let revs = write(&e, 0, 120, long);
    let d = tmp();
    let p = d.path().display();
    let f = e.flags();
    std::fs::create_dir(d.path().join("out")).unwrap();
    let o = sh(&format!(
        "etcd-watch {f} -q --from-rev {start} --until-rev {} --segment-bytes 500 --filter 'cat > {p}/out/$FILE.ndjson'",
        revs[119]
    ));
    o.ok();
    let segs = segments(&d.path().join("out"));
    assert!(segs.len() >= 3, "{segs:?}");
    assert_eq!((segs[0].0, segs.last().unwrap().1), (start + 1, revs[119]));
    let base = sh(&format!("etcd-dump {f} -q --rev {start}"));
    std::fs::write(d.path().join("base.ndjson"), &base.ok().stdout).unwrap();
    let a = sh(&format!("kv-apply -q --to-rev {} {p}/base.ndjson {p}/out/*.ndjson", revs[100]));
    let b = sh(&format!("etcd-dump {f} -q --rev {}", revs[100]));
    assert_eq!(content(&a.ok().stdout), content(&b.ok().stdout));

    // The filter fails on the first segment: the watch stops with its code, the segment stays.
    let o = sh(&format!(
        "etcd-watch {f} --from-rev {start} --until-rev {} --segment-bytes 500 --spool {p}/spool --filter 'cat > /dev/null; exit 3'",
        revs[119]
    ));
    assert_eq!(o.code, 3, "{}", o.stderr);
    let kept = segments(&d.path().join("spool"));
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert!(
        o.stderr.contains(&format!(
            "the filter failed (exit status: 3) on segment delta-{:020}-{:020}: the segment is kept as {}",
            kept[0].0,
            kept[0].1,
            kept[0].2.display()
        )),
        "{}",
        o.stderr
    );
    // The same changes as the first run's first segment. The header's time differs, and so may
    // the leases' remaining TTL in the trailer (and the meta digest that covers it) when the two
    // runs fall on either side of a second.
    let body = |p: &Path| {
        let s = std::fs::read_to_string(p).unwrap();
        let lines: Vec<&str> = s.lines().collect();
        let t: serde_json::Value = serde_json::from_str(lines[lines.len() - 1]).unwrap();
        let ids: Vec<_> = t["leases"].as_array().unwrap().iter().map(|l| l["id"].clone()).collect();
        let trailer = (t["count"].clone(), t["bytes"].clone(), t["sha256"].clone(), t["end_revision"].clone(), ids);
        (lines[1..lines.len() - 1].join("\n"), trailer)
    };
    assert_eq!(body(&kept[0].2), body(&segs[0].2));
}

fn rec(key: &[u8], value: &[u8], rev: i64) -> Record {
    Record { key: key.to_vec(), value: value.to_vec(), create_revision: 2, mod_revision: rev, version: 1, lease: 0 }
}

fn write_stream(path: &Path, revision: i64, records: &[Record]) {
    let mut h = Header::new("test");
    h.time = "2026-01-01T00:00:00Z".into();
    h.revision = revision;
    h.complete = true;
    h.cluster_id = Some("c1".into());
    let mut w = StreamWriter::new(Vec::new(), &h).unwrap();
    for r in records {
        w.write(r).unwrap();
    }
    std::fs::write(path, w.finish().unwrap().0).unwrap();
}

fn write_delta(path: &Path, start: i64, end: i64, events: &[Event]) {
    let mut h = delta_header("test", start, vec![String::new()]);
    h.complete = true;
    h.cluster_id = Some("c1".into());
    let mut w = DeltaWriter::new(Vec::new(), &h).unwrap();
    for e in events {
        w.write(e).unwrap();
    }
    std::fs::write(path, w.finish(end, vec![], None).unwrap().0).unwrap();
}

#[test]
fn deltas_that_overlap_must_agree() {
    let d = tmp();
    let p = d.path().display();
    write_stream(&d.path().join("base.ndjson"), 10, &[rec(b"/a", b"1", 5), rec(b"/b", b"2", 6)]);
    let put = |k: &[u8], v: &[u8], rev: i64| Event::put(rec(k, v, rev));
    write_delta(&d.path().join("d1.ndjson"), 10, 20, &[put(b"/a", b"x", 12), put(b"/c", b"y", 15)]);
    // Overlaps d1 at 15..20 and agrees.
    write_delta(&d.path().join("d2.ndjson"), 14, 30, &[put(b"/c", b"y", 15), Event::delete(b"/b".to_vec(), 25)]);
    let o = sh(&format!("kv-apply {p}/base.ndjson {p}/d2.ndjson {p}/d1.ndjson"));
    let text = o.ok().stdout_str();
    let keys: Vec<&str> = text.lines().filter(|l| !l.contains("\"type\"")).collect();
    assert_eq!(
        keys,
        [
            "{\"key\":\"/a\",\"create_revision\":2,\"mod_revision\":12,\"version\":1,\"value\":\"x\"}",
            "{\"key\":\"/c\",\"create_revision\":2,\"mod_revision\":15,\"version\":1,\"value\":\"y\"}",
        ]
    );
    assert!(o.stderr.starts_with("kv-apply: 2 keys, 6 B at revision 30 (base 10 + 3 changes) in "), "{}", o.stderr);
    // One that disagrees about revision 15, and one that lacks it.
    write_delta(&d.path().join("d3.ndjson"), 14, 30, &[put(b"/c", b"z", 15), Event::delete(b"/b".to_vec(), 25)]);
    let o = sh(&format!("kv-apply {p}/base.ndjson {p}/d1.ndjson {p}/d3.ndjson"));
    assert_eq!(o.code, 5);
    assert_eq!(
        o.stderr,
        format!("kv-apply: {p}/d3.ndjson disagrees with an earlier delta about the changes of revision 15\n")
    );
    write_delta(&d.path().join("d4.ndjson"), 14, 30, &[Event::delete(b"/b".to_vec(), 25)]);
    let o = sh(&format!("kv-apply {p}/base.ndjson {p}/d1.ndjson {p}/d4.ndjson"));
    assert_eq!(o.code, 5);
    assert_eq!(
        o.stderr,
        format!("kv-apply: {p}/d4.ndjson lacks the changes of revision 15 that an earlier delta holds\n")
    );
    // Past the deltas, and before the base.
    let o = sh(&format!("kv-apply --to-rev 31 {p}/base.ndjson {p}/d1.ndjson {p}/d2.ndjson"));
    assert_eq!(
        o.stderr,
        "kv-apply: the deltas reach revision 30 without a gap: they cannot bring the keyspace to 31\n"
    );
    let o = sh(&format!("kv-apply --to-rev 9 {p}/base.ndjson {p}/d1.ndjson"));
    assert_eq!(o.stderr, "kv-apply: --to-rev 9 is before the base's revision 10: kv-apply only goes forward\n");
    // A base that names no cluster proves nothing about where the deltas were watched.
    let mut h = Header::new("test");
    h.revision = 10;
    h.complete = true;
    std::fs::write(d.path().join("nameless.ndjson"), StreamWriter::new(Vec::new(), &h).unwrap().finish().unwrap().0)
        .unwrap();
    let o = sh(&format!("kv-apply {p}/nameless.ndjson {p}/d1.ndjson"));
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("the base names no cluster"), "{}", o.stderr);
}

#[test]
fn kv_diff_names_every_change_and_exits_like_diff() {
    let d = tmp();
    let p = d.path().display();
    let a = [rec(b"/a", b"1", 5), rec(b"/b", b"2", 6), rec(b"/bin\xff", b"\x00", 7), rec(b"/d", b"4", 8)];
    let b = [rec(b"/a", b"1", 9), rec(b"/bin\xff", b"\x01", 10), rec(b"/c", b"3", 11), rec(b"/d", b"4", 8)];
    write_stream(&d.path().join("a.ndjson"), 10, &a);
    write_stream(&d.path().join("b.ndjson"), 12, &b);
    let o = sh(&format!("kv-diff {p}/a.ndjson {p}/b.ndjson"));
    assert_eq!(o.code, 1, "{}", o.stderr);
    let sha = |v: &[u8]| reshifter_format::value_sha256(v).iter().map(|b| format!("{b:02x}")).collect::<String>();
    let side = |r: i64, v: &[u8]| {
        format!(
            "{{\"create_revision\":2,\"mod_revision\":{r},\"version\":1,\"size\":{},\"sha256\":\"{}\"}}",
            v.len(),
            sha(v)
        )
    };
    assert_eq!(
        o.stdout_str(),
        format!(
            "{{\"change\":\"removed\",\"key\":\"/b\",\"a\":{}}}\n\
             {{\"change\":\"changed\",\"key_b64\":\"L2Jpbv8=\",\"a\":{},\"b\":{}}}\n\
             {{\"change\":\"added\",\"key\":\"/c\",\"b\":{}}}\n",
            side(6, b"2"),
            side(7, b"\x00"),
            side(10, b"\x01"),
            side(11, b"3")
        )
    );
    assert!(o.stderr.starts_with("kv-diff: 1 added, 1 removed, 1 changed, 2 the same ("), "{}", o.stderr);
    // --meta: /a was rewritten with the same value.
    let o = sh(&format!("kv-diff --meta -q {p}/a.ndjson {p}/b.ndjson | jq -r .key"));
    assert_eq!(o.stdout_str(), "/a\n/b\nnull\n/c\n");
    let o = sh(&format!("kv-diff --stat -q --values {p}/a.ndjson {p}/b.ndjson"));
    assert_eq!(
        o.stdout_str(),
        "{\"resource\":\"(not kubernetes) /b\",\"added\":0,\"removed\":1,\"changed\":0}\n\
         {\"resource\":\"(not kubernetes) /bin\u{fffd}\",\"added\":0,\"removed\":0,\"changed\":1}\n\
         {\"resource\":\"(not kubernetes) /c\",\"added\":1,\"removed\":0,\"changed\":0}\n"
    );
    // Equal inputs, one of them an archive, one on stdin.
    sh(&format!("archive-pack -q {p}/a.ndjson -o {p}/a.zip")).ok();
    let o = sh(&format!("kv-diff {p}/a.zip - < {p}/a.ndjson"));
    assert_eq!((o.code, o.stdout.len()), (0, 0), "{}", o.stderr);
    assert_eq!(o.stderr, "kv-diff: identical: 4 keys\n");
    // An encrypted archive, opened with its passphrase.
    std::fs::write(d.path().join("pass"), "correct horse battery staple\n").unwrap();
    sh(&format!("archive-pack -q --passphrase-file {p}/pass {p}/a.ndjson -o {p}/a.zip.age")).ok();
    let o = sh(&format!("kv-diff --passphrase-file {p}/pass {p}/a.zip.age {p}/a.ndjson"));
    assert_eq!(o.code, 0, "{}", o.stderr);
    // Trouble is > 1: a truncated input, a missing file.
    let text = std::fs::read_to_string(d.path().join("b.ndjson")).unwrap();
    std::fs::write(d.path().join("cut.ndjson"), &text[..text.rfind("{\"type\"").unwrap()]).unwrap();
    assert_eq!(sh(&format!("kv-diff -q {p}/a.ndjson {p}/cut.ndjson > /dev/null")).code, 4);
    assert_eq!(sh(&format!("kv-diff -q {p}/a.ndjson {p}/nothing")).code, 2);
}

#[test]
fn kv_diff_of_a_million_keys_stays_small() {
    let d = tmp();
    let p = d.path().display();
    sh(&format!("kv-gen --small --objects 1000000 -o {p}/a.ndjson")).ok();
    sh(&format!("kv-filter -q --exclude-resource configmaps {p}/a.ndjson -o {p}/b.ndjson")).ok();
    let removed = sh(&format!("kv-filter -q --resource configmaps {p}/a.ndjson | jq -c 'select(.type | not)' | wc -l"));
    let removed: u64 = removed.ok().stdout_str().trim().parse().unwrap();
    assert!(removed > 1000, "{removed}");
    let o = sh(&format!("/usr/bin/time -f 'rss %M' kv-diff -q {p}/a.ndjson {p}/b.ndjson | wc -l"));
    assert_eq!(o.code, 1, "they differ: {}", o.stderr);
    assert_eq!(o.stdout_str().trim().parse::<u64>().unwrap(), removed);
    // GNU time says "Command exited with non-zero status 1" first: they differ.
    let rss: u64 = o.stderr.lines().last().and_then(|l| l.strip_prefix("rss ")).unwrap().parse().unwrap();
    assert!(rss < 64 * 1024, "kv-diff of 1M keys took {rss} KiB");
}

#[test]
fn segments_go_to_s3_as_archives_and_the_watch_resumes_from_there() {
    let e = Etcd::start();
    let s3 = S3::start();
    s3.bucket("backups");
    let long = grant(&e, 600);
    let d = tmp();
    let p = d.path().display();
    let (f, s) = (e.flags(), s3.flags());
    sh(&format!("etcd-dump {f} -q -o {p}/base.ndjson")).ok();
    let base = header_revision(&std::fs::read(d.path().join("base.ndjson")).unwrap());
    let revs = write(&e, 0, 100, long);
    // The README's pipeline: each segment packed and pushed; the watch stops at revs[59].
    let filter = format!("archive-pack -q | s3-push -q {s} s3://backups/prod/deltas/$FILE.zip");
    let o = sh_env(
        &format!(
            "etcd-watch {f} -q --from-rev {base} --until-rev {} --segment-bytes 200 --filter '{filter}'",
            revs[59]
        ),
        &s3.env(),
    );
    o.ok();
    // Resumed from what S3 holds, on to the end.
    let o = sh_env(
        &format!(
            "etcd-watch {f} {s} -q --resume s3://backups/prod/deltas/ --until-rev {} --segment-bytes 200 --filter '{filter}'",
            revs[99]
        ),
        &s3.env(),
    );
    o.ok();
    let ls = sh_env(
        &format!("s3-ls {s} --json s3://backups/prod/deltas/ | jq -r '.key + \" \" + (.verified|tostring)'"),
        &s3.env(),
    );
    let names: Vec<String> = ls.ok().stdout_str().lines().map(str::to_string).collect();
    assert!(names.len() >= 4 && names.iter().all(|n| n.ends_with(".zip true")), "{names:?}");
    let mut ranges: Vec<(i64, i64)> = names
        .iter()
        .filter_map(|n| parse_segment_name(n.trim_start_matches("prod/deltas/").split(' ').next()?))
        .collect();
    ranges.sort();
    assert_eq!((ranges[0].0, ranges.last().unwrap().1), (base + 1, revs[99]));
    for w in ranges.windows(2) {
        assert_eq!(w[1].0, w[0].1 + 1, "{ranges:?}");
    }
    // Point in time from S3: every segment pulled and unpacked, then kv-apply.
    std::fs::create_dir(d.path().join("pulled")).unwrap();
    for (a, b) in &ranges {
        let name = reshifter_format::delta::segment_name(*a, *b);
        sh_env(
            &format!(
                "s3-pull -q {s} s3://backups/prod/deltas/{name}.zip | archive-unpack -q > {p}/pulled/{name}.ndjson"
            ),
            &s3.env(),
        )
        .ok();
    }
    let a = sh(&format!("kv-apply -q --to-rev {} {p}/base.ndjson {p}/pulled/*.ndjson", revs[80]));
    let b = sh(&format!("etcd-dump {f} -q --rev {}", revs[80]));
    assert_eq!(content(&a.ok().stdout), content(&b.ok().stdout));
}

#[test]
fn a_restarted_etcd_is_watched_again_without_gap_or_duplicate() {
    let mut e = Etcd::start();
    let long = grant(&e, 600);
    let d = tmp();
    let p = d.path().display();
    let f = e.flags();
    sh(&format!("etcd-dump {f} -q -o {p}/base.ndjson")).ok();
    let base = header_revision(&std::fs::read(d.path().join("base.ndjson")).unwrap());
    let w = spawn_watch(&format!("{f} --from-rev {base} -o {p}/deltas --segment-seconds 1"), &d.path().join("w.log"));
    let mut revs = write(&e, 0, 150, long);
    // etcd goes away mid-watch and comes back on the same data.
    e.restart_with(&[]);
    revs.extend(write(&e, 150, 150, long));
    e.kill();
    std::thread::sleep(Duration::from_millis(1500));
    e.restart_with(&[]);
    revs.extend(write(&e, 300, 150, long));
    let last = e.revision();
    let deadline = Instant::now() + Duration::from_secs(30);
    while segments(&d.path().join("deltas")).last().is_none_or(|s| s.1 < last) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(stop(w, "INT"), 0, "{}", std::fs::read_to_string(d.path().join("w.log")).unwrap());
    let log = std::fs::read_to_string(d.path().join("w.log")).unwrap();
    assert!(log.starts_with("etcd-watch: stopped by signal 2: "), "{log}");
    for r in [revs[100], revs[200], revs[449]] {
        let a = sh(&format!("kv-apply -q --to-rev {r} {p}/base.ndjson {p}/deltas/*.ndjson"));
        let b = sh(&format!("etcd-dump {f} -q --rev {r}"));
        assert_eq!(content(&a.ok().stdout), content(&b.ok().stdout), "revision {r}");
    }
    // No event twice: every (key, revision) once across the segments.
    let all = sh(&format!(
        "cat {p}/deltas/*.ndjson | jq -c 'select(.op) | [.key, .key_b64, .mod_revision]' | sort | uniq -d"
    ));
    assert_eq!(all.ok().stdout_str(), "");
}

#[test]
fn a_resume_proves_the_same_etcd_history_or_refuses() {
    let mut e = Etcd::start();
    let long = grant(&e, 600);
    let d = tmp();
    let p = d.path().display();
    let f = e.flags();
    let base = e.revision();
    let revs = write(&e, 0, 30, long);
    sh(&format!("etcd-watch {f} -q --from-rev {base} --until-rev {} -o {p}/deltas --segment-bytes 300", revs[29])).ok();
    let segs = segments(&d.path().join("deltas"));
    let last = std::fs::read_to_string(&segs.last().unwrap().2).unwrap();
    let trailer: serde_json::Value = serde_json::from_str(last.lines().last().unwrap()).unwrap();
    assert!(trailer["anchor"]["mod_revision"].as_i64().unwrap() > base, "{trailer}");
    // The same etcd: the watch continues.
    let more = write(&e, 30, 5, long);
    sh(&format!("etcd-watch {f} -q --resume {p}/deltas --until-rev {} -o {p}/deltas", more[4])).ok();
    assert_eq!(segments(&d.path().join("deltas")).last().unwrap().1, more[4]);
    // Another cluster: refused (exit 2), naming both.
    let other = Etcd::start();
    write(&other, 0, 60, grant(&other, 600));
    let o = sh(&format!("etcd-watch {} -q --resume {p}/deltas -o {p}/deltas --for 1s", other.flags()));
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(
        o.stderr.contains(&format!("{p}/deltas watch cluster ")) && o.stderr.contains("is cluster"),
        "{}",
        o.stderr
    );
    // The same cluster id rebuilt with another history (more revisions than the segments have):
    // refused with exit 7, and nothing written.
    e.rebuild();
    let long = grant(&e, 600);
    write(&e, 100, 80, long);
    assert!(e.revision() > more[4]);
    let before = segments(&d.path().join("deltas")).len();
    let o = sh(&format!("etcd-watch {f} -q --resume {p}/deltas -o {p}/deltas --for 1s"));
    assert_eq!(o.code, 7, "{}", o.stderr);
    assert!(
        o.stderr.contains("is not the history the segments in") && o.stderr.contains("take a new full dump"),
        "{}",
        o.stderr
    );
    assert_eq!(segments(&d.path().join("deltas")).len(), before);
}
