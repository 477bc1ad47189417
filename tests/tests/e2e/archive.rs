//! archive-pack and archive-unpack: round trips, other readers, damage, ReShifter archives.

use std::path::{Path, PathBuf};

use reshifter_e2e::{Etcd, records, sh, sh_env, sh_input, tmp};
use reshifter_format::{Header, Record, StreamWriter};

fn rec(key: &[u8], value: &[u8], rev: i64, lease: i64) -> Record {
    Record { key: key.to_vec(), value: value.to_vec(), create_revision: rev, mod_revision: rev + 1, version: 2, lease }
}

/// A stream with the keys that make path mapping hard, and binary values.
fn tricky_stream() -> Vec<u8> {
    let mut recs = vec![
        rec(b"/", b"root key", 2, 0),
        rec(b"/a", b"a is also a directory", 3, 0),
        rec(b"/a/b", b"child", 4, 0),
        rec(b"/a/content", b"a key named like the leaf", 5, 0),
        rec(b"/a//b", b"double slash", 6, 0),
        rec(b"/a/../../etc/passwd", b"dot dot", 7, 0),
        rec(b"/bin/\xff\x00\xfe", b"\x00\x01binary\xff", 8, 0x694d_7a8c_3e1f_2a05),
        rec(b"/registry/clusterroles/system:kube-dns", b"k8s\x00\x0a\x02v1", 9, 0),
        rec(b"/trailing/", b"", 10, 0),
        rec("/utf8/café ☃".as_bytes(), b"{\"json\": true}\n", 11, 0),
        rec(b"noslash", b"key without leading slash", 12, 0),
    ];
    recs.push(rec(&[b'/'].iter().chain(vec![b'k'; 5000].iter()).copied().collect::<Vec<u8>>(), b"long key", 13, 0));
    for i in 0..300 {
        recs.push(rec(
            format!("/registry/pods/ns/pod-{i:04}").as_bytes(),
            format!("pod {i} ").repeat(50).as_bytes(),
            100 + i,
            0,
        ));
    }
    recs.sort_by(|a, b| a.key.cmp(&b.key));
    let mut h = Header::new("test");
    h.time = "2026-01-02T03:04:05Z".into();
    let mut w = StreamWriter::new(Vec::new(), &h).unwrap();
    for r in &recs {
        w.write(r).unwrap();
    }
    w.finish().unwrap().0
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn round_trips_are_byte_exact_from_files_and_pipes() {
    let d = tmp();
    let p = d.path().display().to_string();
    let stream = tricky_stream();
    write(d.path(), "s.ndjson", &stream);
    for opts in [
        "",
        "--level 9",
        "--level 0",
        "--compression zstd",
        "--compression zstd --level 19",
        "--compression store",
        "--threads 1",
    ] {
        sh(&format!("archive-pack -q {opts} {p}/s.ndjson -o {p}/a.zip")).ok();
        let from_file = sh(&format!("archive-unpack -q {p}/a.zip"));
        from_file.ok();
        assert!(from_file.stdout == stream, "file round trip with {opts:?}");
        // Pipe only: pack to stdout, unpack from stdin.
        let piped = sh_input("archive-pack -q | archive-unpack -q", &stream);
        piped.ok();
        assert!(piped.stdout == stream, "pipe round trip");
    }
}

#[test]
fn other_readers_accept_our_archives_and_extraction_stays_inside() {
    use std::os::unix::fs::PermissionsExt;
    let d = tmp();
    let p = d.path().display().to_string();
    write(d.path(), "s.ndjson", &tricky_stream());
    sh(&format!("archive-pack -q {p}/s.ndjson -o {p}/a.zip")).ok();
    assert_eq!(std::fs::metadata(d.path().join("a.zip")).unwrap().permissions().mode() & 0o777, 0o600);
    let t = sh(&format!("unzip -tq {p}/a.zip"));
    t.ok();
    assert_eq!(t.stdout_str(), format!("No errors detected in compressed data of {p}/a.zip.\n"));
    let py = sh(&format!(
        "python3 -c 'import zipfile,sys; z=zipfile.ZipFile(sys.argv[1]); print(z.testzip(), len(z.namelist()))' {p}/a.zip"
    ));
    py.ok();
    // Header, manifest, a value entry per record, and an entry holding the key too long for a path.
    assert_eq!(py.stdout_str(), "None 315\n");
    let list = sh(&format!("unzip -Z1 {p}/a.zip"));
    let names = list.stdout_str();
    for want in [
        "reshifter/header.json",
        "kv/%/content",
        "kv/a/content",
        "kv/a/b/content",
        "kv/a/%63ontent/content",
        "kv/a/%/b/content",
        "kv/a/%2E%2E/%2E%2E/etc/passwd/content",
        "kv/bin/%FF%00%FE/content",
        "kv/registry/clusterroles/system%3Akube-dns/content",
        "kv/trailing/%/content",
        "kv/utf8/caf%C3%A9%20%E2%98%83/content",
        "kv%/noslash/content",
        "reshifter/manifest.ndjson",
    ] {
        assert!(names.lines().any(|l| l == want), "{want} missing from\n{names}");
    }
    assert!(names.lines().any(|l| l.starts_with("kv-long/") && l.ends_with("/content")));
    // unzip extracts every entry under the target directory.
    sh(&format!("mkdir {p}/x && cd {p}/x && unzip -q ../a.zip")).ok();
    let outside =
        sh(&format!("cd {p} && find . -newer a.zip -type f | grep -v '^./x/' | grep -v '^./s.ndjson' || true"));
    assert_eq!(outside.stdout_str(), "");
    assert_eq!(std::fs::read(d.path().join("x/kv/a/content")).unwrap(), b"a is also a directory");
    assert_eq!(std::fs::read(d.path().join("x/kv/a/b/content")).unwrap(), b"child");
}

#[test]
fn a_truncated_stream_never_makes_a_complete_looking_archive() {
    let d = tmp();
    let p = d.path().display().to_string();
    let stream = tricky_stream();
    let cut = &stream[..stream.len() - 200];
    write(d.path(), "cut.ndjson", cut);
    let out = sh(&format!("archive-pack {p}/cut.ndjson -o {p}/b.zip"));
    assert_eq!(out.code, 4);
    assert_eq!(out.stderr, "archive-pack: line 314: stream ends in the middle of a line: the input is truncated\n");
    assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1, "no archive, no temporary file");
    // To stdout: what was written has no central directory.
    let out = sh(&format!("archive-pack -q {p}/cut.ndjson > {p}/partial.zip"));
    assert_eq!(out.code, 4);
    let t = sh(&format!("unzip -tq {p}/partial.zip"));
    assert_ne!(t.code, 0, "unzip -t must fail on a partial archive");
    let py = sh(&format!("python3 -c 'import zipfile,sys; zipfile.ZipFile(sys.argv[1])' {p}/partial.zip"));
    assert_ne!(py.code, 0);
    // And unpacking it ends without a trailer.
    let un = sh(&format!("archive-unpack {p}/partial.zip"));
    assert_eq!(un.code, 4, "{}", un.stderr);
    assert!(un.stderr.starts_with("archive-unpack: the archive is truncated (in or after entry "), "{}", un.stderr);
    assert!(!un.stdout_str().contains("\"type\":\"trailer\""));
}

/// Offset of an entry's data in a ZIP file, from its local header.
fn data_offset(zip: &[u8], name: &str) -> usize {
    let needle = name.as_bytes();
    let mut i = 0;
    while let Some(pos) = zip[i..].windows(4).position(|w| w == b"PK\x03\x04") {
        let h = i + pos;
        let n = u16::from_le_bytes([zip[h + 26], zip[h + 27]]) as usize;
        let x = u16::from_le_bytes([zip[h + 28], zip[h + 29]]) as usize;
        if &zip[h + 30..h + 30 + n] == needle {
            return h + 30 + n + x;
        }
        i = h + 4;
    }
    panic!("no entry {name}");
}

#[test]
fn damaged_archives_are_refused_naming_the_entry() {
    let d = tmp();
    let p = d.path().display().to_string();
    let stream = tricky_stream();
    write(d.path(), "s.ndjson", &stream);
    sh(&format!("archive-pack -q {p}/s.ndjson -o {p}/a.zip")).ok();
    let good = std::fs::read(d.path().join("a.zip")).unwrap();
    let entry = "kv/registry/pods/ns/pod-0100/content";

    // A flipped byte inside an entry's data.
    let mut flipped = good.clone();
    flipped[data_offset(&good, entry) + 10] ^= 0x40;
    write(d.path(), "flipped.zip", &flipped);
    let out = sh(&format!("archive-unpack {p}/flipped.zip"));
    assert!(out.code == 5 || out.code == 3, "{}", out.stderr);
    assert!(out.stderr.starts_with(&format!("archive-unpack: entry {entry}: ")), "{}", out.stderr);
    assert!(!out.stdout_str().contains("\"type\":\"trailer\""));
    // The same through a pipe.
    let piped = sh(&format!("cat {p}/flipped.zip | archive-unpack --verify"));
    assert_eq!(piped.stderr, out.stderr);

    // A flipped byte in a stored value: the SHA-256 catches what the CRC is not asked about.
    sh(&format!("archive-pack -q --compression store {p}/s.ndjson -o {p}/stored.zip")).ok();
    let stored = std::fs::read(d.path().join("stored.zip")).unwrap();
    let mut flipped = stored.clone();
    flipped[data_offset(&stored, entry) + 3] ^= 0x01;
    write(d.path(), "flipped2.zip", &flipped);
    let out = sh(&format!("archive-unpack --verify {p}/flipped2.zip"));
    assert_eq!(out.code, 5);
    assert_eq!(out.stderr, format!("archive-unpack: entry {entry}: CRC-32 mismatch: the archive is corrupt\n"));

    // A truncated file (cut among the values).
    write(d.path(), "short.zip", &good[..data_offset(&good, entry) + 2]);
    let out = sh(&format!("archive-unpack {p}/short.zip"));
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert!(
        out.stderr.starts_with("archive-unpack: the archive is truncated (in or after entry kv/"),
        "{}",
        out.stderr
    );
    assert!(!out.stdout_str().contains("\"type\":\"trailer\""));
    // Cut inside the central directory: the data is all there but the archive is not whole.
    write(d.path(), "nocd.zip", &good[..good.len() - 30]);
    let out = sh(&format!("archive-unpack --verify {p}/nocd.zip"));
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert_eq!(out.stderr, "archive-unpack: the archive's central directory is cut short: it is incomplete\n");

    // A deleted entry (Info-ZIP's zip rewrites the archive without it).
    std::fs::copy(d.path().join("a.zip"), d.path().join("deleted.zip")).unwrap();
    sh(&format!("zip -q -d {p}/deleted.zip {entry}")).ok();
    let out = sh(&format!("archive-unpack {p}/deleted.zip"));
    assert_eq!(out.code, 5, "{}", out.stderr);
    assert_eq!(
        out.stderr,
        format!(
            "archive-unpack: entry {entry} is listed in the manifest but missing from the archive (found kv/registry/pods/ns/pod-0101/content instead)\n"
        )
    );
    assert!(!out.stdout_str().contains("\"type\":\"trailer\""));
    // ... and etcd-load downstream refuses the result.
    let e = Etcd::start();
    let load = sh(&format!("archive-unpack -q {p}/deleted.zip | etcd-load -q {}", e.flags()));
    assert_ne!(load.code, 0);
    assert!(load.stderr.contains("etcd-load: "), "{}", load.stderr);

    // The manifest deleted.
    std::fs::copy(d.path().join("a.zip"), d.path().join("nomanifest.zip")).unwrap();
    sh(&format!("zip -q -d {p}/nomanifest.zip reshifter/manifest.ndjson")).ok();
    let out = sh(&format!("archive-unpack {p}/nomanifest.zip"));
    assert_eq!(out.code, 4);
    assert_eq!(
        out.stderr,
        "archive-unpack: the archive has no manifest (reshifter/manifest.ndjson) after entry kv%/noslash/content: it is incomplete\n"
    );

    // Not a ZIP at all.
    let out = sh_input("archive-unpack", b"hello");
    assert_eq!(out.code, 3);
    assert_eq!(
        out.stderr,
        "archive-unpack: not a ZIP archive (nor an age-encrypted one): it does not start with a ZIP entry\n"
    );
}

#[test]
fn zip_slip_names_in_foreign_archives_are_refused() {
    let d = tmp();
    let p = d.path().display().to_string();
    let script = r#"
import zipfile, sys
with zipfile.ZipFile(sys.argv[1], "w") as z:
    z.writestr("1499588813/registry/ok/content", "fine")
    z.writestr("../../../tmp/evil/content", "escape")
"#;
    write(d.path(), "mk.py", script.as_bytes());
    sh(&format!("python3 {p}/mk.py {p}/evil.zip")).ok();
    let out = sh(&format!("archive-unpack {p}/evil.zip"));
    assert_eq!(out.code, 3);
    assert_eq!(
        out.stderr,
        "archive-unpack: entry \"../../../tmp/evil/content\" has an unsafe path (absolute or with ..): refusing the archive\n"
    );
    assert_eq!(out.stdout, b"");
}

#[test]
fn list_verify_and_prefix() {
    let d = tmp();
    let p = d.path().display().to_string();
    write(d.path(), "s.ndjson", &tricky_stream());
    sh(&format!("archive-pack -q {p}/s.ndjson -o {p}/a.zip")).ok();
    let v = sh(&format!("archive-unpack --verify {p}/a.zip"));
    v.ok();
    assert_eq!(v.stdout, b"");
    assert!(v.stderr.starts_with("archive-unpack: verified 312 keys, "), "{}", v.stderr);
    let l = sh(&format!("archive-unpack -q --list {p}/a.zip"));
    l.ok();
    let lines = l.json_lines();
    assert_eq!(lines.len(), 312);
    let bin = lines.iter().find(|j| j["path"] == "kv/bin/%FF%00%FE/content").unwrap();
    assert_eq!(bin["key_b64"], "L2Jpbi//AP4=");
    assert_eq!(bin["size"], 9);
    assert_eq!(bin["lease"], "694d7a8c3e1f2a05");
    assert_eq!(bin["create_revision"], 8);
    assert!(bin.get("value").is_none() && bin.get("value_b64").is_none());
    let sub = sh(&format!("archive-unpack -q --prefix /a/ --prefix /trailing {p}/a.zip"));
    sub.ok();
    let keys: Vec<Vec<u8>> = records(&sub.stdout).into_iter().map(|r| r.key).collect();
    assert_eq!(
        keys,
        vec![
            b"/a/../../etc/passwd".to_vec(),
            b"/a//b".to_vec(),
            b"/a/b".to_vec(),
            b"/a/content".to_vec(),
            b"/trailing/".to_vec()
        ]
    );
    let header: serde_json::Value = serde_json::from_str(sub.stdout_str().lines().next().unwrap()).unwrap();
    assert_eq!(header["prefixes"], serde_json::json!(["/a/", "/trailing"]));
    assert_eq!(header["history"], serde_json::json!(["archive-unpack --prefix /a/ --prefix /trailing"]));
}

#[test]
fn encrypted_archives_open_with_age_and_refuse_wrong_keys() {
    let d = tmp();
    let p = d.path().display().to_string();
    let stream = tricky_stream();
    write(d.path(), "s.ndjson", &stream);
    let keys = format!(
        "age-keygen -o {p}/key.txt 2>/dev/null && age-keygen -y {p}/key.txt > {p}/pub.txt && \
         age-keygen -o {p}/other.txt 2>/dev/null"
    );
    sh(&keys).ok();
    sh(&format!("archive-pack -q --recipients-file {p}/pub.txt {p}/s.ndjson -o {p}/a.zip.age")).ok();
    let head = std::fs::read(d.path().join("a.zip.age")).unwrap();
    assert!(head.starts_with(b"age-encryption.org/v1\n"));
    // By hand: age, then unzip.
    sh(&format!("age -d -i {p}/key.txt {p}/a.zip.age > {p}/plain.zip && unzip -tq {p}/plain.zip")).ok();
    // With our tools, from a pipe.
    let out = sh(&format!("cat {p}/a.zip.age | archive-unpack -q --identity-file {p}/key.txt"));
    out.ok();
    assert!(out.stdout == stream);
    let env =
        sh_env(&format!("archive-unpack -q {p}/a.zip.age"), &[("RESHIFTER_IDENTITY_FILE", &format!("{p}/key.txt"))]);
    assert!(env.stdout == stream, "{}", env.stderr);
    let wrong = sh(&format!("archive-unpack --identity-file {p}/other.txt {p}/a.zip.age"));
    assert_eq!(wrong.code, 5);
    assert_eq!(
        wrong.stderr,
        "archive-unpack: cannot decrypt the archive: wrong passphrase or identity (or the archive was altered)\n"
    );
    let none = sh(&format!("archive-unpack {p}/a.zip.age"));
    assert_eq!(none.code, 2);
    assert_eq!(
        none.stderr,
        "archive-unpack: the archive is encrypted to age recipients: pass --identity-file FILE or set RESHIFTER_IDENTITY_FILE\n"
    );
    // Truncated ciphertext.
    let full = std::fs::read(d.path().join("a.zip.age")).unwrap();
    write(d.path(), "cut.age", &full[..full.len() - 100]);
    let cut = sh(&format!("archive-unpack --identity-file {p}/key.txt {p}/cut.age"));
    assert_ne!(cut.code, 0);
    assert!(!cut.stdout_str().contains("\"type\":\"trailer\""));

    // A passphrase, from the environment or a file; never from the command line.
    let pw = [("RESHIFTER_PASSPHRASE", "correct horse battery staple")];
    sh_env(&format!("archive-pack -q --encrypt {p}/s.ndjson -o {p}/p.zip.age"), &pw).ok();
    let out = sh_env(&format!("archive-unpack -q {p}/p.zip.age"), &pw);
    assert!(out.stdout == stream, "{}", out.stderr);
    write(d.path(), "pw.txt", b"correct horse battery staple\n");
    let out = sh(&format!("archive-unpack -q --passphrase-file {p}/pw.txt {p}/p.zip.age"));
    assert!(out.stdout == stream, "{}", out.stderr);
    let wrong = sh_env(&format!("archive-unpack {p}/p.zip.age"), &[("RESHIFTER_PASSPHRASE", "wrong")]);
    assert_eq!(wrong.code, 5, "{}", wrong.stderr);
    assert!(!wrong.stderr.contains("wrong\n") && !wrong.stderr.contains("staple"));
    let missing = sh(&format!("archive-pack --encrypt {p}/s.ndjson -o {p}/q.zip"));
    assert_eq!(missing.code, 2);
    assert_eq!(
        missing.stderr,
        "archive-pack: --encrypt needs a key: set RESHIFTER_PASSPHRASE, or pass --passphrase-file or --recipient\n"
    );
}

fn reshifter_fixture() -> Option<PathBuf> {
    let p =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/reshifter/1499588813-aws-kops-1.6.zip");
    if p.exists() {
        Some(p)
    } else {
        eprintln!("skipping: {} is not present", p.display());
        None
    }
}

#[test]
fn reshifter_backups_unpack_and_restore_into_etcd() {
    let Some(fixture) = reshifter_fixture() else { return };
    let f = fixture.display().to_string();
    // Values as Python's zipfile reads them, keys by ReShifter's rule.
    let py = sh(&format!(
        "python3 -c '
import zipfile, sys, json, base64
z = zipfile.ZipFile(sys.argv[1])
for n in sorted(z.namelist()):
    k = \"/\" + n.split(\"/\", 1)[1][:-len(\"/content\")].replace(\"ESC_COLON\", \":\")
    print(json.dumps([k, base64.b64encode(z.read(n)).decode()]))
' {f} | sort"
    ));
    py.ok();
    let expected: Vec<(Vec<u8>, Vec<u8>)> = py
        .stdout_str()
        .lines()
        .map(|l| {
            let v: (String, String) = serde_json::from_str(l).unwrap();
            (v.0.into_bytes(), base64_decode(&v.1))
        })
        .collect();
    assert_eq!(expected.len(), 106);
    let out = sh(&format!("cat {f} | archive-unpack -q"));
    out.ok();
    let recs = records(&out.stdout);
    let got: Vec<(Vec<u8>, Vec<u8>)> = recs.iter().map(|r| (r.key.clone(), r.value.clone())).collect();
    assert_eq!(got, expected);
    assert!(got.iter().any(|(k, _)| k == b"/registry/clusterroles/kops:dns-controller"));
    let header: serde_json::Value = serde_json::from_str(out.stdout_str().lines().next().unwrap()).unwrap();
    assert_eq!(header["time"], "2017-07-09T08:26:53Z");
    // A foreign archive may hold part of a keyspace: it claims no coverage.
    assert_eq!(header["prefixes"], serde_json::json!(["/"]));
    assert_eq!(header.get("complete"), None);

    let e = Etcd::start();
    let load = sh(&format!("archive-unpack -q {f} | etcd-load {}", e.flags()));
    load.ok();
    assert!(load.stderr.starts_with("etcd-load: 106 keys read: 106 created,"), "{}", load.stderr);
    let in_etcd: Vec<(Vec<u8>, Vec<u8>)> = e.get_all().into_iter().map(|(k, v, _)| (k, v)).collect();
    assert_eq!(in_etcd, expected);

    // And back into ReShifter's layout: the same keys and values.
    let d = tmp();
    let p = d.path().display().to_string();
    sh(&format!("archive-unpack -q {f} | archive-pack -q --layout reshifter -o {p}/back.zip")).ok();
    let names = sh(&format!("unzip -Z1 {p}/back.zip | sort"));
    let orig = sh(&format!("unzip -Z1 {f} | sort"));
    assert_eq!(names.stdout_str(), orig.stdout_str());
    let again = sh(&format!("archive-unpack -q {p}/back.zip"));
    assert_eq!(records(&again.stdout).iter().map(|r| (r.key.clone(), r.value.clone())).collect::<Vec<_>>(), expected);
}

fn base64_decode(s: &str) -> Vec<u8> {
    let out = sh_input("base64 -d", s.as_bytes());
    out.stdout
}

/// 65,535 entries or more need ZIP64 end records: an archive of 70,000 keys (a small cluster's
/// worth) must unpack byte for byte, from a file and from a pipe, and pass unzip's test. Before
/// the fix, archive-unpack read the ZIP64 end record 4 bytes off and refused every such archive
/// ("the archive's central directory disagrees with its end record").
#[test]
fn archives_of_more_than_65535_keys_unpack() {
    let d = tmp();
    let p = d.path().display();
    sh(&format!("kv-gen --small --objects 70000 -o {p}/s.ndjson")).ok();
    for flags in ["", "--compression store"] {
        sh(&format!("archive-pack -q {flags} {p}/s.ndjson -o {p}/s.zip")).ok();
        let count = sh(&format!("unzip -l {p}/s.zip | tail -1"));
        let entries: u64 = count.ok().stdout_str().split_whitespace().nth(1).unwrap().parse().unwrap();
        assert!(entries > 70_000, "{entries} entries");
        sh(&format!("unzip -tq {p}/s.zip")).ok();
        let o = sh(&format!("archive-unpack -q {p}/s.zip | cmp - {p}/s.ndjson"));
        assert_eq!(o.code, 0, "{flags}: {}", o.stderr);
        let o = sh(&format!("cat {p}/s.zip | archive-unpack -q | cmp - {p}/s.ndjson"));
        assert_eq!(o.code, 0, "{flags} from a pipe: {}", o.stderr);
        sh(&format!("archive-unpack -q --verify {p}/s.zip")).ok();
    }
}

#[test]
fn a_reshifter_archive_naming_one_entry_twice_is_refused() {
    // Two entries of one name: a ZIP reader's index keeps the last, so one of two values for a
    // key would be chosen silently. Written by Python's zipfile, which allows it.
    let d = tmp();
    let p = d.path().display();
    let o = sh(&format!(
        "python3 -W ignore -c 'import zipfile; z = zipfile.ZipFile(\"{p}/dup.zip\", \"w\"); \
         z.writestr(\"1500000000/registry/pods/default/a/content\", \"first\"); \
         z.writestr(\"1500000000/registry/pods/default/a/content\", \"second\"); \
         z.writestr(\"1500000000/registry/pods/default/b/content\", \"b\"); z.close()'"
    ));
    o.ok();
    let o = sh(&format!("archive-unpack {p}/dup.zip"));
    assert_eq!(o.code, 3, "{}", o.stderr);
    assert_eq!(
        o.stderr,
        "archive-unpack: the archive's central directory names an entry twice: two values for one key, and nothing \
         says which is right\n"
    );
    assert!(o.stdout.is_empty());
}

#[test]
fn an_archive_cut_inside_a_local_header_is_truncated_not_corrupt() {
    let d = tmp();
    let p = d.path().display();
    sh(&format!("kv-gen --objects 50 | archive-pack -q -o {p}/a.zip")).ok();
    let zip = std::fs::read(d.path().join("a.zip")).unwrap();
    // Every local header past the first: cut 1, 10 and 29 bytes into it.
    let starts: Vec<usize> =
        zip.windows(4).enumerate().filter(|(_, w)| *w == b"PK\x03\x04").map(|(i, _)| i).skip(1).collect();
    assert!(starts.len() > 40);
    for at in starts.iter().step_by(7) {
        for into in [1, 10, 29] {
            std::fs::write(d.path().join("cut.zip"), &zip[..at + into]).unwrap();
            for flags in ["--verify", ""] {
                let o = sh(&format!("archive-unpack -q {flags} {p}/cut.zip > /dev/null"));
                assert_eq!(o.code, 4, "cut at {at}+{into} {flags}: {}", o.stderr);
                assert!(o.stderr.contains("truncated") || o.stderr.contains("incomplete"), "{}", o.stderr);
            }
        }
    }
}
