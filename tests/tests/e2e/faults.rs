//! The fault suite: servers killed and lagging, tools signalled mid-stream, a full disk, an S3
//! server dying mid-transfer. In every case either the work completes with exactly the data it
//! should hold, or it fails loudly and leaves nothing that any of our tools counts as complete
//! (docs/RELIABILITY.md lists each case with its figures).

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use reshifter_e2e::{Cluster, Etcd, S3, records, sh, sh_cmd, sh_env, tmp, trailer};

fn kv(i: usize, size: usize) -> (Vec<u8>, Vec<u8>) {
    let key = format!("/registry/configmaps/ns-{:02}/cm-{i:05}", i % 7).into_bytes();
    let value = format!("{i:08}").repeat(size / 8).into_bytes();
    (key, value)
}

fn seed(e: &Etcd, n: usize, size: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut kvs: Vec<_> = (0..n).map(|i| kv(i, size)).collect();
    e.put_all(&kvs);
    kvs.sort();
    kvs
}

fn key_values(stream: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    records(stream).into_iter().map(|r| (r.key, r.value)).collect()
}

fn has_trailer(stream: &[u8]) -> bool {
    stream.split(|b| *b == b'\n').rev().find(|l| !l.is_empty()).is_some_and(|l| l.starts_with(b"{\"type\":\"trailer\""))
}

fn signal(pid: u32, sig: &str) {
    sh(&format!("kill -{sig} {pid}")).ok();
}

/// Files left in `dir` (names), sorted.
fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

fn wait(child: Child) -> (i32, Vec<u8>, String) {
    let o = child.wait_with_output().unwrap();
    (o.status.code().unwrap_or(128 + 9), o.stdout, String::from_utf8_lossy(&o.stderr).into_owned())
}

// ---------------------------------------------------------------------------------------------
// A 3-member cluster

#[test]
fn a_cluster_dump_survives_a_dead_member_and_a_lagging_one() {
    let mut c = Cluster::start();
    let kvs = seed(&c.members[0], 2000, 200);
    // One follower down: the others hold a quorum and answer.
    let follower = (c.leader() + 1) % 3;
    c.members[follower].kill();
    for _ in 0..3 {
        let out = sh(&format!("etcd-dump -q {}", c.flags()));
        out.ok();
        assert_eq!(key_values(&out.stdout), kvs);
    }
    // Back, behind the others: it catches up while dumps read through it.
    c.members[follower].restart_with(&[]);
    let leader = c.leader();
    let lagging = (leader + 2) % 3;
    signal(c.members[lagging].pid(), "STOP");
    let more: Vec<_> = (2000..2600).map(|i| kv(i, 200)).collect();
    c.members[leader].put_all(&more);
    signal(c.members[lagging].pid(), "CONT");
    let mut all = kvs.clone();
    all.extend(more);
    all.sort();
    for _ in 0..10 {
        let out = sh(&format!("etcd-dump -q {}", c.flags()));
        out.ok();
        assert_eq!(key_values(&out.stdout), all);
    }
}

#[test]
fn the_leader_killed_mid_dump_gives_the_same_revision_or_no_trailer() {
    let mut c = Cluster::start();
    let kvs = seed(&c.members[0], 4000, 500);
    let rev = c.members[0].revision();
    let mut child = sh_cmd(&format!("exec etcd-dump -q --page-keys 50 {}", c.flags()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The dump is blocked on a full pipe after its first pages; the leader dies.
    let mut out = child.stdout.take().unwrap();
    let mut first = vec![0u8; 200_000];
    out.read_exact(&mut first).unwrap();
    let leader = c.leader();
    c.members[leader].kill();
    let mut rest = Vec::new();
    out.read_to_end(&mut rest).unwrap();
    let (code, _, err) = wait(child);
    first.extend(rest);
    eprintln!("leader killed mid-dump: exit {code}");
    if code == 0 {
        assert!(has_trailer(&first), "exit 0 without a trailer");
        assert_eq!(key_values(&first), kvs);
        assert_eq!(trailer(&first)["count"], 4000);
        let header: serde_json::Value = serde_json::from_slice(first.split(|b| *b == b'\n').next().unwrap()).unwrap();
        assert_eq!(header["revision"], rev);
    } else {
        assert!(!has_trailer(&first), "a failed dump wrote a trailer: {err}");
        assert!(err.starts_with("etcd-dump: "), "{err}");
    }
}

#[test]
fn a_load_through_a_leader_change_restores_everything() {
    let mut src_kvs: Vec<_> = (0..3000).map(|i| kv(i, 300)).collect();
    src_kvs.sort();
    let src = Etcd::start();
    src.put_all(&src_kvs);
    let d = tmp();
    let p = d.path().display();
    sh(&format!("etcd-dump -q {} -o {p}/s.ndjson", src.flags())).ok();
    let stream = std::fs::read(d.path().join("s.ndjson")).unwrap();
    let mut c = Cluster::start();
    let mut child = sh_cmd(&format!("exec etcd-load -q --max-txn-ops 20 {}", c.flags()))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let half = stream.len() / 2;
    stdin.write_all(&stream[..half]).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let leader = c.leader();
    c.members[leader].kill();
    let _ = stdin.write_all(&stream[half..]);
    drop(stdin);
    let (code, _, err) = wait(child);
    let alive = (leader + 1) % 3;
    eprintln!("leader killed mid-load: exit {code}");
    if code != 0 {
        // It says so, and a rerun completes the restore.
        assert!(err.contains("rerun"), "{err}");
        let endpoints: Vec<String> =
            c.members.iter().enumerate().filter(|(i, _)| *i != leader).map(|(_, m)| m.endpoint.clone()).collect();
        sh(&format!("etcd-load -q --endpoints {} < {p}/s.ndjson", endpoints.join(","))).ok();
    }
    let got: Vec<_> = c.members[alive].get_all().into_iter().map(|(k, v, _)| (k, v)).collect();
    assert_eq!(got, src_kvs, "exit {code}: {err}");
}

// ---------------------------------------------------------------------------------------------
// Tools signalled mid-stream

/// A stream of `n` keys and its archive, in `dir`.
fn fixtures(dir: &Path, n: usize) {
    let p = dir.display();
    sh(&format!(
        "kv-gen --objects {n} -o {p}/s.ndjson && archive-pack -q {p}/s.ndjson -o {p}/s.zip && \
         age-keygen -o {p}/key.txt 2>/dev/null && age-keygen -y {p}/key.txt > {p}/r.txt"
    ))
    .ok();
}

/// Start `tool` (exec'd, so the PID is the tool's), feed it half of `input`, and send `sig`.
fn signal_mid_stream(tool: &str, input: &[u8], sig: &str, env: &[(&str, &str)]) -> (i32, String) {
    let mut child = sh_cmd(&format!("exec {tool}"))
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&input[..input.len() / 2]).unwrap();
    stdin.flush().unwrap();
    std::thread::sleep(Duration::from_millis(400));
    signal(child.id(), sig);
    let (code, _, err) = wait(child);
    drop(stdin);
    (code, err)
}

#[test]
fn signals_mid_stream_leave_no_complete_looking_artifact() {
    let d = tmp();
    fixtures(d.path(), 3000);
    let p = d.path().display().to_string();
    let stream = std::fs::read(d.path().join("s.ndjson")).unwrap();
    let zip = std::fs::read(d.path().join("s.zip")).unwrap();
    let out = d.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let o = out.display();
    let tools: Vec<(String, &[u8])> = vec![
        (format!("kv-filter -q --exclude-resource events -o {o}/f.ndjson"), &stream),
        (format!("kv-seal -q -o {o}/s.ndjson"), &stream),
        (format!("archive-pack -q -o {o}/a.zip"), &stream),
        (format!("archive-pack -q --recipients-file {p}/r.txt -o {o}/a.zip.age"), &stream),
        (format!("archive-unpack -q -o {o}/u.ndjson"), &zip),
    ];
    for sig in ["TERM", "INT", "KILL"] {
        for (tool, input) in &tools {
            let (code, err) = signal_mid_stream(tool, input, sig, &[]);
            let want = match sig {
                "TERM" => 143,
                "INT" => 130,
                _ => 137,
            };
            assert_eq!(code, want, "{tool} on SIG{sig}: {err}");
            if sig != "KILL" {
                assert!(err.contains("interrupted"), "{tool}: {err}");
                assert_eq!(files(&out), Vec::<String>::new(), "{tool} on SIG{sig} left files");
            } else {
                // Killed outright it cannot clean up, but nothing has the name of a result.
                for f in files(&out) {
                    assert!(f.starts_with('.') && f.contains(".tmp-"), "{tool} on SIGKILL left {f}");
                    std::fs::remove_file(out.join(f)).unwrap();
                }
            }
        }
    }
}

#[test]
fn a_signalled_dump_writes_no_trailer_and_a_signalled_upload_no_object() {
    let e = Etcd::start();
    seed(&e, 3000, 500);
    for sig in ["TERM", "KILL"] {
        let mut child = sh_cmd(&format!("exec etcd-dump -q --page-keys 100 {}", e.flags()))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = child.stdout.take().unwrap();
        let mut got = vec![0u8; 100_000];
        out.read_exact(&mut got).unwrap();
        signal(child.id(), sig);
        out.read_to_end(&mut got).unwrap();
        let (code, _, err) = wait(child);
        assert_eq!(code, if sig == "TERM" { 143 } else { 137 }, "{err}");
        assert!(!has_trailer(&got));
    }
    let s3 = S3::start();
    s3.bucket("bkt");
    let env = s3.env();
    let d = tmp();
    fixtures(d.path(), 20_000);
    let zip = std::fs::read(d.path().join("s.zip")).unwrap();
    assert!(zip.len() > 10 << 20, "the archive must span parts: {}", zip.len());
    for sig in ["TERM", "KILL"] {
        let tool = format!("s3-push -q --part-size 5MiB {} s3://bkt/prod/{sig}.zip", s3.flags());
        let (code, err) = signal_mid_stream(&tool, &zip, sig, &env);
        assert_eq!(code, if sig == "TERM" { 143 } else { 137 }, "{err}");
        let ls = sh_env(&format!("s3-ls {} s3://bkt/prod/", s3.flags()), &env);
        ls.ok();
        assert_eq!(ls.stdout_str(), "", "s3-ls lists a backup after SIG{sig}");
        assert!(!s3.root().join(format!("bkt/prod/{sig}.zip")).exists());
    }
}

// ---------------------------------------------------------------------------------------------
// A full disk

/// A 1 MiB tmpfs mounted for the test's lifetime.
struct SmallDisk {
    dir: reshifter_e2e::TempDir,
}

impl SmallDisk {
    fn mount() -> SmallDisk {
        let dir = tmp();
        let o = sh(&format!("mount -t tmpfs -o size=1m tmpfs {}", dir.path().display()));
        assert_eq!(o.code, 0, "mounting a small tmpfs needs root (CI runs as root): {}", o.stderr);
        SmallDisk { dir }
    }
    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = sh(&format!("umount {}", self.dir.path().display()));
    }
}

#[test]
fn a_full_disk_is_a_clear_error_and_renames_nothing() {
    let d = tmp();
    fixtures(d.path(), 3000);
    let p = d.path().display();
    let e = Etcd::start();
    seed(&e, 3000, 500);
    let s3 = S3::start();
    s3.bucket("bkt");
    sh_env(&format!("s3-push -q {} s3://bkt/s.zip < {p}/s.zip", s3.flags()), &s3.env()).ok();
    let disk = SmallDisk::mount();
    let f = disk.path().display();
    let tools = [
        format!("etcd-dump -q {} -o {f}/out", e.flags()),
        format!("kv-gen --objects 3000 -o {f}/out"),
        format!("kv-filter -q {p}/s.ndjson -o {f}/out"),
        format!("kv-seal -q {p}/s.ndjson -o {f}/out"),
        format!("archive-pack -q --level 0 {p}/s.ndjson -o {f}/out"),
        format!("archive-unpack -q {p}/s.zip -o {f}/out"),
        format!("s3-pull -q {} s3://bkt/s.zip -o {f}/out", s3.flags()),
    ];
    for t in &tools {
        let out = sh_env(t, &s3.env());
        assert_ne!(out.code, 0, "{t} succeeded on a full disk");
        assert!(out.stderr.contains("No space left on device"), "{t}: {}", out.stderr);
        assert_eq!(out.stderr.lines().count(), 1, "{t}: {}", out.stderr);
        assert_eq!(files(disk.path()), Vec::<String>::new(), "{t} left files");
    }
}

// ---------------------------------------------------------------------------------------------
// S3 dying mid-transfer

#[test]
fn an_s3_server_killed_mid_pull_leaves_no_file() {
    let mut s3 = S3::start();
    s3.bucket("bkt");
    let env = s3.env();
    sh_env(&format!("head -c 80000000 /dev/urandom | s3-push -q {} s3://bkt/big", s3.flags()), &env).ok();
    let d = tmp();
    let out = d.path().join("big");
    let mut child = sh_cmd(&format!("exec s3-pull -q {} s3://bkt/big -o {}", s3.flags(), out.display()))
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Stop the pull once its temporary file has data, kill the server, let the pull go on.
    let deadline = Instant::now() + Duration::from_secs(20);
    let caught = loop {
        let partial = files(d.path()).into_iter().find(|f| f.contains(".tmp-"));
        if let Some(f) = partial
            && std::fs::metadata(d.path().join(&f)).map(|m| m.len() > 0).unwrap_or(false)
        {
            signal(child.id(), "STOP");
            break true;
        }
        if Instant::now() > deadline || child.try_wait().unwrap().is_some() {
            break false;
        }
    };
    assert!(caught, "the pull finished before the server could be killed");
    s3.kill();
    signal(child.id(), "CONT");
    let (code, _, err) = wait(child);
    assert_eq!(code, 6, "{err}");
    assert!(err.starts_with("s3-pull: "), "{err}");
    assert!(!out.exists());
    assert_eq!(files(d.path()), Vec::<String>::new());
}

// ---------------------------------------------------------------------------------------------
// Hostile inputs: bounded time and memory, never a panic

/// Run `script` under GNU time; returns (exit code, seconds, max RSS in MiB, stderr).
fn measured(script: &str, env: &[(&str, &str)]) -> (i32, f64, f64, String) {
    let d = tmp();
    let t = d.path().join("time");
    let out = sh_env(&format!("/usr/bin/time -o {} -f '%e %M' bash -o pipefail -c '{script}'", t.display()), env);
    let figures = std::fs::read_to_string(&t).unwrap();
    let last = figures.lines().last().unwrap().to_string();
    let mut it = last.split(' ');
    let secs: f64 = it.next().unwrap().parse().unwrap();
    let kib: f64 = it.next().unwrap().parse().unwrap();
    (out.code, secs, kib / 1024.0, out.stderr)
}

#[test]
fn a_zip_bomb_header_is_refused_in_bounded_memory() {
    let d = tmp();
    let p = d.path().display();
    // A 1 MiB-ish archive whose header entry inflates to 1 GiB of zeros.
    sh(&format!(
        "python3 -c 'import zipfile,sys; z=zipfile.ZipFile(sys.argv[1],\"w\",zipfile.ZIP_DEFLATED); \
         w=z.open(\"reshifter/header.json\",\"w\",force_zip64=True); [w.write(bytes(1<<20)) for _ in range(1024)]; w.close(); z.close()' {p}/bomb.zip"
    ))
    .ok();
    let size = std::fs::metadata(d.path().join("bomb.zip")).unwrap().len();
    assert!(size < 2 << 20, "{size}");
    for flags in ["", "--verify", "--list"] {
        let (code, secs, mib, err) = measured(&format!("archive-unpack {flags} {p}/bomb.zip > /dev/null"), &[]);
        assert_eq!(code, 3, "{err}");
        assert!(err.contains("reshifter/header.json claims 1073741824 bytes, more than the 96 MiB allowed"), "{err}");
        assert!(mib < 64.0 && secs < 5.0, "{flags}: {mib} MiB, {secs} s");
    }
}

#[test]
fn a_huge_line_without_newline_is_refused_fast_in_bounded_memory() {
    let d = tmp();
    let p = d.path().display();
    sh(&format!("(kv-gen --objects 1 | head -1; head -c 268435456 /dev/zero | tr '\\0' a) > {p}/long")).ok();
    for tool in ["kv-stats", "kv-filter", "kv-seal", "archive-pack", "etcd-load --dry-run --endpoints 127.0.0.1:1"] {
        for how in ["<", ""] {
            let (code, secs, mib, err) = measured(&format!("{tool} {how} {p}/long > /dev/null"), &[]);
            assert_eq!(code, 3, "{tool} {how}: {err}");
            assert!(err.contains("longer than"), "{tool}: {err}");
            assert!(secs < 5.0 && mib < 400.0, "{tool} {how}: {secs} s, {mib} MiB");
        }
    }
}

#[test]
fn a_reshifter_backup_id_at_u64_max_does_not_panic() {
    let d = tmp();
    let p = d.path().display();
    sh(&format!(
        "python3 -c 'import zipfile,sys; z=zipfile.ZipFile(sys.argv[1],\"w\"); \
         z.writestr(\"18446744073709551615/registry/ns/a/content\",\"v\"); z.close()' {p}/id.zip"
    ))
    .ok();
    let out = sh(&format!("archive-unpack {p}/id.zip"));
    out.ok();
    let recs = records(&out.stdout);
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].key, b"/registry/ns/a");
    assert!(!out.stderr.contains("panicked"));
}
