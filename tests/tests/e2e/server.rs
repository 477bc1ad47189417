//! reshifter-server against real etcd servers and the S3 test server: every route with the
//! exact answers ReShifter's clients expect, auth, uploads, concurrency, the schedule with
//! pruning, restores dry and real, TLS — and the web UI in a real browser (Debian's chromium
//! and chromedriver), with screenshots of each page and no console errors.

use reshifter_http::answers;
use std::time::{Duration, Instant};

use reshifter_e2e::server::{Driver, Server, Start, TOKEN, shots_dir};
use reshifter_e2e::{Etcd, S3, free_port, sh, sh_env, tmp};

fn seeded() -> Etcd {
    let e = Etcd::start();
    sh(&format!("kv-gen --objects 300 | etcd-load -q --endpoints {}", e.endpoint)).ok();
    e
}

/// Keys and values of an etcd, leases aside (a restore grants new ones).
fn keyspace(e: &Etcd) -> Vec<(Vec<u8>, Vec<u8>)> {
    e.get_all().into_iter().map(|(k, v, _)| (k, v)).collect()
}

#[test]
fn reshifters_routes_answer_as_they_did() {
    let src = seeded();
    let s = Server::start(&src.endpoint, "--allow-endpoint http://127.0.0.1:1");
    assert_eq!(
        s.call("GET", "/v1/version", None, true),
        (200, format!("reshifter in version {}", env!("CARGO_PKG_VERSION")))
    );
    let x = s.json("GET", &format!("/v1/explorer?endpoint={}", src.endpoint), None);
    let keys: Vec<&String> = x.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["apiversion", "etcdsec", "etcdversion", "k8sdistro"]);
    assert_eq!(
        (x["apiversion"].as_str(), x["etcdsec"].as_str()),
        (Some("v3"), Some("insecure etcd, no SSL/TLS configured"))
    );
    let st = s.json("GET", "/v1/epstats", None);
    assert_eq!(st["numkeys"], 300, "{st}");
    assert!(st["totalsizevalbytes"].as_u64().unwrap() > 100_000);

    // Every route but the UI's files and /healthz needs the token.
    let (code, text) = s.call("POST", "/v1/backup", Some("{}"), false);
    assert_eq!((code, text.as_str()), (401, "this route needs Authorization: Bearer <token>\n"));
    let b: answers::BackupMade =
        s.answer("POST", "/v1/backup", Some(&format!("{{\"endpoint\":\"{}\"}}", src.endpoint)));
    assert_eq!(b.outcome, "success");
    let id = b.backupid;
    assert!(id.len() == 10 && s.store.join(format!("{id}.zip")).exists());
    let all: answers::BackupIds = s.answer("GET", "/v1/backup/all", None);
    assert_eq!(all, answers::BackupIds { numbackups: 1, backupids: vec![id.clone()] });
    // The ZIP, byte for byte, and it unpacks to the cluster's keys.
    let d = tmp();
    let p = d.path().display();
    sh(&format!("curl -sf -H 'Authorization: Bearer {TOKEN}' -o {p}/b.zip {}/v1/backup/{id}", s.url())).ok();
    assert_eq!(
        std::fs::read(d.path().join("b.zip")).unwrap(),
        std::fs::read(s.store.join(format!("{id}.zip"))).unwrap()
    );
    let n = sh(&format!("archive-unpack -q {p}/b.zip | jq -c 'select(.type | not)' | wc -l"));
    assert_eq!(n.ok().stdout_str().trim(), "300");
    // ReShifter's strategy list filters.
    let f = s.json("POST", "/v1/backup", Some("{\"filter\":\"deployments,services\"}"));
    let fid = f["backupid"].as_str().unwrap();
    let keys = sh(&format!(
        "archive-unpack -q {}/{fid}.zip | jq -r 'select(.type | not) | .key' | cut -d/ -f3 | sort -u",
        s.store.display()
    ));
    assert_eq!(keys.ok().stdout_str(), "deployments\nservices\n");
    // Failure: 409 and the error's text.
    let (code, text) = s.call("POST", "/v1/backup", Some("{\"endpoint\":\"http://127.0.0.1:1\"}"), true);
    assert_eq!(code, 409, "{text}");
    assert!(text.contains("at http://127.0.0.1:1: ") && text.contains("is etcd running there"), "{text}");
    assert_eq!(s.call("GET", "/v1/backup/12", None, true).0, 404);
    assert_eq!(s.call("GET", "/v1/backup/..%2Fx", None, true).0, 400);
    // Metrics and jobs.
    let (_, m) = s.call("GET", "/metrics", None, true);
    for line in [
        "reshifter_api_backup_total{outcome=\"success\"} 2",
        "reshifter_api_backup_total{outcome=\"fail\"} 1",
        "reshifter_backup_last_keys ",
    ] {
        assert!(m.contains(line), "{line} in\n{m}");
    }
    let jobs: answers::Jobs = s.answer("GET", "/v1/jobs", None);
    let states: Vec<&str> = jobs.jobs.iter().map(|j| j.state.as_str()).collect();
    assert_eq!(states, ["failed", "succeeded", "succeeded"]);
    let first: reshifter_http::jobs::Job = s.answer("GET", "/v1/jobs/1", None);
    let made: answers::BackupResult = serde_json::from_value(first.result.unwrap()).unwrap();
    assert_eq!((made.backupid, made.keys, made.v2_left_out.len()), (id.clone(), 300, 0));
    // Nothing secret or valued in the log.
    assert!(!s.log().contains(TOKEN));
}

#[test]
fn a_restore_dry_then_real_is_exact() {
    let src = seeded();
    let dst = Etcd::start();
    let s = Server::start(&src.endpoint, &format!("--allow-endpoint {}", dst.endpoint));
    let id = s.json("POST", "/v1/backup", Some("{}"))["backupid"].as_str().unwrap().to_string();
    let req = |dry: bool| format!("{{\"endpoint\":\"{}\",\"backupid\":\"{id}\",\"dry_run\":{dry}}}", dst.endpoint);
    let dry: answers::Restored = s.answer("POST", "/v1/restore", Some(&req(true)));
    assert_eq!(dry.dry_run, Some(true));
    assert_eq!(dry.would, Some(answers::Would { create: 300, update: 0, delete: 0, unchanged: 0 }));
    let summary = dry.summary.unwrap();
    assert_eq!(summary.iter().map(|r| r.create).sum::<u64>(), 300);
    let pods = summary.iter().find(|r| r.resource == "pods").unwrap();
    assert!(pods.create > 10, "{pods:?}");
    assert!(dst.get_all().is_empty(), "a dry run writes nothing");
    let real = s.json("POST", "/v1/restore", Some(&req(false)));
    assert_eq!((real["outcome"].as_str(), real["keysrestored"].as_u64()), (Some("success"), Some(300)));
    assert!(real["elapsedtimeinsec"].as_f64().unwrap() > 0.0);
    assert_eq!(keyspace(&dst), keyspace(&src));
    // sync deletes what the backup lacks; the dry run says so first, per resource.
    dst.put_all(&[(b"/registry/pods/default/stray".to_vec(), b"x".to_vec())]);
    let body =
        format!("{{\"endpoint\":\"{}\",\"backupid\":\"{id}\",\"dry_run\":true,\"mode\":\"sync\"}}", dst.endpoint);
    let dry = s.json("POST", "/v1/restore", Some(&body));
    let pods = dry["summary"].as_array().unwrap().iter().find(|r| r["resource"] == "pods").unwrap().clone();
    assert_eq!(pods["delete"], 1, "{pods}");
    assert_eq!(s.call("POST", "/v1/restore", Some("{\"backupid\":\"1\",\"mode\":\"wipe\"}"), true).0, 400);
    let (_, m) = s.call("GET", "/metrics", None, true);
    assert!(m.contains("reshifter_api_keys_restored 300"), "{m}");
}

#[test]
fn uploads_are_verified_and_read_only_refuses_writes() {
    let src = seeded();
    let dst = Etcd::start();
    let s = Server::start(&src.endpoint, &format!("--allow-endpoint {}", dst.endpoint));
    let d = tmp();
    let p = d.path().display();
    sh(&format!("etcd-dump -q --endpoints {} | archive-pack -q -o {p}/good.zip", src.endpoint)).ok();
    let up = |file: &str, name: &str| {
        sh(&format!(
            "curl -s -w ' %{{http_code}}' -H 'Authorization: Bearer {TOKEN}' -F 'backupfile=@{p}/{file};filename={name}' {}/v1/restore/upload",
            s.url()
        ))
        .stdout_str()
    };
    assert_eq!(up("good.zip", "1500000000.zip"), "{\"received\":\"1500000000\"} 200");
    assert!(s.store.join("1500000000.zip").exists());
    // A cut archive is refused and never kept; a bad name is refused.
    let bytes = std::fs::read(d.path().join("good.zip")).unwrap();
    std::fs::write(d.path().join("cut.zip"), &bytes[..bytes.len() / 2]).unwrap();
    let cut = up("cut.zip", "1500000001.zip");
    assert!(cut.ends_with(" 422") && cut.starts_with("the uploaded backup is not a whole archive: "), "{cut}");
    assert!(!s.store.join("1500000001.zip").exists());
    assert_eq!(
        std::fs::read_dir(&s.store)
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with('.'))
            .count(),
        0
    );
    assert!(up("good.zip", "latest.zip").ends_with(" 400"));
    assert!(up("good.zip", "1500000000.zip").ends_with(" 409"), "an existing backup is not replaced");
    // The uploaded backup restores.
    let r = s.json(
        "POST",
        "/v1/restore",
        Some(&format!("{{\"endpoint\":\"{}\",\"backupid\":\"1500000000\"}}", dst.endpoint)),
    );
    assert_eq!(r["keysrestored"], 300);
    drop(s);
    let ro = Server::start(&src.endpoint, "--read-only");
    assert_eq!(ro.call("POST", "/v1/restore", Some("{\"backupid\":\"1500000000\"}"), true).0, 403);
    assert_eq!(ro.call("POST", "/v1/backup", Some("{}"), true).0, 200, "backups still run");
}

#[test]
fn a_second_backup_while_one_runs_is_answered_409_at_once() {
    // A backup of an "etcd" that accepts and never answers holds the lock for a while.
    let src = seeded();
    let stall = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let stall_url = format!("http://{}", stall.local_addr().unwrap());
    let s = Server::start(&src.endpoint, &format!("--allow-endpoint {stall_url}"));
    let url = s.url();
    let body = format!("{{\"endpoint\":\"{stall_url}\"}}");
    let slow = std::thread::spawn(move || {
        sh(&format!("curl -s -w ' %{{http_code}}' -H 'Authorization: Bearer {TOKEN}' --data '{body}' {url}/v1/backup"))
            .stdout_str()
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while !s.json("GET", "/v1/jobs", None)["jobs"].as_array().unwrap().iter().any(|j| j["state"] == "running") {
        assert!(Instant::now() < deadline, "the first backup did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let started = Instant::now();
    let (code, text) = s.call("POST", "/v1/backup", Some("{}"), true);
    assert_eq!(
        (code, text.as_str()),
        (409, "a backup is running: try again when it has ended (GET /v1/jobs)\n"),
        "{}",
        s.log()
    );
    assert!(started.elapsed() < Duration::from_secs(2), "answered at once, not queued");
    let first = slow.join().unwrap();
    assert!(first.ends_with(" 409") && first.contains(&format!("at {stall_url}")), "{first}");
    // Once it has ended, backups run again, each with its own id.
    let a = s.json("POST", "/v1/backup", Some("{}"))["backupid"].as_str().unwrap().to_string();
    let b = s.json("POST", "/v1/backup", Some("{}"))["backupid"].as_str().unwrap().to_string();
    assert_ne!(a, b);
    assert_eq!(s.json("GET", "/v1/backup/all", None)["numbackups"], 2);
    drop(stall);
}

#[test]
fn encrypted_backups_restore_with_the_identity_and_only_with_it() {
    let src = seeded();
    let dst = Etcd::start();
    let keys = tmp();
    let k = keys.path().display();
    sh(&format!("age-keygen -o {k}/key.txt 2>/dev/null && age-keygen -y {k}/key.txt > {k}/pub.txt")).ok();
    let (dst2, dst3, s3) = (Etcd::start(), Etcd::start(), S3::start());
    let remote = format!("http://127.0.0.1:{}", s3.port);
    let allow = format!(
        "--allow-endpoint {} --allow-endpoint {} --allow-endpoint {} --allow-remote {remote}",
        dst.endpoint, dst2.endpoint, dst3.endpoint
    );
    let s = Server::start(&src.endpoint, &format!("--recipients-file {k}/pub.txt --identity-file {k}/key.txt {allow}"));
    let id = s.json("POST", "/v1/backup", Some("{}"))["backupid"].as_str().unwrap().to_string();
    let stored = std::fs::read(s.store.join(format!("{id}.zip"))).unwrap();
    assert!(stored.starts_with(b"age-encryption.org/v1\n"), "the stored backup is an age file");
    assert_eq!(s.json("GET", &format!("/v1/backup/{id}/verify"), None)["verified"], true);
    let body = format!("{{\"endpoint\":\"{}\",\"backupid\":\"{id}\"}}", dst.endpoint);
    assert_eq!(s.json("POST", "/v1/restore", Some(&body))["keysrestored"], 300);
    assert_eq!(keyspace(&dst), keyspace(&src));
    // To S3 too: the object is the age file, pulled and opened for the restore.
    let b = s.json("POST", "/v1/backup", Some(&format!("{{\"remote\":\"{remote}\",\"bucket\":\"enc\"}}")));
    let id3 = b["backupid"].as_str().unwrap().to_string();
    let object = std::fs::read(s3.root().join("enc").join(format!("{id3}.zip"))).unwrap();
    assert!(object.starts_with(b"age-encryption.org/v1\n"));
    std::fs::remove_file(s.store.join(format!("{id3}.zip"))).unwrap();
    let body = format!(
        "{{\"endpoint\":\"{}\",\"backupid\":\"{id3}\",\"remote\":\"{remote}\",\"bucket\":\"enc\"}}",
        dst3.endpoint
    );
    assert_eq!(s.json("POST", "/v1/restore", Some(&body))["keysrestored"], 300);
    assert_eq!(keyspace(&dst3), keyspace(&src));
    // The same store served without the identity: nothing restored, and the answer says why.
    let store = s.store.clone();
    let s2 = Server::start_in(&src.endpoint, Some(store), &allow);
    let body = format!("{{\"endpoint\":\"{}\",\"backupid\":\"{id}\"}}", dst2.endpoint);
    let (status, text) = s2.call("POST", "/v1/restore", Some(&body), true);
    assert_eq!(status, 400, "{text}");
    assert!(
        text.contains(
            "the archive is encrypted to age recipients: pass --identity-file FILE or set RESHIFTER_IDENTITY_FILE"
        ),
        "{text}"
    );
    assert!(dst2.get_all().is_empty());
    assert_eq!(s2.json("GET", &format!("/v1/backup/{id}/verify"), None)["verified"], false);
    // Keys that cannot encrypt are refused at start, with exit 2, not at the first backup.
    let o = sh_env(
        &format!("reshifter-server --insecure-no-auth --listen 127.0.0.1:{} --encrypt", free_port()),
        &[("RESHIFTER_PASSPHRASE", "")],
    );
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("RESHIFTER_PASSPHRASE"), "{}", o.stderr);
}

#[test]
fn the_schedule_backs_up_prunes_and_a_failure_leaves_nothing() {
    let mut src = seeded();
    let s = Server::start(&src.endpoint, "--schedule '*/1 * * * * *' --keep-last 2");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, m) = s.call("GET", "/metrics", None, true);
        if m.contains("reshifter_api_backup_total{outcome=\"success\"} 4") || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let ids = s.json("GET", "/v1/backup/all", None);
    let n = ids["numbackups"].as_u64().unwrap();
    assert!((1..=3).contains(&n), "keep-last 2 (a third may be being written): {ids}");
    let (_, m) = s.call("GET", "/metrics", None, true);
    assert!(m.contains("reshifter_schedule_runs_total "), "{m}");
    // etcd goes away: scheduled backups fail, are counted, and leave no archive.
    src.kill();
    let before = s.json("GET", "/v1/backup/all", None)["backupids"].clone();
    std::thread::sleep(Duration::from_secs(4));
    let (_, m) = s.call("GET", "/metrics", None, true);
    assert!(!m.contains("reshifter_api_backup_total{outcome=\"fail\"} 0"), "{m}");
    assert_eq!(s.json("GET", "/v1/backup/all", None)["backupids"], before);
    let stray: Vec<String> = std::fs::read_dir(&s.store)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(stray.is_empty(), "{stray:?}");
}

#[test]
fn backups_to_s3_tls_and_auth_rules() {
    let src = seeded();
    let s3 = S3::start();
    let dst = Etcd::start();
    let remote = format!("http://127.0.0.1:{}", s3.port);
    let s = Server::start(&src.endpoint, &format!("--allow-remote {remote} --allow-endpoint {}", dst.endpoint));
    let b = s.json("POST", "/v1/backup", Some(&format!("{{\"remote\":\"{remote}\",\"bucket\":\"rsbackups\"}}")));
    let id = b["backupid"].as_str().unwrap().to_string();
    assert!(s3.root().join("rsbackups").join(format!("{id}.zip")).exists());
    let all = s.json("GET", &format!("/v1/backup/all?remote={remote}&bucket=rsbackups"), None);
    assert_eq!(all, serde_json::json!({"numbackups": 1, "backupids": [id]}));
    // Restore from the remote into a fresh etcd, the local copy removed first.
    std::fs::remove_file(s.store.join(format!("{id}.zip"))).unwrap();
    let body = format!(
        "{{\"endpoint\":\"{}\",\"backupid\":\"{id}\",\"remote\":\"{remote}\",\"bucket\":\"rsbackups\"}}",
        dst.endpoint
    );
    assert_eq!(s.json("POST", "/v1/restore", Some(&body))["keysrestored"], 300);
    assert_eq!(keyspace(&dst), keyspace(&src));
    drop(s);

    // TLS with rustls.
    let d = tmp();
    let t = reshifter_e2e::make_certs(d.path());
    let flags = format!("--tls-cert {}/server.crt --tls-key {}/server.key", d.path().display(), d.path().display());
    let tls = Server::start(&src.endpoint, &flags);
    let v = sh(&format!(
        "curl -sf --cacert {} -H 'Authorization: Bearer {TOKEN}' https://127.0.0.1:{}/v1/version",
        t.ca.display(),
        tls.port
    ));
    assert_eq!(v.ok().stdout_str(), format!("reshifter in version {}", env!("CARGO_PKG_VERSION")));

    // No token: refused at start, unless --insecure-no-auth on loopback; never on other addresses.
    let o = sh("reshifter-server --listen 127.0.0.1:1 --store /tmp/none");
    assert_eq!(o.code, 2);
    assert!(o.stderr.starts_with("reshifter-server: the server needs a bearer token"), "{}", o.stderr);
    let o = sh("reshifter-server --listen 0.0.0.0:1 --insecure-no-auth --store /tmp/none");
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (2, "reshifter-server: --insecure-no-auth is only for a loopback address, not 0.0.0.0: give a token\n")
    );
    let o = sh_env("reshifter-server --listen 127.0.0.1:1 --store /tmp/none", &[("RESHIFTER_TOKEN", "short")]);
    assert_eq!(o.code, 2);
    let open = Server::launch(Start {
        etcd: &src.endpoint,
        extra: "--insecure-no-auth",
        no_token: true,
        ..Default::default()
    });
    assert_eq!(open.call("POST", "/v1/backup", Some("{}"), false).0, 200);
}

#[test]
fn the_ui_in_a_real_browser() {
    use fantoccini::Locator;
    let src = seeded();
    let dst = Etcd::start();
    let s = Server::start(&src.endpoint, &format!("--allow-endpoint {}", dst.endpoint));
    let driver = Driver::start();
    let profile = tmp();
    let url = s.url();
    let dst_endpoint = dst.endpoint.clone();
    let shots = shots_dir();
    reshifter_e2e::rt().block_on(async move {
        let c = driver.session(profile.path(), &[]).await;
        let shot = |name: &'static str| {
            let c = c.clone();
            let path = shots.join(format!("{name}.png"));
            async move {
                let png = c.screenshot().await.expect("screenshot");
                assert!(png.len() > 1000);
                std::fs::write(path, png).unwrap();
            }
        };
        let status_is = |want: &'static str| {
            let c = c.clone();
            async move {
                let deadline = Instant::now() + Duration::from_secs(30);
                loop {
                    let text = c.find(Locator::Id("status")).await.unwrap().text().await.unwrap();
                    if text.contains(want) {
                        return text;
                    }
                    assert!(Instant::now() < deadline, "status {text:?}, waited for {want:?}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        };
        c.goto(&url).await.unwrap();
        // Nothing but a request for the token until it is given.
        status_is("this server needs its token: enter it above").await;
        assert_eq!(c.find_all(Locator::Css("#backups tbody tr")).await.unwrap().len(), 0);
        c.find(Locator::Id("token")).await.unwrap().send_keys(TOKEN).await.unwrap();
        // The token field's change event fires when it loses focus.
        c.find(Locator::Id("status")).await.unwrap().click().await.unwrap();
        status_is("0 backups").await;
        shot("1-backups-empty").await;
        c.find(Locator::Css("nav button[data-page=backup]")).await.unwrap().click().await.unwrap();
        c.find(Locator::Css("#backup-form button[type=submit]")).await.unwrap().click().await.unwrap();
        status_is("made").await;
        shot("2-backup-made").await;
        c.find(Locator::Css("nav button[data-page=backups]")).await.unwrap().click().await.unwrap();
        status_is("1 backups").await;
        let rows = c.find_all(Locator::Css("#backups tbody tr")).await.unwrap();
        assert_eq!(rows.len(), 1);
        let row = rows[0].text().await.unwrap();
        assert!(row.contains("300") && row.contains("yes"), "{row}");
        let jobs = c.find(Locator::Id("jobs")).await.unwrap().text().await.unwrap();
        assert!(jobs.contains("backup") && jobs.contains("succeeded"), "{jobs}");
        shot("3-backups-listed").await;
        c.find(Locator::Css("nav button[data-page=keyspace]")).await.unwrap().click().await.unwrap();
        c.find(Locator::Css("#keyspace-form button[type=submit]")).await.unwrap().click().await.unwrap();
        status_is("300 keys").await;
        let bars = c.find_all(Locator::Css("#chart rect")).await.unwrap();
        assert!(bars.len() >= 5, "{} bars", bars.len());
        shot("4-keyspace").await;
        c.find(Locator::Css("nav button[data-page=restore]")).await.unwrap().click().await.unwrap();
        let ep = c.find(Locator::Css("#restore-form input[name=endpoint]")).await.unwrap();
        ep.clear().await.unwrap();
        ep.send_keys(&dst_endpoint).await.unwrap();
        c.find(Locator::Css("#restore-form button[type=submit]")).await.unwrap().click().await.unwrap();
        status_is("would create 300").await;
        let plan = c.find_all(Locator::Css("#plan tbody tr")).await.unwrap();
        assert!(plan.len() >= 5, "{} resources", plan.len());
        shot("5-restore-dry-run").await;
        c.find(Locator::Css("nav button[data-page=explorer]")).await.unwrap().click().await.unwrap();
        c.find(Locator::Css("#explore-form button[type=submit]")).await.unwrap().click().await.unwrap();
        status_is("explored").await;
        let dl = c.find(Locator::Id("explore")).await.unwrap().text().await.unwrap();
        assert!(dl.contains("3.4.") && dl.contains("Kubernetes keys"), "{dl}");
        let members = c.find_all(Locator::Css("#members tbody tr")).await.unwrap();
        assert_eq!(members.len(), 1);
        assert!(members[0].text().await.unwrap().contains("yes"), "the one member leads");
        shot("6-explorer").await;
        let errors = c.execute("return window.__errors", vec![]).await.unwrap();
        assert_eq!(errors, serde_json::json!([]), "the pages logged errors");
        c.close().await.unwrap();
    });
    assert!(dst.get_all().is_empty(), "the dry run wrote nothing");
    for n in ["1-backups-empty", "2-backup-made", "3-backups-listed", "4-keyspace", "5-restore-dry-run", "6-explorer"] {
        assert!(shots_dir().join(format!("{n}.png")).exists());
    }
}

/// A server in front of an API server started with `--etcd-prefix /tenant-a`: its explorer,
/// endpoint statistics and backups read the keys under that prefix.
#[test]
fn an_etcd_prefix_is_the_servers_own_configuration() {
    let e = Etcd::start();
    sh(&format!(
        "kv-gen --objects 300 | kv-filter -q --rewrite-prefix /registry/=/tenant-a/ | etcd-load -q {}",
        e.flags()
    ))
    .ok();
    let s = Server::start(&e.endpoint, "--etcd-prefix /tenant-a");
    let x = s.json("GET", "/v1/explorer", None);
    assert_eq!(x["k8sdistro"], "Kubernetes (--etcd-prefix /tenant-a)", "{x}");
    let st = s.json("GET", "/v1/epstats", None);
    assert_eq!(st["numkeys"], 300, "{st}");
}
