//! Restores Kubernetes can live with (issue 13): revisions that never go backwards
//! (--bump-revision, --mark-compacted), and the restore plan per resource and namespace.

use reshifter_e2e::{Etcd, sh, sh_input};
use reshifter_format::{Header, Record, StreamWriter};

/// A source with some history: 300 objects, then rewrites, so its revision is well above 300.
fn source() -> (Etcd, Vec<u8>) {
    let src = Etcd::start();
    sh(&format!("kv-gen --objects 300 | etcd-load -q {}", src.flags())).ok();
    for i in 0..40 {
        src.etcdctl(&["put", "/registry/configmaps/default/churn", &i.to_string()]).ok();
    }
    let dump = sh(&format!("etcd-dump -q {}", src.flags()));
    dump.ok();
    (src, dump.stdout)
}

#[test]
fn a_bumped_restore_starts_above_the_source_and_older_watches_are_told_compacted() {
    let (src, dump) = source();
    let src_rev = src.revision();
    let dst = Etcd::start();
    let before = dst.revision();
    assert!(before < src_rev);

    // Dry: says what it would do, writes nothing.
    let dry = sh_input(&format!("etcd-load --dry-run --bump-revision=5000 --mark-compacted {}", dst.flags()), &dump);
    dry.ok();
    assert!(
        dry.stderr.starts_with(&format!(
            "etcd-load: dry run: would raise the revision from {before} to {} ({} filler writes) and compact there \
             after the load\n",
            src_rev + 5000,
            src_rev + 5000 - before
        )),
        "{}",
        dry.stderr
    );
    assert_eq!(dst.revision(), before);

    let o = sh_input(&format!("etcd-load --bump-revision=5000 --mark-compacted {}", dst.flags()), &dump);
    o.ok();
    let goal = src_rev + 5000;
    assert!(
        o.stderr.starts_with(&format!(
            "etcd-load: revision raised from {before} to {goal} before the load ({} filler writes in ",
            goal - before
        )),
        "{}",
        o.stderr
    );
    let n = src.get_all().len();
    assert!(
        o.stderr.contains(&format!("; compacted at it after the load\netcd-load: {n} keys read: {n} created")),
        "{}",
        o.stderr
    );
    // Every restored key comes after the raised revision; the filler key is gone.
    let keys = dst.get_all();
    assert_eq!(keys.len(), n);
    assert_eq!(dst.etcdctl(&["get", "/reshifter.io/bump-revision"]).stdout_str(), "");
    let restored: Vec<_> = keys.iter().map(|(k, v, _)| (k.clone(), v.clone())).collect();
    let original: Vec<_> = src.get_all().into_iter().map(|(k, v, _)| (k, v)).collect();
    assert_eq!(restored, original);
    let revs = rev_range(&dst);
    assert!(revs.0 > goal, "the oldest restored mod_revision {} is above {goal}", revs.0);
    assert!(dst.revision() > src_rev);

    // A client that saw the source's revision and watches on from it is told "compacted".
    let o = sh(&format!("etcd-watch -q {} --from-rev {} --until-rev {}", dst.flags(), src_rev, src_rev + 10));
    assert_eq!(o.code, 7, "{}", o.stderr);
    assert!(o.stderr.contains(&format!("was compacted (etcd keeps history from revision {goal} on)")), "{}", o.stderr);
    let w = dst.etcdctl(&["watch", "--rev", &(src_rev + 1).to_string(), "/registry/", "--prefix"]);
    assert!(w.stderr.contains("required revision has been compacted"), "{}", w.stderr);

    // Loading again: the revision is already past the goal, nothing is raised.
    let now = dst.revision();
    let o = sh_input(&format!("etcd-load --bump-revision=5000 {}", dst.flags()), &dump);
    o.ok();
    assert!(
        o.stderr.starts_with(&format!(
            "etcd-load: the revision is already {now} (at least the {goal} asked for): not raised\n"
        )),
        "{}",
        o.stderr
    );
}

/// The lowest and highest mod_revision in an etcd.
fn rev_range(e: &Etcd) -> (i64, i64) {
    let out = e.etcdctl(&["get", "", "--prefix", "--keys-only", "-w", "json"]);
    let v: serde_json::Value = serde_json::from_str(&out.stdout_str()).unwrap();
    let revs: Vec<i64> = v["kvs"].as_array().unwrap().iter().map(|kv| kv["mod_revision"].as_i64().unwrap()).collect();
    (*revs.iter().min().unwrap(), *revs.iter().max().unwrap())
}

#[test]
fn bumping_refuses_what_it_cannot_do_right() {
    let (_src, dump) = source();
    let dst = Etcd::start();
    let f = dst.flags();
    let o = sh_input(&format!("etcd-load --mark-compacted {f}"), &dump);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("--bump-revision"), "{}", o.stderr);
    // A format-1 stream's revision is covered by no digest.
    let text = String::from_utf8(dump.clone()).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    let header: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    let v1 = format!(
        "{{\"type\":\"header\",\"format\":1,\"tool\":\"t\",\"time\":\"\",\"revision\":{},\"prefixes\":[\"\"],\"sorted\":true}}",
        header["revision"]
    );
    lines[0] = &v1;
    lines.pop();
    let o = sh_input(&format!("etcd-load --bump-revision=10 {f}"), format!("{}\n", lines.join("\n")).as_bytes());
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (
            2,
            "etcd-load: --bump-revision needs the stream's revision, and no digest covers a format-1 header's: \
             re-seal it with kv-seal, or dump again\n"
        )
    );
    let o = sh_input(&format!("etcd-load --bump-revision=-5 {f}"), &dump);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert_eq!(dst.revision(), 1, "nothing was written");
}

#[test]
fn the_restore_plan_counts_per_resource_and_namespace() {
    let dst = Etcd::start();
    let mut h = Header::new("test");
    h.prefixes = vec![String::new()];
    h.complete = true;
    let mut w = StreamWriter::new(Vec::new(), &h).unwrap();
    for key in [
        "/other/key",
        "/registry/namespaces/prod",
        "/registry/pods/dev/c",
        "/registry/pods/prod/a",
        "/registry/pods/prod/b",
    ] {
        let r =
            Record { key: key.into(), value: b"v".to_vec(), create_revision: 1, mod_revision: 1, version: 1, lease: 0 };
        w.write(&r).unwrap();
    }
    let (stream, _) = w.finish().unwrap();
    dst.put_all(&[
        (b"/registry/pods/prod/a".to_vec(), b"v".to_vec()),
        (b"/registry/pods/prod/b".to_vec(), b"old".to_vec()),
        (b"/registry/pods/prod/zz".to_vec(), b"stray".to_vec()),
    ]);
    let o = sh_input(&format!("etcd-load --mode sync --plan {}", dst.flags()), &stream);
    o.ok();
    assert_eq!(
        o.stdout_str(),
        "RESOURCE          NAMESPACE     CREATE     UPDATE     DELETE  UNCHANGED       KEEP\n\
         (not kubernetes)                     1          0          0          0          0\n\
         namespaces                           1          0          0          0          0\n\
         pods              dev                1          0          0          0          0\n\
         pods              prod               0          1          1          1          0\n\
         TOTAL                                3          1          1          1          0\n"
    );
    assert!(o.stderr.starts_with("etcd-load: dry run, nothing written: 5 keys read"), "{}", o.stderr);
    let o = sh_input(&format!("etcd-load --mode create-only --plan=json {}", dst.flags()), &stream);
    let lines = o.ok().stdout_str();
    assert_eq!(
        lines.lines().nth(3).unwrap(),
        "{\"resource\":\"pods\",\"namespace\":\"prod\",\"create\":0,\"update\":0,\"delete\":0,\"unchanged\":0,\"keep\":2}"
    );
    assert_eq!(
        lines.lines().last().unwrap(),
        "{\"type\":\"total\",\"create\":3,\"update\":0,\"delete\":0,\"unchanged\":0,\"keep\":2}"
    );
    assert_eq!(dst.get_all().len(), 3, "a plan writes nothing");
}
