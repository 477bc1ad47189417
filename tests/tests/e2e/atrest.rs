//! Encryption at rest (issue 13): values sealed by an independent implementation of Kubernetes'
//! formats (tests/helpers/atrest.py, Debian's python3-cryptography and python3-nacl) are opened,
//! counted, re-encrypted and moved by the tools; what the tools write is opened by it again.

use std::path::{Path, PathBuf};

use reshifter_e2e::{records, sh, sh_env, sh_input, tmp};
use reshifter_format::{Header, Record, StreamWriter};

fn helper() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("helpers/atrest.py")
}

fn secret(byte: u8) -> String {
    base64_simd::STANDARD.encode_to_string([byte; 32])
}

fn seal(provider: &str, name: &str, secret: &str, key: &str, plain: &[u8]) -> Vec<u8> {
    let o =
        sh_input(&format!("/usr/bin/python3 {} seal {provider} {name} {secret} '{key}'", helper().display()), plain);
    o.ok();
    o.stdout
}

fn open(secret: &str, key: &str, value: &[u8]) -> Vec<u8> {
    let o = sh_input(&format!("/usr/bin/python3 {} open {secret} '{key}'", helper().display()), value);
    o.ok();
    o.stdout
}

fn config(dir: &Path, name: &str, providers: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(
        &p,
        format!(
            "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n\
             - resources: [secrets]\n  providers:\n{providers}"
        ),
    )
    .unwrap();
    p
}

fn keys(provider: &str, name: &str, secret: &str) -> String {
    format!("  - {provider}:\n      keys:\n      - name: {name}\n        secret: {secret}\n")
}

const A: &str = "/registry/secrets/default/a";
const B: &str = "/registry/secrets/default/b";
const C: &str = "/registry/secrets/default/c";
const D: &str = "/registry/secrets/default/d";

/// A stream of four Secrets: aescbc, aesgcm, secretbox, and one in plaintext.
fn stream(dir: &Path) -> (PathBuf, [String; 3]) {
    let s = [secret(1), secret(2), secret(3)];
    let mut h = Header::new("test");
    h.prefixes = vec!["/registry/".into()];
    h.complete = true;
    let mut w = StreamWriter::new(Vec::new(), &h).unwrap();
    let values = [
        (A, seal("aescbc", "cbc1", &s[0], A, b"k8s\0secret-a")),
        (B, seal("aesgcm", "gcm1", &s[1], B, b"k8s\0secret-b")),
        (C, seal("secretbox", "box1", &s[2], C, b"k8s\0secret-c")),
        (D, b"k8s\0secret-d".to_vec()),
    ];
    for (k, v) in values {
        let r = Record { key: k.into(), value: v, create_revision: 2, mod_revision: 3, version: 1, lease: 0 };
        w.write(&r).unwrap();
    }
    let (bytes, _) = w.finish().unwrap();
    let p = dir.join("in.ndjson");
    std::fs::write(&p, bytes).unwrap();
    (p, s)
}

fn value_of(stream: &[u8], key: &str) -> Vec<u8> {
    records(stream).into_iter().find(|r| r.key == key.as_bytes()).expect("the key").value
}

#[test]
fn kv_stats_opens_every_value_and_fails_when_a_key_is_lost() {
    let d = tmp();
    let (input, s) = stream(d.path());
    let all = config(
        d.path(),
        "all.yaml",
        &(keys("aescbc", "cbc1", &s[0]) + &keys("aesgcm", "gcm1", &s[1]) + &keys("secretbox", "box1", &s[2])),
    );
    let o = sh(&format!("kv-stats --json --encryption-config {} {}", all.display(), input.display()));
    o.ok();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let dec = &v["encodings"]["decrypted"];
    assert_eq!(
        (
            dec["aescbc/cbc1"]["keys"].as_u64(),
            dec["aesgcm/gcm1"]["keys"].as_u64(),
            dec["secretbox/box1"]["keys"].as_u64()
        ),
        (Some(1), Some(1), Some(1))
    );
    assert_eq!(v["encodings"]["undecryptable"], serde_json::json!({}));

    // The aesgcm key lost: the report says so, the exit says integrity, the message names the key.
    let lost = config(d.path(), "lost.yaml", &(keys("aescbc", "cbc1", &s[0]) + &keys("secretbox", "box1", &s[2])));
    let o = sh(&format!("kv-stats --encryption-config {} {}", lost.display(), input.display()));
    assert_eq!(o.code, 5, "{}", o.stderr);
    assert!(o.stdout_str().contains("NOT decryptable with --encryption-config, by provider/key"), "{}", o.stdout_str());
    assert_eq!(
        o.stderr,
        "kv-stats: 1 encrypted values do not decrypt with --encryption-config (restored, the API server could not \
         read them); the first: \"/registry/secrets/default/b\": encrypted with aesgcm key \"gcm1\", which the \
         encryption config does not hold\n"
    );
    // A wrong secret under the right name: damaged or another key.
    let wrong = config(
        d.path(),
        "wrong.yaml",
        &(keys("aescbc", "cbc1", &s[0]) + &keys("aesgcm", "gcm1", &secret(9)) + &keys("secretbox", "box1", &s[2])),
    );
    let o = sh(&format!("kv-stats --encryption-config {} {}", wrong.display(), input.display()));
    assert_eq!(o.code, 5);
    assert!(o.stderr.contains("does not decrypt with aesgcm key \"gcm1\""), "{}", o.stderr);
    for x in &s {
        assert!(!o.stderr.contains(x.as_str()) && !o.stdout_str().contains(x.as_str()), "no secret is printed");
    }
}

#[test]
fn kv_rekey_moves_values_to_the_new_key_and_the_other_implementation_opens_them() {
    let d = tmp();
    let (input, s) = stream(d.path());
    let from = config(
        d.path(),
        "from.yaml",
        &(keys("aescbc", "cbc1", &s[0]) + &keys("aesgcm", "gcm1", &s[1]) + &keys("secretbox", "box1", &s[2])),
    );
    let new = secret(7);
    let to = config(d.path(), "to.yaml", &(keys("aesgcm", "new1", &new) + "  - identity: {}\n"));
    let o = sh(&format!("kv-rekey --from {} --to {} {}", from.display(), to.display(), input.display()));
    o.ok();
    assert!(
        o.stderr.starts_with(
            "kv-rekey: 4 keys: 3 re-encrypted, 0 decrypted (--to writes them in plaintext), 0 encrypted, 1 unchanged ("
        ),
        "{}",
        o.stderr
    );
    for (k, plain) in [(A, "k8s\0secret-a"), (B, "k8s\0secret-b"), (C, "k8s\0secret-c")] {
        let v = value_of(&o.stdout, k);
        assert!(v.starts_with(b"k8s:enc:aesgcm:v1:new1:"), "{k}");
        assert_eq!(open(&new, k, &v), plain.as_bytes(), "{k} opens with the new key in the other implementation");
    }
    assert_eq!(value_of(&o.stdout, D), b"k8s\0secret-d");
    // The output is a whole stream, and still claims what the input did (same keys).
    let out = d.path().join("out.ndjson");
    std::fs::write(&out, &o.stdout).unwrap();
    sh(&format!("kv-stats --verify {}", out.display())).ok();
    let h: serde_json::Value = serde_json::from_slice(o.stdout.split(|&b| b == b'\n').next().unwrap()).unwrap();
    assert_eq!((h["complete"].as_bool(), h["history"][0].as_str()), (Some(true), Some("kv-rekey")));

    // --encrypt-identity also encrypts the plaintext Secret.
    let o =
        sh(&format!("kv-rekey --encrypt-identity --from {} --to {} {}", from.display(), to.display(), input.display()));
    assert_eq!(open(&new, D, &value_of(&o.ok().stdout, D)), b"k8s\0secret-d");

    // To an identity-first config: plaintext, as the API server would then write them.
    let plain = config(d.path(), "plain.yaml", "  - identity: {}\n");
    let o = sh(&format!("kv-rekey --from {} --to {} {}", from.display(), plain.display(), input.display()));
    assert_eq!(value_of(&o.ok().stdout, B), b"k8s\0secret-b");

    // A value whose key neither file holds: an error naming the etcd key, nothing written.
    let o = sh(&format!(
        "kv-rekey --from {} --to {} {} -o {}/x",
        plain.display(),
        to.display(),
        input.display(),
        d.path().display()
    ));
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (
            2,
            "kv-rekey: key \"/registry/secrets/default/a\": encrypted with aescbc key \"cbc1\", which the encryption config does not hold\n"
        )
    );
    assert!(!d.path().join("x").exists());
}

#[test]
fn rewriting_keys_re_encrypts_values_bound_to_them_or_refuses() {
    let d = tmp();
    let (input, s) = stream(d.path());
    let rw = "--rewrite-prefix /registry/=/kubernetes.io/";
    let o = sh(&format!("kv-filter {rw} {}", input.display()));
    assert_eq!(o.code, 2);
    assert_eq!(
        o.stderr,
        "kv-filter: key \"/registry/secrets/default/b\": its value is encrypted with aesgcm key \"gcm1\", which binds it \
         to its etcd key: under \"/kubernetes.io/secrets/default/b\" the API server could not decrypt it; give \
         --encryption-config (the API server's) to re-encrypt it\n"
    );
    let cfg = config(
        d.path(),
        "c.yaml",
        &(keys("aescbc", "cbc1", &s[0]) + &keys("aesgcm", "gcm1", &s[1]) + &keys("secretbox", "box1", &s[2])),
    );
    let o = sh(&format!("kv-filter {rw} --encryption-config {} {}", cfg.display(), input.display()));
    o.ok();
    let moved = "/kubernetes.io/secrets/default/b";
    let v = value_of(&o.stdout, moved);
    assert!(v.starts_with(b"k8s:enc:aesgcm:v1:gcm1:"));
    assert_eq!(open(&s[1], moved, &v), b"k8s\0secret-b", "bound to its new key");
    // aescbc and secretbox do not bind the key: their bytes move unchanged.
    let orig = std::fs::read(&input).unwrap();
    assert_eq!(value_of(&o.stdout, "/kubernetes.io/secrets/default/a"), value_of(&orig, A));
    assert_eq!(value_of(&o.stdout, "/kubernetes.io/secrets/default/c"), value_of(&orig, C));
    let out = d.path().join("moved.ndjson");
    std::fs::write(&out, &o.stdout).unwrap();
    sh(&format!("kv-stats --verify --encryption-config {} {}", cfg.display(), out.display())).ok();
}

#[test]
fn kv_gens_encrypted_secrets_open_with_the_config_it_writes() {
    // Values longer than what kv-stats reads of a value for its report (a bug until kv-stats
    // decoded whole values when asked to decrypt).
    let d = tmp();
    let p = d.path().display();
    sh(&format!("kv-gen --objects 3000 --encryption-config-out {p}/enc.yaml -o {p}/g.ndjson")).ok();
    let o = sh(&format!("kv-stats --json --encryption-config {p}/enc.yaml {p}/g.ndjson"));
    o.ok();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let opened = v["encodings"]["decrypted"]["aescbc/key1"]["keys"].as_u64().unwrap();
    assert_eq!(Some(opened), v["encodings"]["encrypted"]["keys"].as_u64());
    assert!(opened > 50, "{opened}");
    let rotated = config(d.path(), "rot.yaml", &keys("secretbox", "box2", &secret(5)));
    let o = sh(&format!(
        "kv-rekey --from {p}/enc.yaml --to {} {p}/g.ndjson | kv-stats --json --encryption-config {}",
        rotated.display(),
        rotated.display()
    ));
    let v: serde_json::Value = serde_json::from_slice(&o.ok().stdout).unwrap();
    assert_eq!(v["encodings"]["decrypted"]["secretbox/box2"]["keys"].as_u64(), Some(opened));
}

#[test]
fn archive_unpack_verify_opens_every_encrypted_value() {
    let d = tmp();
    let p = d.path().display();
    sh(&format!("kv-gen --objects 3000 --seed 9 --encryption-config-out {p}/enc.yaml | archive-pack -o {p}/b.zip"))
        .ok();
    let n = sh(&format!("archive-unpack {p}/b.zip | kv-stats --json | jq .encodings.encrypted.keys"));
    let n: u64 = n.ok().stdout_str().trim().parse().unwrap();
    assert!(n > 50, "{n}");
    let o = sh(&format!("archive-unpack --verify --encryption-config {p}/enc.yaml {p}/b.zip"));
    o.ok();
    assert!(o.stderr.starts_with("archive-unpack: verified 3000 keys, "), "{}", o.stderr);
    assert!(o.stderr.ends_with(&format!("; encrypted at rest: aescbc/key1 {n} decrypted\n")), "{}", o.stderr);
    // A config without the backup's key: the backup would restore Secrets nobody can read.
    let other = config(d.path(), "other.yaml", &keys("aescbc", "key1", &secret(7)));
    let o = sh(&format!("archive-unpack --verify --encryption-config {} {p}/b.zip", other.display()));
    assert_eq!(o.code, 5, "{}", o.stderr);
    assert!(
        o.stderr.starts_with(&format!(
            "archive-unpack: {n} encrypted values do not decrypt with --encryption-config (restored, the API server could not read them); the first: \"/registry/secrets/"
        )),
        "{}",
        o.stderr
    );
    let o = sh(&format!("archive-unpack --encryption-config {p}/enc.yaml {p}/b.zip > /dev/null"));
    assert_eq!(o.code, 2, "{}", o.stderr);
}

/// A KMS v1 plugin (tests/helpers/kms_plugin.py, Debian's python3-grpcio) on a socket; stopped
/// by its PID when dropped.
struct Plugin(std::process::Child);

impl Plugin {
    fn start(socket: &Path, kek: &str) -> Plugin {
        Plugin::logged(socket, kek, None)
    }

    /// A plugin that appends the name of each call it answers to `log`.
    fn logged(socket: &Path, kek: &str, log: Option<&Path>) -> Plugin {
        use std::io::BufRead;
        let helper = Path::new(env!("CARGO_MANIFEST_DIR")).join("helpers/kms_plugin.py");
        let mut child = std::process::Command::new("/usr/bin/python3")
            .arg(helper)
            .arg(socket)
            .arg(kek)
            .args(log)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("start the KMS plugin");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert_eq!(line, "ready\n");
        Plugin(child)
    }
}

impl Drop for Plugin {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn kms_v1_values_open_through_their_plugin() {
    let d = tmp();
    let kek = secret(9);
    let socket = d.path().join("kms.sock");
    let cfg = config(
        d.path(),
        "kms.yaml",
        &format!("  - kms:\n      name: vault\n      endpoint: unix://{}\n", socket.display()),
    );
    let mut h = Header::new("test");
    h.prefixes = vec!["/registry/".into()];
    let mut w = StreamWriter::new(Vec::new(), &h).unwrap();
    for (i, k) in [A, B, C].iter().enumerate() {
        let plain = format!("{{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{{\"name\":\"s{i}\"}}}}");
        let value = seal("kms", "vault", &kek, k, plain.as_bytes());
        w.write(&Record {
            key: k.as_bytes().to_vec(),
            value,
            create_revision: 5,
            mod_revision: 5,
            version: 1,
            lease: 0,
        })
        .unwrap();
    }
    let input = d.path().join("kms.ndjson");
    std::fs::write(&input, w.finish().unwrap().0).unwrap();
    let i = input.display();
    let c = cfg.display();

    // No plugin on the socket: every value fails, the cause named.
    let o = sh(&format!("kv-stats --encryption-config {c} {i} > /dev/null"));
    assert_eq!(o.code, 5, "{}", o.stderr);
    assert!(
        o.stderr.contains(&format!(
            "cannot decrypt with kms provider \"vault\": cannot reach the KMS plugin at {}: ",
            socket.display()
        )),
        "{}",
        o.stderr
    );

    let _plugin = Plugin::start(&socket, &kek);
    let o = sh(&format!("kv-stats --json --encryption-config {c} {i}"));
    let v: serde_json::Value = serde_json::from_slice(&o.ok().stdout).unwrap();
    assert_eq!(v["encodings"]["decrypted"]["kms/vault"]["keys"].as_u64(), Some(3));
    let o = sh(&format!("kv-decode -q --encryption-config {c} {i} | jq -r '.object.metadata.name // empty'"));
    assert_eq!(o.ok().stdout_str(), "s0\ns1\ns2\n");
    let o = sh(&format!("archive-pack -q {i} | archive-unpack --verify --encryption-config {c}"));
    assert!(o.ok().stderr.ends_with("; encrypted at rest: kms/vault 3 decrypted\n"), "{}", o.stderr);
    // The socket somewhere else than the config says.
    let moved =
        config(d.path(), "moved.yaml", "  - kms:\n      name: vault\n      endpoint: unix:///nonexistent/kms.sock\n");
    let o = sh_env(
        &format!("kv-stats --json --encryption-config {} {i} | jq .encodings.decrypted", moved.display()),
        &[("RESHIFTER_KMS_SOCKET", &socket.display().to_string())],
    );
    assert!(o.ok().stdout_str().contains("\"kms/vault\""), "{}", o.stdout_str());
    // A plugin with another key refuses the data keys.
    drop(_plugin);
    let _other = Plugin::start(&socket, &secret(10));
    let o = sh(&format!("kv-stats --encryption-config {c} {i} > /dev/null"));
    assert_eq!(o.code, 5, "{}", o.stderr);
    assert!(o.stderr.contains("refused: gRPC status 3 not a data key of this plugin"), "{}", o.stderr);
}

#[test]
fn a_kms_plugin_that_never_answers_costs_one_timeout() {
    // A socket that accepts and never answers; 40 values, each with its own data key. The
    // config's timeout is honoured, and after the first timeout the plugin is not asked again
    // (each call waited 10 s before: 400 s).
    let d = tmp();
    let kek = secret(9);
    let socket = d.path().join("mute.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let held = std::thread::spawn(move || {
        let mut conns = Vec::new();
        for c in listener.incoming().take(64) {
            conns.push(c);
        }
    });
    let cfg = config(
        d.path(),
        "mute.yaml",
        &format!("  - kms:\n      name: vault\n      endpoint: unix://{}\n      timeout: 700ms\n", socket.display()),
    );
    let mut h = Header::new("test");
    h.prefixes = vec!["/registry/".into()];
    let mut w = StreamWriter::new(Vec::new(), &h).unwrap();
    for i in 0..40 {
        let k = format!("/registry/secrets/default/s{i:02}");
        let value = seal("kms", "vault", &kek, &k, b"{\"apiVersion\":\"v1\",\"kind\":\"Secret\"}");
        w.write(&Record { key: k.into_bytes(), value, create_revision: 5, mod_revision: 5, version: 1, lease: 0 })
            .unwrap();
    }
    std::fs::write(d.path().join("in.ndjson"), w.finish().unwrap().0).unwrap();
    let started = std::time::Instant::now();
    let o = sh(&format!("kv-stats --encryption-config {} {}/in.ndjson > /dev/null", cfg.display(), d.path().display()));
    let took = started.elapsed();
    assert_eq!(o.code, 5, "{}", o.stderr);
    assert!(o.stderr.contains("did not answer in 0.7 s (the provider's timeout)"), "{}", o.stderr);
    assert!(took < std::time::Duration::from_secs(6), "took {took:?}");
    let bad = config(
        d.path(),
        "bad.yaml",
        "  - kms:\n      name: vault\n      endpoint: unix:///x.sock\n      timeout: soon\n",
    );
    let o = sh(&format!("kv-stats --encryption-config {} {}/in.ndjson", bad.display(), d.path().display()));
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("timeout \"soon\" is not a positive duration"), "{}", o.stderr);
    drop(held);
}

fn kms_helper() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("helpers/kms_plugin.py")
}

/// A KMS v2 value as the API server writes it, by the other implementation (Python's
/// cryptography): data key source type 0 (a data key) or 1 (a seed).
/// With `shared`, the data key or seed is that one (hex), wrapped the same way each time.
fn seal_v2(kek: &str, key: &str, source_type: u8, shared: Option<&str>, plain: &[u8]) -> Vec<u8> {
    let env = shared.map(|hex| format!("KMS_V2_SECRET_HEX={hex} ")).unwrap_or_default();
    let cmd = format!("{env}/usr/bin/python3 {} seal-v2 {kek} '{key}' {source_type} vault", kms_helper().display());
    let o = sh_input(&cmd, plain);
    o.ok();
    o.stdout
}

fn open_v2(kek: &str, key: &str, value: &[u8]) -> Vec<u8> {
    let o = sh_input(&format!("/usr/bin/python3 {} open-v2 {kek} '{key}'", kms_helper().display()), value);
    o.ok();
    o.stdout
}

fn secrets_stream(dir: &Path, values: &[(&str, Vec<u8>)]) -> PathBuf {
    let mut h = Header::new("test");
    h.prefixes = vec!["/".into()];
    let mut w = StreamWriter::new(Vec::new(), &h).unwrap();
    for (k, value) in values {
        let r = Record {
            key: k.as_bytes().to_vec(),
            value: value.clone(),
            create_revision: 5,
            mod_revision: 5,
            version: 1,
            lease: 0,
        };
        w.write(&r).unwrap();
    }
    let p = dir.join("v2.ndjson");
    std::fs::write(&p, w.finish().unwrap().0).unwrap();
    p
}

#[test]
fn kms_v2_values_of_both_types_open_through_their_plugin_and_rekey_both_ways() {
    let d = tmp();
    let kek = secret(11);
    let socket = d.path().join("kms2.sock");
    let v2 = |name: &str, extra: &str| {
        config(
            d.path(),
            name,
            &format!(
                "  - kms:\n      apiVersion: v2\n      name: vault\n      endpoint: unix://{}\n{extra}",
                socket.display()
            ),
        )
    };
    let cfg = v2("kms2.yaml", "");
    let plain = |i: usize| format!("{{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{{\"name\":\"s{i}\"}}}}");
    // A seed (what 1.29 and later write), a data key (1.25 to 1.28), the first seed again: the
    // API server uses one seed for many values, and the plugin is asked once per wrapped seed.
    let seed = "5e".repeat(32);
    let input = secrets_stream(
        d.path(),
        &[
            (A, seal_v2(&kek, A, 1, Some(&seed), plain(0).as_bytes())),
            (B, seal_v2(&kek, B, 0, None, plain(1).as_bytes())),
            (C, seal_v2(&kek, C, 1, Some(&seed), plain(2).as_bytes())),
        ],
    );
    let (i, c) = (input.display(), cfg.display());
    let log = d.path().join("calls.log");
    let _plugin = Plugin::logged(&socket, &kek, Some(&log));
    let o = sh(&format!("kv-stats --json --encryption-config {c} {i}"));
    let v: serde_json::Value = serde_json::from_slice(&o.ok().stdout).unwrap();
    assert_eq!(v["encodings"]["decrypted"]["kms/vault"]["keys"].as_u64(), Some(3), "{v}");
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "v2_status\nv2_decrypt\nv2_decrypt\n");
    let o = sh(&format!("kv-decode -q --encryption-config {c} {i} | jq -r '.object.metadata.name // empty'"));
    assert_eq!(o.ok().stdout_str(), "s0\ns1\ns2\n");
    let o = sh(&format!("archive-pack -q {i} | archive-unpack --verify --encryption-config {c}"));
    assert!(o.ok().stderr.ends_with("; encrypted at rest: kms/vault 3 decrypted\n"), "{}", o.stderr);

    // From KMS v2 to aescbc, read by the other implementation.
    let new = secret(12);
    let to = config(d.path(), "to.yaml", &keys("aescbc", "cbc9", &new));
    let o = sh(&format!("kv-rekey --from {c} --to {} {i}", to.display()));
    for (n, k) in [A, B, C].iter().enumerate() {
        let v = value_of(&o.ok().stdout, k);
        assert!(v.starts_with(b"k8s:enc:aescbc:v1:cbc9:"), "{k}");
        assert_eq!(open(&new, k, &v), plain(n).as_bytes());
    }
    // To identity: plaintext.
    let ident = config(d.path(), "ident.yaml", "  - identity: {}\n");
    let o = sh(&format!("kv-rekey --from {c} --to {} {i}", ident.display()));
    assert_eq!(value_of(&o.ok().stdout, B), plain(1).as_bytes());
    // Into KMS v2 through the plugin's Encrypt (one seed for the run), read back by the other
    // implementation and by our own.
    let aescbc = d.path().join("cbc.ndjson");
    std::fs::write(&aescbc, sh(&format!("kv-rekey --from {c} --to {} {i}", to.display())).ok().stdout.clone()).unwrap();
    let o = sh(&format!("kv-rekey --from {} --to {c} {}", to.display(), aescbc.display()));
    let back = o.ok().stdout.clone();
    for (n, k) in [A, B, C].iter().enumerate() {
        let v = value_of(&back, k);
        assert!(v.starts_with(b"k8s:enc:kms:v2:vault:"), "{k}");
        assert_eq!(open_v2(&kek, k, &v), plain(n).as_bytes(), "{k} opens in the other implementation");
    }
    let again = d.path().join("again.ndjson");
    std::fs::write(&again, &back).unwrap();
    let o = sh(&format!("kv-stats --json --encryption-config {c} {}", again.display()));
    let v: serde_json::Value = serde_json::from_slice(&o.ok().stdout).unwrap();
    assert_eq!(v["encodings"]["decrypted"]["kms/vault"]["keys"].as_u64(), Some(3), "{v}");

    // Under an API server's --etcd-prefix, values are bound to their full key as well.
    let (d2, tk) = (tmp(), "/tenant-a/secrets/default/t");
    let tenant = secrets_stream(d2.path(), &[(tk, seal_v2(&kek, tk, 1, None, plain(3).as_bytes()))]);
    let o = sh(&format!(
        "kv-decode -q --etcd-prefix /tenant-a --encryption-config {c} {} | jq -r '.object.metadata.name // empty'",
        tenant.display()
    ));
    assert_eq!(o.ok().stdout_str(), "s3\n");

    // A v1 config for v2 values says so; a plugin with another key refuses (exit 5).
    let as_v1 = config(
        d.path(),
        "v1.yaml",
        &format!("  - kms:\n      name: vault\n      endpoint: unix://{}\n", socket.display()),
    );
    let o = sh(&format!("kv-stats --encryption-config {} {i} > /dev/null", as_v1.display()));
    assert_eq!(o.code, 5, "{}", o.stderr);
    assert!(
        o.stderr
            .contains("kms provider \"vault\" is configured with apiVersion v1 but the value was written by KMS v2"),
        "{}",
        o.stderr
    );
    drop(_plugin);
    let _other = Plugin::start(&socket, &secret(13));
    let o = sh(&format!("kv-stats --encryption-config {c} {i} > /dev/null"));
    assert_eq!(o.code, 5, "{}", o.stderr);
    assert!(
        o.stderr.contains("cannot decrypt with kms provider \"vault\": the KMS plugin at ")
            && o.stderr.contains("refused: gRPC status 3 not a data key of this plugin"),
        "{}",
        o.stderr
    );
    drop(_other);

    // A plugin that never answers: the config's timeout, once.
    let mute = d.path().join("mute2.sock");
    let listener = std::os::unix::net::UnixListener::bind(&mute).unwrap();
    let held = std::thread::spawn(move || listener.incoming().take(8).collect::<Vec<_>>());
    let hang = config(
        d.path(),
        "hang.yaml",
        &format!(
            "  - kms:\n      apiVersion: v2\n      name: vault\n      endpoint: unix://{}\n      timeout: 500ms\n",
            mute.display()
        ),
    );
    let started = std::time::Instant::now();
    let o = sh(&format!("kv-stats --encryption-config {} {i} > /dev/null", hang.display()));
    assert_eq!(o.code, 5, "{}", o.stderr);
    assert!(o.stderr.contains("did not answer in 0.5 s (the provider's timeout)"), "{}", o.stderr);
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "{:?}", started.elapsed());
    drop(held);
}

/// `--etcd-prefix`: a keyspace an API server wrote under `/tenant-a` (as hosted control planes
/// that share one etcd do) reads as the same keyspace under `/registry` does; without it, the
/// tools say which prefix to give, and kv-rekey refuses to guess how to write a value.
#[test]
fn an_etcd_prefix_reads_keys_as_that_api_server_stores_them() {
    let d = tmp();
    let (enc, reg, t) = (d.path().join("gen.yaml"), d.path().join("reg.ndjson"), d.path().join("t.ndjson"));
    sh(&format!("kv-gen --objects 400 --seed 3 --encryption-config-out {} -o {}", enc.display(), reg.display())).ok();
    sh(&format!("kv-filter -q --rewrite-prefix /registry/=/tenant-a/ {} -o {}", reg.display(), t.display())).ok();
    let (e, r, ts) = (enc.display(), reg.display(), t.display());
    let hint = "keys under /tenant-a look like those of an API server started with --etcd-prefix /tenant-a: \
                give --etcd-prefix /tenant-a to read them as Kubernetes objects";
    let stats = |args: &str| -> (serde_json::Value, String) {
        let o = sh(&format!("kv-stats --json {args}"));
        (serde_json::from_slice(&o.ok().stdout).unwrap(), o.stderr.clone())
    };

    let (plain, _) = stats(&r.to_string());
    let (told, err) = stats(&format!("--etcd-prefix tenant-a/ --encryption-config {e} {ts}"));
    assert_eq!(told["resources"], plain["resources"]);
    assert_eq!(told["roots"], serde_json::json!({"/tenant-a": plain["roots"]["/registry"]}));
    assert!(told["encodings"]["decrypted"]["aescbc/key1"]["keys"].as_u64().unwrap() > 0, "{told}");
    assert_eq!(err, "");
    let (untold, err) = stats(&ts.to_string());
    assert_eq!(untold["resources"].as_object().unwrap().keys().collect::<Vec<_>>(), ["(not kubernetes)"]);
    assert_eq!(err, format!("kv-stats: {hint}\n"));

    // kv-filter selects by resource under the prefix; without it nothing matches, and it says why.
    let secrets = |cmd: &str| {
        let o = sh(&format!("{cmd} | kv-stats --json"));
        serde_json::from_slice::<serde_json::Value>(&o.ok().stdout).unwrap()["total"]["keys"].as_u64().unwrap()
    };
    let want = secrets(&format!("kv-filter -q --resource secrets {r}"));
    assert!(want > 0);
    assert_eq!(secrets(&format!("kv-filter -q --etcd-prefix /tenant-a --resource secrets {ts}")), want);
    let o = sh(&format!("kv-filter --resource secrets {ts} > /dev/null"));
    assert!(o.ok().stderr.starts_with(&format!("kv-filter: {hint}\nkv-filter: 0 of ")), "{}", o.stderr);

    // kv-decode decodes the same objects; the round trip through kv-encode is byte-exact.
    let names = |cmd: &str| sh(&format!("{cmd} | jq -r '.object.metadata.name // empty' | sort")).ok().stdout.clone();
    let decoded = names(&format!("kv-decode -q --encryption-config {e} {r}"));
    assert_eq!(names(&format!("kv-decode -q --etcd-prefix /tenant-a --encryption-config {e} {ts}")), decoded);
    let o = sh(&format!("kv-decode {ts} 2>&1 >/dev/null | head -1"));
    assert_eq!(o.ok().stdout_str(), format!("kv-decode: {hint}\n"));
    let o = sh(&format!(
        "kv-decode -q --etcd-prefix /tenant-a --encryption-config {e} {ts} | kv-encode -q --etcd-prefix /tenant-a --encryption-config {e} | cmp - {ts}"
    ));
    o.ok();

    // kv-rekey to aesgcm: which provider writes a value depends on its resource, so without the
    // prefix it refuses; with it, the values are bound to their full key, as the API server reads them.
    let gcm = secret(9);
    let to = config(d.path(), "to.yaml", &keys("aesgcm", "gcm9", &gcm));
    let o = sh(&format!("kv-rekey --from {e} --to {} {ts} > /dev/null", to.display()));
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(
        o.stderr.contains(
            "encrypted, and not under a Kubernetes root (/registry, /kubernetes.io, /openshift.io), so --to cannot say how to write it: give the API server's --etcd-prefix"
        ),
        "{}",
        o.stderr
    );
    let o = sh(&format!("kv-rekey --etcd-prefix /tenant-a --encrypt-identity --from {e} --to {} {ts}", to.display()));
    let moved = o.ok().stdout.clone();
    let sealed: Vec<_> =
        records(&moved).into_iter().filter(|r| r.value.starts_with(b"k8s:enc:aesgcm:v1:gcm9:")).collect();
    assert_eq!(sealed.len() as u64, want, "every Secret is written by --to's first provider");
    for rec in sealed.iter().take(3) {
        let key = String::from_utf8(rec.key.clone()).unwrap();
        assert!(key.starts_with("/tenant-a/secrets/"), "{key}");
        assert!(open(&gcm, &key, &rec.value).starts_with(b"k8s\0"), "{key} opens with its full key");
    }
    let rekeyed = d.path().join("rekeyed.ndjson");
    std::fs::write(&rekeyed, &moved).unwrap();
    let o = sh(&format!(
        "archive-pack -q {} | archive-unpack --verify --etcd-prefix /tenant-a --encryption-config {}",
        rekeyed.display(),
        to.display()
    ));
    assert!(o.ok().stderr.ends_with(&format!("; encrypted at rest: aesgcm/gcm9 {want} decrypted\n")), "{}", o.stderr);
    let o = sh(&format!(
        "archive-pack -q {} | archive-unpack --verify --encryption-config {}",
        rekeyed.display(),
        to.display()
    ));
    assert!(
        o.ok().stderr.ends_with(&format!("; encrypted at rest: aesgcm/gcm9 {want} decrypted; {hint}\n")),
        "{}",
        o.stderr
    );

    // A prefix that is not one.
    let o = sh(&format!("kv-stats --etcd-prefix /a/../b {ts}"));
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("--etcd-prefix \"/a/../b\" is not a key prefix"), "{}", o.stderr);
}
