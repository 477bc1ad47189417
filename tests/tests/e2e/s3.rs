//! s3-push, s3-pull, s3-ls, s3-prune against a real S3-compatible server (s3s-fs, SigV4).

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use reshifter_e2e::{Out, S3, S3_ACCESS_KEY, sh, sh_cmd, sh_env, tmp};

fn run(s3: &S3, script: &str) -> Out {
    sh_env(script, &s3.env())
}

fn sha256_of(bytes: &[u8]) -> String {
    let mut c = sh_cmd("sha256sum").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    c.stdin.take().unwrap().write_all(bytes).unwrap();
    let o = c.wait_with_output().unwrap();
    String::from_utf8(o.stdout).unwrap().split_whitespace().next().unwrap().to_string()
}

#[test]
fn round_trips_of_every_size() {
    let s3 = S3::start();
    let d = tmp();
    let p = d.path().display().to_string();
    let mib = 1 << 20;
    let sizes = [0usize, 1, 5 * mib, 23 * mib + 17];
    for (i, size) in sizes.into_iter().enumerate() {
        let data: Vec<u8> = (0..size).map(|j| (j.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        std::fs::write(d.path().join(format!("in{i}")), &data).unwrap();
        // An empty input is what a producer that died at once leaves: refused unless asked for.
        let allow = if size == 0 {
            let refused =
                run(&s3, &format!("s3-push {} --create-bucket s3://roundtrip/obj{i} < {p}/in{i}", s3.flags()));
            assert_eq!(refused.code, 4);
            assert_eq!(
                refused.stderr,
                "s3-push: empty input: its producer failed; nothing was uploaded (--allow-incomplete uploads it anyway)\n"
            );
            "--allow-incomplete"
        } else {
            ""
        };
        let push = run(
            &s3,
            &format!(
                "s3-push {} {allow} --create-bucket --part-size 5MiB --json s3://roundtrip/obj{i} < {p}/in{i}",
                s3.flags()
            ),
        );
        push.ok();
        let j = &push.json_lines()[0];
        assert_eq!(j["size"], size, "size {size}");
        assert_eq!(j["sha256"], sha256_of(&data), "size {size}");
        assert_eq!(j["parts"], if size > 5 * mib { 5 } else { 1 }, "size {size}");
        let pull = run(&s3, &format!("s3-pull -q {} s3://roundtrip/obj{i}", s3.flags()));
        pull.ok();
        assert!(pull.stdout == data, "pull of {size} bytes");
        // The checksum object is sha256sum's format.
        let sum = std::fs::read_to_string(s3.root().join(format!("roundtrip/obj{i}.sha256"))).unwrap();
        assert_eq!(sum, format!("{}  obj{i}\n", sha256_of(&data)));
    }
    // ReShifter's variable names for credentials work too.
    let legacy = sh_env(
        &format!("s3-pull -q {} s3://roundtrip/obj1", s3.flags()),
        &[
            ("ACCESS_KEY_ID", S3_ACCESS_KEY),
            ("SECRET_ACCESS_KEY", reshifter_e2e::S3_SECRET_KEY),
            ("AWS_REGION", "us-east-1"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ],
    );
    legacy.ok();
    assert_eq!(legacy.stdout.len(), 1);
    // A file output appears only once verified.
    run(&s3, &format!("s3-pull -q {} s3://roundtrip/obj3 -o {p}/out", s3.flags())).ok();
    assert_eq!(std::fs::read(d.path().join("out")).unwrap(), std::fs::read(d.path().join("in3")).unwrap());
}

#[test]
fn credentials_and_buckets_are_checked() {
    let s3 = S3::start();
    s3.bucket("backups");
    let wrong = sh_env(
        &format!("echo hello | s3-push {} s3://backups/x", s3.flags()),
        &[
            ("AWS_ACCESS_KEY_ID", S3_ACCESS_KEY),
            ("AWS_SECRET_ACCESS_KEY", "wrong-secret"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ],
    );
    assert_eq!(wrong.code, 9, "{}", wrong.stderr);
    assert!(wrong.stderr.contains("SignatureDoesNotMatch"), "{}", wrong.stderr);
    assert!(wrong.stderr.contains("check the credentials"), "{}", wrong.stderr);
    assert!(!wrong.stderr.contains("wrong-secret"), "never print secrets");
    assert!(!s3.root().join("backups/x").exists());
    let missing = run(&s3, &format!("echo hello | s3-push {} s3://nobucket/x", s3.flags()));
    assert_eq!(missing.code, 2, "{}", missing.stderr);
    assert!(missing.stderr.contains("NoSuchBucket"), "{}", missing.stderr);
    assert!(
        missing.stderr.ends_with("the bucket does not exist (s3-push --create-bucket creates it)\n"),
        "{}",
        missing.stderr
    );
    let nokey = run(&s3, &format!("s3-pull {} s3://backups/nothing", s3.flags()));
    assert_ne!(nokey.code, 0);
    let down = sh_env("echo x | s3-push --endpoint http://127.0.0.1:1 s3://backups/x", &s3.env());
    assert_eq!(down.code, 6, "{}", down.stderr);
}

/// The SSE headers are part of the signed requests (single PUT and multipart) and accepted by
/// the server. s3s-fs does not encrypt at rest: that the server honours them is not tested here.
#[test]
fn server_side_encryption_is_requested() {
    let s3 = S3::start();
    s3.bucket("backups");
    let d = tmp();
    let p = d.path().display().to_string();
    let data: Vec<u8> = (0..(6usize << 20)).map(|j| (j.wrapping_mul(40503) >> 7) as u8).collect();
    std::fs::write(d.path().join("in"), &data).unwrap();
    for (name, size) in [("small", 1000usize), ("multi", data.len())] {
        let push = run(
            &s3,
            &format!(
                "head -c {size} {p}/in | s3-push {} --sse AES256 --part-size 5MiB --json s3://backups/{name}",
                s3.flags()
            ),
        );
        push.ok();
        assert_eq!(push.json_lines()[0]["parts"], if size > 5 << 20 { 2 } else { 1 });
        let pull = run(&s3, &format!("s3-pull -q {} s3://backups/{name}", s3.flags()));
        pull.ok();
        assert!(pull.stdout == data[..size], "{name}");
    }
    let bad = run(&s3, &format!("s3-push {} --sse DES s3://backups/bad < {p}/in", s3.flags()));
    assert_eq!(bad.code, 2);
    assert_eq!(bad.stderr, "s3-push: --sse DES: expected AES256 or aws:kms\n");
    assert!(!s3.root().join("backups/bad").exists());
}

#[test]
fn truncated_upstreams_upload_nothing() {
    let s3 = S3::start();
    s3.bucket("backups");
    let d = tmp();
    let p = d.path().display().to_string();
    run(&s3, &format!("kv-gen --objects 300 -o {p}/s.ndjson")).ok();
    // A stream without its trailer.
    let cut = run(&s3, &format!("head -n 100 {p}/s.ndjson | s3-push {} s3://backups/cut.ndjson", s3.flags()));
    assert_eq!(cut.code, 4, "{}", cut.stderr);
    assert_eq!(
        cut.stderr,
        "s3-push: the input is a reshifter stream without its trailer: its producer failed; nothing was uploaded (--allow-incomplete uploads it anyway)\n"
    );
    // archive-pack failing upstream: its partial ZIP has no central directory.
    let pipe = run(
        &s3,
        &format!(
            "head -n 100 {p}/s.ndjson | archive-pack -q | s3-push {} s3://backups/cut.zip; echo \"${{PIPESTATUS[@]}}\"",
            s3.flags()
        ),
    );
    assert_eq!(pipe.stdout_str(), "0 4 4\n", "{}", pipe.stderr);
    assert!(
        pipe.stderr.contains("s3-push: the input is a ZIP archive without its central directory"),
        "{}",
        pipe.stderr
    );
    assert_eq!(std::fs::read_dir(s3.root().join("backups")).unwrap().count(), 0, "nothing in the bucket");
    // The complete archive goes through, and comes back restorable.
    run(&s3, &format!("archive-pack -q {p}/s.ndjson | s3-push -q {} s3://backups/ok.zip", s3.flags())).ok();
    let back = run(&s3, &format!("s3-pull -q {} s3://backups/ok.zip | archive-unpack -q", s3.flags()));
    back.ok();
    assert!(back.stdout == std::fs::read(d.path().join("s.ndjson")).unwrap());
}

#[test]
fn a_server_killed_mid_upload_leaves_no_object() {
    let mut s3 = S3::start();
    s3.bucket("backups");
    let env = s3.env();
    let mut c = sh_cmd(&format!(
        "(head -c 12000000 /dev/urandom; sleep 5; head -c 12000000 /dev/urandom) | s3-push {} --part-size 5MiB s3://backups/big",
        s3.flags()
    ));
    c.envs(env.iter().copied()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = c.spawn().unwrap();
    // Two parts are uploaded while the producer pauses; then the server dies.
    std::thread::sleep(Duration::from_millis(2500));
    s3.kill();
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(6), "{err}");
    assert!(err.contains("no object was created"), "{err}");
    s3.restart();
    let pull = run(&s3, &format!("s3-pull {} s3://backups/big", s3.flags()));
    assert_ne!(pull.code, 0);
    let files: Vec<String> = std::fs::read_dir(s3.root().join("backups"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!files.iter().any(|f| f == "big" || f == "big.sha256"), "{files:?}");
}

#[test]
fn pull_detects_corruption_and_missing_checksums() {
    let s3 = S3::start();
    s3.bucket("backups");
    run(&s3, &format!("head -c 100000 /dev/urandom | s3-push -q {} s3://backups/x", s3.flags())).ok();
    let path = s3.root().join("backups/x");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[5000] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    let bad = run(&s3, &format!("s3-pull {} s3://backups/x > /dev/null", s3.flags()));
    assert_eq!(bad.code, 5, "{}", bad.stderr);
    assert!(bad.stderr.starts_with("s3-pull: s3://backups/x: SHA-256 mismatch: the object is "), "{}", bad.stderr);
    std::fs::remove_file(s3.root().join("backups/x.sha256")).unwrap();
    let none = run(&s3, &format!("s3-pull {} s3://backups/x > /dev/null", s3.flags()));
    assert_eq!(none.code, 5);
    assert_eq!(
        none.stderr,
        "s3-pull: s3://backups/x has no checksum (.sha256): it was not pushed by s3-push or its push did not finish (--no-verify pulls it anyway)\n"
    );
    run(&s3, &format!("s3-pull -q --no-verify {} s3://backups/x > /dev/null", s3.flags())).ok();
}

/// Set an object's modification time (s3s-fs reports the file's mtime as LastModified).
fn age(s3: &S3, key: &str, days: u32) {
    let p = s3.root().join(key);
    let o = sh_cmd(&format!("touch -d '{days} days ago' {}", p.display())).output().unwrap();
    assert!(o.status.success());
}

#[test]
fn ls_latest_and_prune() {
    let s3 = S3::start();
    s3.bucket("backups");
    let d = tmp();
    let streams: Vec<Vec<u8>> =
        (1..=6).map(|seed| sh(&format!("kv-gen --small --objects 3 --seed {seed}")).ok().stdout.clone()).collect();
    for (i, (name, days)) in [
        ("prod/a.zip", 10),
        ("prod/b.zip", 5),
        ("prod/c.zip", 3),
        ("prod/d.zip", 1),
        ("prod/e.zip", 0),
        ("other/z.zip", 0),
    ]
    .into_iter()
    .enumerate()
    {
        let f = d.path().join(format!("{i}.ndjson"));
        std::fs::write(&f, &streams[i]).unwrap();
        run(&s3, &format!("s3-push -q {} -i {} s3://backups/{name}", s3.flags(), f.display())).ok();
        if days > 0 {
            age(&s3, &format!("backups/{name}"), days);
        }
    }
    // Bytes s3-push cannot check are stored, complete but not verified: never --latest.
    run(&s3, &format!("echo not a backup | s3-push -q {} s3://backups/prod/f.zip", s3.flags())).ok();
    let ls = run(&s3, &format!("s3-ls {} s3://backups/prod/", s3.flags()));
    ls.ok();
    let lines = ls.json_lines();
    let uris: Vec<&str> = lines.iter().map(|l| l["uri"].as_str().unwrap()).collect();
    assert_eq!(
        uris,
        [
            "s3://backups/prod/a.zip",
            "s3://backups/prod/b.zip",
            "s3://backups/prod/c.zip",
            "s3://backups/prod/d.zip",
            "s3://backups/prod/e.zip",
            "s3://backups/prod/f.zip"
        ]
    );
    assert_eq!(lines[0]["size"], streams[0].len());
    assert_eq!(lines[0]["sha256"], sha256_of(&streams[0]));
    assert_eq!((lines[0]["checked"].as_str(), lines[0]["verified"].as_bool()), (Some("stream"), Some(true)));
    assert_eq!(
        (lines[5]["complete"].as_bool(), lines[5]["checked"].as_str(), lines[5]["verified"].as_bool()),
        (Some(true), None, Some(false))
    );
    let latest = run(&s3, &format!("s3-pull -q --latest {} s3://backups/prod/", s3.flags()));
    assert_eq!(latest.ok().stdout, streams[4]);
    std::fs::remove_file(s3.root().join("backups/prod/f.zip")).unwrap();
    std::fs::remove_file(s3.root().join("backups/prod/f.zip.sha256")).unwrap();

    let dry = run(&s3, &format!("s3-prune {} s3://backups/prod/ --keep-last 2 --keep-within 4d --dry-run", s3.flags()));
    dry.ok();
    let acts: Vec<(String, String)> = dry
        .json_lines()
        .iter()
        .map(|l| (l["action"].as_str().unwrap().to_string(), l["uri"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(
        acts,
        [
            ("would-delete".to_string(), "s3://backups/prod/a.zip".to_string()),
            ("would-delete".into(), "s3://backups/prod/b.zip".into()),
            ("keep".into(), "s3://backups/prod/c.zip".into()),
            ("keep".into(), "s3://backups/prod/d.zip".into()),
            ("keep".into(), "s3://backups/prod/e.zip".into()),
        ]
    );
    assert_eq!(dry.stderr, "s3-prune: 3 kept, 2 would be deleted (dry run)\n");
    assert!(s3.root().join("backups/prod/a.zip").exists());
    run(&s3, &format!("s3-prune {} s3://backups/prod/ --keep-last 2 --keep-within 4d", s3.flags())).ok();
    let mut left: Vec<String> = std::fs::read_dir(s3.root().join("backups/prod"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["c.zip", "c.zip.sha256", "d.zip", "d.zip.sha256", "e.zip", "e.zip.sha256"]);
    assert!(s3.root().join("backups/other/z.zip").exists(), "other prefixes are untouched");
    let nopolicy = run(&s3, &format!("s3-prune {} s3://backups/prod/", s3.flags()));
    assert_eq!(nopolicy.code, 2);
}

#[test]
fn push_checks_digests_as_it_streams() {
    // What s3-ls calls verified was checked: a stream with a record dropped or edited, a ZIP
    // with a bit flipped and an age file altered are refused and nothing is stored; bytes it
    // cannot check are stored but never called verified.
    let s3 = S3::start();
    s3.bucket("bkt");
    let d = tmp();
    let p = d.path().display();
    sh(&format!("kv-gen --objects 200 -o {p}/s.ndjson && archive-pack -q {p}/s.ndjson -o {p}/s.zip")).ok();
    sh(&format!(
        "age-keygen -o {p}/key.txt 2>/dev/null && archive-pack -q {p}/s.ndjson --recipient $(age-keygen -y {p}/key.txt) | cat > {p}/s.age"
    ))
    .ok();
    let push = |file: &str, key: &str| run(&s3, &format!("s3-push -q {} -i {p}/{file} s3://bkt/{key}", s3.flags()));
    for (file, key, checked) in
        [("s.ndjson", "ok.ndjson", "stream"), ("s.zip", "ok.zip", "archive"), ("s.age", "ok.age", "age")]
    {
        push(file, key).ok();
        let ls = run(&s3, &format!("s3-ls {} s3://bkt/", s3.flags()));
        let lines = ls.ok().json_lines();
        let l = lines.iter().find(|l| l["key"] == key).unwrap();
        assert_eq!((l["checked"].as_str(), l["verified"].as_bool()), (Some(checked), Some(true)), "{l}");
    }
    let text = std::fs::read_to_string(d.path().join("s.ndjson")).unwrap();
    let dropped: String = text.lines().enumerate().filter(|(i, _)| *i != 7).map(|(_, l)| format!("{l}\n")).collect();
    std::fs::write(d.path().join("dropped.ndjson"), dropped).unwrap();
    let mut zip = std::fs::read(d.path().join("s.zip")).unwrap();
    let mid = zip.len() / 2;
    zip[mid] ^= 0x10;
    std::fs::write(d.path().join("flipped.zip"), zip).unwrap();
    let mut age = std::fs::read(d.path().join("s.age")).unwrap();
    let mid = age.len() / 2;
    age[mid] ^= 0x10;
    std::fs::write(d.path().join("flipped.age"), age).unwrap();
    for (file, code, why) in [
        ("dropped.ndjson", 5, "the input is not whole: "),
        ("flipped.zip", 5, "the input is not whole: "),
        ("flipped.age", 5, "the age file does not match its end record's SHA-256"),
    ] {
        let o = push(file, file);
        assert_eq!(o.code, code, "{file}: {}", o.stderr);
        assert!(o.stderr.contains(why), "{file}: {}", o.stderr);
        assert!(!s3.root().join("bkt").join(file).exists(), "{file} was stored");
        assert!(!s3.root().join("bkt").join(format!("{file}.sha256")).exists());
    }
    std::fs::write(d.path().join("random.bin"), (0..5000u32).map(|i| (i * 7919 % 251) as u8).collect::<Vec<u8>>())
        .unwrap();
    push("random.bin", "random.bin").ok();
    let ls = run(&s3, &format!("s3-ls {} s3://bkt/", s3.flags()));
    let lines = ls.ok().json_lines();
    let l = lines.iter().find(|l| l["key"] == "random.bin").unwrap();
    assert_eq!((l["complete"].as_bool(), l["verified"].as_bool()), (Some(true), Some(false)), "{l}");
}
