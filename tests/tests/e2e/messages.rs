//! Errors name their real cause and exit with the code of the table (README, lib/format/src/error.rs):
//! every S3 tool against an unreachable server, refused credentials, a missing bucket and a
//! missing object; damaged encrypted input; credentials on the command line; half a TLS
//! identity.

use reshifter_e2e::{S3, S3_ACCESS_KEY, records, sh, sh_env, tmp, trailer};

type Env<'a> = Vec<(&'a str, &'a str)>;

struct Case {
    name: &'static str,
    code: i32,
    message: &'static str,
}

#[test]
fn every_s3_tool_names_the_real_cause() {
    let s3 = S3::start();
    s3.bucket("bkt");
    let d = tmp();
    let p = d.path().display();
    sh(&format!("kv-gen --objects 3 | archive-pack -q -o {p}/s.zip")).ok();
    let good = s3.env();
    sh_env(&format!("s3-push -q {} s3://bkt/p/a.zip < {p}/s.zip", s3.flags()), &good).ok();
    let mut bad_creds = good.clone();
    bad_creds.retain(|(k, _)| *k != "AWS_SECRET_ACCESS_KEY");
    bad_creds.push(("AWS_SECRET_ACCESS_KEY", "not-the-secret"));
    let dead = "--endpoint http://127.0.0.1:1".to_string();
    let live = s3.flags();
    // (tool and arguments, environment, endpoint, expected code, expected start of the message)
    let cmds = |b: &str, o: &str| {
        vec![
            format!("s3-push s3://{b}/{o}"),
            format!("s3-pull s3://{b}/{o}"),
            format!("s3-pull --latest s3://{b}/p/"),
            format!("s3-ls s3://{b}/p/"),
            format!("s3-prune --keep-last 1 s3://{b}/p/"),
        ]
    };
    let cases: Vec<(Vec<String>, &Env, &String, Vec<Case>)> = vec![
        (
            cmds("bkt", "p/a.zip"),
            &good,
            &dead,
            vec![
                Case { name: "s3-push", code: 6, message: "cannot reach bucket bkt: cannot reach http://127.0.0.1:1" },
                Case {
                    name: "s3-pull",
                    code: 6,
                    message: "cannot get s3://bkt/p/a.zip: cannot reach http://127.0.0.1:1",
                },
                Case { name: "s3-pull", code: 6, message: "cannot list s3://bkt/p/: cannot reach http://127.0.0.1:1" },
                Case { name: "s3-ls", code: 6, message: "cannot list s3://bkt/p/: cannot reach http://127.0.0.1:1" },
                Case { name: "s3-prune", code: 6, message: "cannot list s3://bkt/p/: cannot reach http://127.0.0.1:1" },
            ],
        ),
        (
            cmds("bkt", "p/a.zip"),
            &bad_creds,
            &live,
            vec![
                Case { name: "s3-push", code: 9, message: "cannot upload s3://bkt/p/a.zip: SignatureDoesNotMatch" },
                Case {
                    name: "s3-pull",
                    code: 9,
                    message: "cannot get s3://bkt/p/a.zip: AccessDenied: check the credentials",
                },
                Case { name: "s3-pull", code: 9, message: "cannot list s3://bkt/p/: SignatureDoesNotMatch" },
                Case { name: "s3-ls", code: 9, message: "cannot list s3://bkt/p/: SignatureDoesNotMatch" },
                Case { name: "s3-prune", code: 9, message: "cannot list s3://bkt/p/: SignatureDoesNotMatch" },
            ],
        ),
        (
            cmds("nob", "p/a.zip"),
            &good,
            &live,
            vec![
                Case { name: "s3-push", code: 2, message: "cannot upload s3://nob/p/a.zip: NoSuchBucket" },
                Case { name: "s3-pull", code: 2, message: "cannot get s3://nob/p/a.zip: NoSuchBucket" },
                Case { name: "s3-pull", code: 2, message: "cannot list s3://nob/p/: NoSuchBucket" },
                Case { name: "s3-ls", code: 2, message: "cannot list s3://nob/p/: NoSuchBucket" },
                Case { name: "s3-prune", code: 2, message: "cannot list s3://nob/p/: NoSuchBucket" },
            ],
        ),
    ];
    for (cmds, env, endpoint, want) in &cases {
        for (cmd, want) in cmds.iter().zip(want) {
            let out = sh_env(&format!("{cmd} {endpoint} < {p}/s.zip"), env);
            let prefix = format!("{}: {}", want.name, want.message);
            assert_eq!(out.code, want.code, "{cmd}: {}", out.stderr);
            assert!(out.stderr.starts_with(&prefix), "{cmd}: {}\nwanted: {prefix}", out.stderr);
            assert_eq!(out.stderr.lines().count(), 1, "{cmd}: {}", out.stderr);
            assert!(!out.stderr.contains(S3_ACCESS_KEY) && !out.stderr.contains("not-the-secret"));
        }
    }
    // A missing object, and an empty directory of backups.
    let out = sh_env(&format!("s3-pull {live} s3://bkt/p/zz.zip"), &good);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert_eq!(
        out.stderr,
        "s3-pull: cannot get s3://bkt/p/zz.zip: NoSuchKey: no such object (s3-ls lists the backups)\n"
    );
    let out = sh_env(&format!("s3-pull {live} --latest s3://bkt/none/"), &good);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert_eq!(
        out.stderr,
        "s3-pull: no verified backup under s3://bkt/none/ (0 objects, none with a checksum that names it)\n"
    );
    let out = sh_env(&format!("s3-ls {live} s3://bkt/none/"), &good);
    out.ok();
    assert_eq!(out.stdout, b"");
}

#[test]
fn damaged_or_truncated_encrypted_archives_are_integrity_errors() {
    let d = tmp();
    let p = d.path().display();
    sh(&format!(
        "age-keygen -o {p}/key.txt 2>/dev/null && age-keygen -y {p}/key.txt > {p}/r.txt && \
         kv-gen --objects 50 | archive-pack -q --recipients-file {p}/r.txt -o {p}/s.age"
    ))
    .ok();
    let n = std::fs::metadata(d.path().join("s.age")).unwrap().len();
    for (what, script) in [
        ("cut in half", format!("head -c {} {p}/s.age", n / 2)),
        ("cut by 10 bytes", format!("head -c {} {p}/s.age", n - 10)),
        (
            "one byte changed",
            format!(
                "cp {p}/s.age {p}/d.age && printf A | dd of={p}/d.age bs=1 seek={} conv=notrunc 2>/dev/null && cat {p}/d.age",
                n / 2
            ),
        ),
    ] {
        for how in ["file", "pipe"] {
            let run = match how {
                "file" => format!("{script} > {p}/x.age && archive-unpack --identity-file {p}/key.txt {p}/x.age"),
                _ => format!("{script} | archive-unpack --identity-file {p}/key.txt"),
            };
            let out = sh(&run);
            assert!(out.code == 4 || out.code == 5, "{what} ({how}): exit {}: {}", out.code, out.stderr);
            assert!(out.stderr.starts_with("archive-unpack: the encrypted archive is "), "{what}: {}", out.stderr);
            assert!(!out.stdout.ends_with(b"}\n") || !String::from_utf8_lossy(&out.stdout).contains("\"trailer\""));
        }
    }
}

#[test]
fn escaped_slashes_are_json_and_every_tool_reads_them() {
    let d = tmp();
    let p = d.path().display();
    sh(&format!("kv-gen --objects 200 -o {p}/s.ndjson && sed 's#/#\\\\/#g' {p}/s.ndjson > {p}/e.ndjson")).ok();
    assert!(std::fs::read_to_string(d.path().join("e.ndjson")).unwrap().contains("\\/"));
    for tool in ["kv-stats --json --verify", "kv-stats --json"] {
        let plain = sh(&format!("{tool} < {p}/s.ndjson"));
        let escaped = sh(&format!("{tool} < {p}/e.ndjson"));
        plain.ok();
        escaped.ok();
        assert_eq!(plain.stdout, escaped.stdout, "{tool}");
    }
    let plain = sh(&format!("kv-filter {p}/s.ndjson"));
    let escaped = sh(&format!("kv-filter {p}/e.ndjson"));
    // The same records and digests (the header keeps its original spelling).
    assert_eq!(records(&plain.ok().stdout), records(&escaped.ok().stdout));
    assert_eq!(trailer(&plain.stdout), trailer(&escaped.stdout));
}

#[test]
fn credentials_on_the_command_line_and_half_a_tls_identity_are_refused() {
    for tool in ["etcd-dump", "etcd-load", "etcd-explore"] {
        let out = sh(&format!("{tool} --user root:secret --endpoints 127.0.0.1:1 < /dev/null"));
        assert_eq!(out.code, 2, "{tool}: {}", out.stderr);
        assert!(
            out.stderr.starts_with(&format!("{tool}: --user NAME:PASSWORD would show the password")),
            "{tool}: {}",
            out.stderr
        );
        assert!(!out.stderr.contains("secret"), "{tool} printed the password");
        let out = sh(&format!("{tool} --key /dev/null --endpoints 127.0.0.1:1 < /dev/null"));
        assert_eq!(out.code, 2, "{tool}: {}", out.stderr);
        assert_eq!(out.stderr, format!("{tool}: --cert and --key must be given together\n"));
    }
}
