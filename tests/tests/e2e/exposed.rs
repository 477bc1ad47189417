//! reshifter-server exposed to a hostile client, and the toolkit in a shared machine: every
//! item of the audit (issue 22's security list, issue 26's clients) against the real server,
//! real etcd and S3, and Debian's chromium for what only a browser does (cross-site requests,
//! DNS rebinding). Each of these failed before its fix.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reshifter_e2e::server::{Driver, Server, Start, TOKEN};
use reshifter_e2e::{Etcd, S3, free_port, sh, sh_env, tmp};

fn seeded() -> Etcd {
    let e = Etcd::start();
    sh(&format!("kv-gen --objects 100 | etcd-load -q --endpoints {}", e.endpoint)).ok();
    e
}

/// A listener of our own on 127.0.0.1 that counts the connections made to it and keeps what
/// they sent: the place a request must not be able to make the server connect to.
struct Trap {
    url: String,
    hits: Arc<AtomicUsize>,
    seen: Arc<std::sync::Mutex<Vec<u8>>>,
}

impl Trap {
    fn start() -> Trap {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        let hits = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (h, s) = (hits.clone(), seen.clone());
        std::thread::spawn(move || {
            for c in l.incoming() {
                let Ok(mut c) = c else { return };
                h.fetch_add(1, Ordering::SeqCst);
                let s = s.clone();
                std::thread::spawn(move || {
                    c.set_read_timeout(Some(Duration::from_secs(3))).ok();
                    let mut buf = [0u8; 4096];
                    while let Ok(n) = c.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        s.lock().unwrap().extend_from_slice(&buf[..n]);
                    }
                });
            }
        });
        Trap { url, hits, seen }
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

#[test]
fn every_route_that_reads_needs_the_token() {
    let src = seeded();
    let s3 = S3::start();
    let remote = s3.endpoint.clone();
    let s = Server::start(&src.endpoint, &format!("--allow-remote {remote}"));
    let id = s.json("POST", "/v1/backup", Some("{}"))["backupid"].as_str().unwrap().to_string();
    let reads = [
        "/v1/version".to_string(),
        format!("/v1/backup/{id}"),
        format!("/v1/backup/{id}/verify"),
        "/v1/keyspace".into(),
        "/v1/explorer".into(),
        "/v1/epstats".into(),
        "/v1/members".into(),
        "/v1/backups".into(),
        format!("/v1/backups?remote={remote}&bucket=b"),
        "/v1/backup/all".into(),
        "/v1/jobs".into(),
        "/v1/jobs/1".into(),
        "/v1/config".into(),
        "/metrics".into(),
    ];
    for route in &reads {
        let (code, body) = s.call("GET", route, None, false);
        assert_eq!(
            (code, body.as_str()),
            (401, "this route needs Authorization: Bearer <token>\n"),
            "GET {route} without the token"
        );
        let (code, _) = s.curl("GET", route, "-H 'Authorization: Bearer wrong-token-0123456789'");
        assert_eq!(code, 401, "GET {route} with a wrong token");
    }
    // The scheme in any case.
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let (code, body) = s.curl("GET", "/v1/backup/all", &format!("-H 'Authorization: {scheme} {TOKEN}'"));
        assert_eq!(code, 200, "{scheme}: {body}");
    }
    for public in ["/healthz", "/", "/ui/app.js", "/ui/style.css"] {
        assert_eq!(s.call("GET", public, None, false).0, 200, "{public}");
    }
    // A download link: once, without the token, for that backup only.
    let link = s.json("POST", &format!("/v1/backup/{id}/link"), None)["url"].as_str().unwrap().to_string();
    assert!(link.starts_with(&format!("/v1/backup/{id}?ticket=")), "{link}");
    let d = tmp();
    let o = sh(&format!("curl -s -w '%{{http_code}}' -o {}/b.zip '{}{link}'", d.path().display(), s.url()));
    assert_eq!(o.stdout_str(), "200");
    assert_eq!(
        std::fs::read(d.path().join("b.zip")).unwrap(),
        std::fs::read(s.store.join(format!("{id}.zip"))).unwrap()
    );
    assert_eq!(s.call("GET", &link, None, false).0, 401, "a ticket is good once");
    let other =
        s.json("POST", &format!("/v1/backup/{id}/link"), None)["url"].as_str().unwrap().replace(&id, "1500000000");
    assert_eq!(s.call("GET", &other, None, false).0, 401, "a ticket opens its own backup only");
    assert!(!s.log().contains(TOKEN));
    drop(s);
    // /metrics for a Prometheus without the token, when asked.
    let m = Server::start(&src.endpoint, "--public-metrics");
    let (code, text) = m.call("GET", "/metrics", None, false);
    assert!(code == 200 && text.contains("reshifter_api_backup_total"), "{code} {text}");
    assert_eq!(m.call("GET", "/v1/jobs", None, false).0, 401);
}

#[test]
fn requests_cannot_choose_where_the_server_connects() {
    let src = Etcd::start_auth();
    let trap = Trap::start();
    let s3 = S3::start();
    let env = src.auth_env();
    let s = Server::launch(Start { etcd: &src.endpoint, env, ..Default::default() });
    let tried: Vec<(&str, String, Option<String>)> = vec![
        ("GET", format!("/v1/explorer?endpoint={}", trap.url), None),
        ("GET", format!("/v1/members?endpoint={}", trap.url), None),
        ("GET", format!("/v1/epstats?endpoint={}", trap.url), None),
        ("GET", format!("/v1/keyspace?endpoint={}", trap.url), None),
        ("GET", format!("/v1/backups?remote={}&bucket=b", trap.url), None),
        ("GET", format!("/v1/backup/all?remote={}&bucket=b", trap.url), None),
        ("GET", format!("/v1/backups?remote={}&bucket=b", s3.endpoint), None),
        ("POST", "/v1/backup".into(), Some(format!("{{\"endpoint\":\"{}\"}}", trap.url))),
        ("POST", "/v1/backup".into(), Some(format!("{{\"remote\":\"{}\",\"bucket\":\"b\"}}", trap.url))),
        ("POST", "/v1/restore".into(), Some(format!("{{\"endpoint\":\"{}\",\"backupid\":\"1500000000\"}}", trap.url))),
        (
            "POST",
            "/v1/restore".into(),
            Some(format!("{{\"remote\":\"{}\",\"bucket\":\"b\",\"backupid\":\"1500000000\"}}", trap.url)),
        ),
        // A list that starts with a configured endpoint does not smuggle in another.
        ("POST", "/v1/backup".into(), Some(format!("{{\"endpoint\":\"{},{}\"}}", src.endpoint, trap.url))),
    ];
    for (method, route, body) in &tried {
        let (code, text) = s.call(method, route, body.as_deref(), true);
        assert_eq!(code, 403, "{method} {route} {body:?}: {text}");
        assert!(
            text.contains("is not one this server is configured for")
                && (text.contains("--allow-endpoint") || text.contains("--allow-remote")),
            "{text}"
        );
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(trap.hits(), 0, "the server connected to the trap");
    assert!(std::fs::read_dir(s3.root()).unwrap().next().is_none(), "nothing written to an S3 not configured");
    // The server's own etcd still works, with its credentials, by name or by default.
    assert_eq!(s.json("GET", &format!("/v1/explorer?endpoint={}", src.endpoint), None)["apiversion"], "v3");
    drop(s);
    // Configured, the same endpoint is reached (so the trap would have seen a connection).
    let allowed = Server::launch(Start {
        etcd: &src.endpoint,
        extra: &format!("--allow-endpoint {}", trap.url),
        env: src.auth_env(),
        ..Default::default()
    });
    let _ = allowed.call("GET", &format!("/v1/explorer?endpoint={}", trap.url), None, true);
    assert!(trap.hits() > 0, "an allowed endpoint is connected to");
    assert!(!trap.seen.lock().unwrap().is_empty(), "and spoken to");
}

#[test]
fn rebound_hosts_and_cross_site_requests_are_refused_and_reshifters_clients_served() {
    let src = seeded();
    let dst = Etcd::start();
    let s = Server::launch(Start {
        etcd: &src.endpoint,
        extra: &format!("--insecure-no-auth --allow-endpoint {}", dst.endpoint),
        no_token: true,
        ..Default::default()
    });
    // ReShifter's CronJob: curl -d, which sends application/x-www-form-urlencoded.
    let (code, text) = s.curl("POST", "/v1/backup", &format!("-d '{{\"endpoint\":\"{}\"}}'", src.endpoint));
    assert_eq!(code, 200, "{text}");
    let id = serde_json::from_str::<serde_json::Value>(&text).unwrap()["backupid"].as_str().unwrap().to_string();
    // ReShifter's UI (jQuery's default content type), and text/plain, and no content type at all.
    for ct in ["application/x-www-form-urlencoded; charset=UTF-8", "text/plain", ""] {
        let body = format!("{{\"endpoint\":\"{}\",\"backupid\":\"{id}\",\"dry_run\":true}}", dst.endpoint);
        let flags = if ct.is_empty() {
            format!("--data-binary '{body}' -H 'Content-Type:'")
        } else {
            format!("--data-binary '{body}' -H 'Content-Type: {ct}'")
        };
        let (code, text) = s.curl("POST", "/v1/restore", &flags);
        assert_eq!(code, 200, "{ct}: {text}");
        assert_eq!(serde_json::from_str::<serde_json::Value>(&text).unwrap()["would"]["create"], 100, "{ct}");
    }
    let (code, text) = s.curl("POST", "/v1/backup", "-d 'not json'");
    assert_eq!(code, 400, "{text}");
    assert!(text.starts_with("the request body is not the JSON object expected: "), "{text}");
    let before = s.stored();
    // Cross-site: a foreign Origin, or the browser's word, on every route past the UI's files.
    let refused = [
        ("POST", "/v1/backup", "-d '{}' -H 'Origin: http://elsewhere'"),
        ("POST", "/v1/backup", "-d '{}' -H 'Origin: null'"),
        ("POST", "/v1/backup", "-d '{}' -H 'Sec-Fetch-Site: cross-site'"),
        ("POST", "/v1/backup", "-d '{}' -H 'Sec-Fetch-Site: same-site'"),
        ("POST", "/v1/backup", "-d '{}' -H 'Origin: https://127.0.0.1'"),
        ("GET", "/v1/backup/all", "-H 'Origin: http://elsewhere'"),
        ("GET", "/v1/keyspace", "-H 'Sec-Fetch-Site: cross-site'"),
    ];
    for (m, route, flags) in refused {
        let (code, text) = s.curl(m, route, flags);
        assert_eq!(code, 403, "{m} {route} {flags}: {text}");
        assert!(text.starts_with("cross-site request refused ("), "{text}");
    }
    let up = format!(
        "-F 'backupfile=@{}/{id}.zip;filename=1500000000.zip' -H 'Origin: http://elsewhere'",
        s.store.display()
    );
    assert_eq!(s.curl("POST", "/v1/restore/upload", &up).0, 403);
    // Its own origin is served.
    let own = format!("-d '{{}}' -H 'Origin: {}' -H 'Sec-Fetch-Site: same-origin'", s.url());
    assert_eq!(s.curl("POST", "/v1/backup", &own).0, 200);
    let after_own = s.stored();
    assert_eq!(after_own.len(), before.len() + 2, "the backup and its record");
    // DNS rebinding: a name that is not the server's, whatever else the request says.
    for (m, route, flags) in [
        ("POST", "/v1/backup", "-d '{}'"),
        ("GET", "/v1/backup/all", ""),
        ("GET", "/", ""),
        ("POST", "/v1/restore", "-d '{\"backupid\":\"1\",\"dry_run\":true,\"mode\":\"sync\"}'"),
    ] {
        let flags = format!("{flags} -H 'Host: rebind.attacker.example' -H 'Origin: http://rebind.attacker.example'");
        let (code, text) = s.curl(m, route, &flags);
        assert_eq!(code, 421, "{m} {route}: {text}");
        assert!(text.starts_with("Host rebind.attacker.example is not a name of this server"), "{text}");
    }
    let (code, _) = s.curl("GET", &format!("/v1/backup/{id}"), "-H 'Host: rebind.attacker.example:80'");
    assert_eq!(code, 421, "no download through a rebound name");
    assert_eq!(s.stored(), after_own, "nothing written by a refused request");
    // A name given with --server-name is the server's.
    let named = Server::launch(Start {
        etcd: &src.endpoint,
        extra: "--insecure-no-auth --server-name backups.example",
        no_token: true,
        ..Default::default()
    });
    assert_eq!(named.curl("GET", "/v1/backup/all", "-H 'Host: backups.example:8080'").0, 200);
    assert_eq!(named.curl("GET", "/v1/backup/all", "-H 'Host: other.example'").0, 421);
}

/// A page of its own on another origin (Python's http.server), stopped by its PID.
struct Elsewhere {
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Elsewhere {
    fn start() -> Elsewhere {
        let dir = tmp();
        std::fs::write(dir.path().join("index.html"), "<!doctype html><title>elsewhere</title><p>a page elsewhere</p>")
            .unwrap();
        let port = free_port();
        let child = std::process::Command::new("python3")
            .args(["-m", "http.server", &port.to_string(), "--bind", "127.0.0.1", "--directory"])
            .arg(dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "python3 -m http.server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Elsewhere { child, port, _dir: dir }
    }
}

impl Drop for Elsewhere {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn in_a_browser_the_servers_own_page_posts_json_as_jquery_does_and_other_sites_cannot() {
    let src = seeded();
    let dst = Etcd::start();
    let s = Server::launch(Start {
        etcd: &src.endpoint,
        extra: &format!("--insecure-no-auth --allow-endpoint {}", dst.endpoint),
        no_token: true,
        ..Default::default()
    });
    let elsewhere = Elsewhere::start();
    let driver = Driver::start();
    let profile = tmp();
    let (url, port, other) = (s.url(), s.port, elsewhere.port);
    let (src_ep, dst_ep) = (src.endpoint.clone(), dst.endpoint.clone());
    let store = s.store.clone();
    let names = || {
        let mut v: Vec<String> =
            std::fs::read_dir(&store).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    };
    reshifter_e2e::rt().block_on(async {
        // Two names for loopback: a foreign site, and a rebound name of the server itself.
        let rules = "--host-resolver-rules=MAP attacker.test 127.0.0.1, MAP rebind.attacker.test 127.0.0.1".to_string();
        let c = driver.session(profile.path(), &[rules]).await;
        // jQuery's $.ajax({type: "POST", data: '{...}'}): JSON under the form content type.
        let post = |route: &str, body: String| {
            format!(
                "return fetch('{route}', {{method: 'POST', headers: {{'Content-Type': \
                 'application/x-www-form-urlencoded; charset=UTF-8'}}, body: '{body}'}})\
                 .then(r => r.text().then(t => [r.status, t]))"
            )
        };
        c.goto(&url).await.unwrap();
        let made = c.execute(&post("/v1/backup", format!("{{\"endpoint\":\"{src_ep}\"}}")), vec![]).await.unwrap();
        assert_eq!(made[0], 200, "{made}");
        let id = serde_json::from_str::<serde_json::Value>(made[1].as_str().unwrap()).unwrap()["backupid"]
            .as_str()
            .unwrap()
            .to_string();
        let body = format!("{{\"endpoint\":\"{dst_ep}\",\"backupid\":\"{id}\"}}");
        let restored = c.execute(&post("/v1/restore", body), vec![]).await.unwrap();
        assert_eq!(restored[0], 200, "{restored}");
        assert_eq!(serde_json::from_str::<serde_json::Value>(restored[1].as_str().unwrap()).unwrap()["keysrestored"], 100);
        let before = names();
        // A page on another site posts what it can without asking: JSON as text/plain or a
        // form, a multipart upload, a form submitted in a frame. Nothing gets through.
        c.goto(&format!("http://attacker.test:{other}/")).await.unwrap();
        let attack = format!(
            "const t = 'http://127.0.0.1:{port}';
             const fd = new FormData();
             fd.append('backupfile', new Blob(['PK']), '1500000000.zip');
             const sent = [
               fetch(t + '/v1/backup', {{method: 'POST', mode: 'no-cors', headers: {{'Content-Type': 'text/plain'}}, body: '{{}}'}}),
               fetch(t + '/v1/backup', {{method: 'POST', mode: 'no-cors', headers: {{'Content-Type': 'application/x-www-form-urlencoded'}}, body: '{{}}'}}),
               fetch(t + '/v1/restore/upload', {{method: 'POST', mode: 'no-cors', body: fd}}),
               fetch(t + '/v1/backup/all', {{mode: 'no-cors'}}),
             ];
             const f = document.createElement('form');
             f.method = 'POST'; f.action = t + '/v1/backup'; f.enctype = 'text/plain'; f.target = 'sink';
             const i = document.createElement('input'); i.name = '{{\"x\":\"'; i.value = '\"}}'; f.append(i);
             const frame = document.createElement('iframe'); frame.name = 'sink'; document.body.append(frame, f);
             f.submit();
             return Promise.allSettled(sent).then(r => r.map(x => x.status));"
        );
        let settled = c.execute(&attack, vec![]).await.unwrap();
        assert_eq!(settled.as_array().unwrap().len(), 4, "{settled}");
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert_eq!(names(), before, "a page elsewhere wrote to the store");
        // The server under a rebound name: the page is not served, and its requests are refused.
        c.goto(&format!("http://rebind.attacker.test:{port}/")).await.unwrap();
        let text = c.find(fantoccini::Locator::Css("body")).await.unwrap().text().await.unwrap();
        assert!(text.starts_with("Host rebind.attacker.test:"), "{text}");
        let rebound = c.execute(&post("/v1/backup", "{}".into()), vec![]).await.unwrap();
        assert_eq!(rebound[0], 421, "{rebound}");
        assert_eq!(names(), before, "a rebound page wrote to the store");
        c.close().await.unwrap();
    });
    let log = s.log();
    assert!(log.contains("refused POST /v1/backup: a cross-site request (Sec-Fetch-Site: cross-site)"), "{log}");
    assert!(log.contains("refused POST /v1/restore/upload: a cross-site request"), "{log}");
    assert!(log.contains("is not a name of this server"), "{log}");
}

#[test]
fn retention_cannot_be_steered_by_ids() {
    let src = seeded();
    let s = Server::start(&src.endpoint, "--schedule '*/1 * * * * *' --keep-last 1");
    let d = tmp();
    let p = d.path().display();
    sh(&format!("etcd-dump -q --endpoints {} | archive-pack -q -o {p}/good.zip", src.endpoint)).ok();
    let up = |name: &str| {
        s.curl(
            "POST",
            "/v1/restore/upload",
            &format!("-H 'Authorization: Bearer {TOKEN}' -F 'backupfile=@{p}/good.zip;filename={name}'"),
        )
    };
    // An id in the future is refused; an old one is taken, and ranks by when it was stored.
    let (code, text) = up("4102444800.zip");
    assert_eq!(code, 400, "{text}");
    assert!(text.starts_with("backup id 4102444800 is in the future"), "{text}");
    assert_eq!(up("1500000000.zip").0, 200);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, m) = s.call("GET", "/metrics", None, true);
        if m.contains("reshifter_api_backup_total{outcome=\"success\"} 3") {
            break;
        }
        assert!(Instant::now() < deadline, "{m}");
        std::thread::sleep(Duration::from_millis(100));
    }
    // keep-last 1: the newest stored is the last scheduled one, which is kept; the upload, older
    // by its id, went in the first run after it.
    let ids: Vec<String> = s.json("GET", "/v1/backup/all", None)["backupids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert!(!ids.contains(&"1500000000".to_string()), "{ids:?}");
    assert!(!ids.is_empty() && ids.len() <= 2, "{ids:?}");
}

#[test]
fn retention_keeps_the_backup_just_made_whatever_the_ids_say() {
    // A store holding backups whose ids (and files' times) lie in the future, as a copy from
    // another machine with a wrong clock would: the scheduled backup just made survives.
    let src = seeded();
    let d = tmp();
    let store = d.path().join("store");
    std::fs::create_dir_all(&store).unwrap();
    sh(&format!("etcd-dump -q --endpoints {} | archive-pack -q -o {}/4102444800.zip", src.endpoint, store.display()))
        .ok();
    sh(&format!("cp {0}/4102444800.zip {0}/4102444801.zip && touch -d 2100-01-01 {0}/*.zip", store.display())).ok();
    let s = Server::start_in(&src.endpoint, Some(store.clone()), "--schedule '*/1 * * * * *' --keep-last 1");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !s.call("GET", "/metrics", None, true).1.contains("reshifter_api_backup_total{outcome=\"success\"} 2") {
        assert!(Instant::now() < deadline, "{}", s.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    let jobs = s.json("GET", "/v1/jobs", None);
    let made: Vec<String> = jobs["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|j| j["state"] == "succeeded")
        .map(|j| j["result"]["backupid"].as_str().unwrap().to_string())
        .collect();
    let newest = &made[0];
    assert!(store.join(format!("{newest}.zip")).exists(), "the backup just made was deleted: {:?}", s.stored());
}

#[test]
fn slow_clients_are_cut_off_and_connections_are_bounded() {
    let src = seeded();
    let d = tmp();
    let t = reshifter_e2e::make_certs(d.path());
    let s = Server::start(&src.endpoint, "--client-timeout 2s --max-connections 20");
    // 30 connections each sending half a header.
    let mut held: Vec<TcpStream> = (0..30)
        .map(|_| {
            let mut c = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
            c.write_all(b"GET /v1/backup/all HTTP/1.1\r\nHost: 127.0").unwrap();
            c
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    // Those over the limit are told at once.
    let mut last = held.pop().unwrap();
    last.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut answer = String::new();
    let _ = last.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 503 Service Unavailable"), "{answer:?}");
    // The others are closed once the timeout passes, before any auth.
    let started = Instant::now();
    let mut first = held.remove(0);
    first.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut rest = Vec::new();
    let n = first.read_to_end(&mut rest).unwrap_or(0);
    assert_eq!(n, 0, "closed without an answer");
    assert!(started.elapsed() < Duration::from_secs(4), "closed after {:?}", started.elapsed());
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(s.call("GET", "/healthz", None, false).0, 200, "served again");
    drop(held);
    // A TLS handshake that never comes is cut off too.
    let flags = format!("--tls-cert {0}/server.crt --tls-key {0}/server.key --client-timeout 2s", d.path().display());
    let tls = Server::start(&src.endpoint, &flags);
    let mut c = TcpStream::connect(("127.0.0.1", tls.port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let started = Instant::now();
    let mut buf = Vec::new();
    let _ = c.read_to_end(&mut buf);
    assert!(started.elapsed() < Duration::from_secs(4), "the handshake waited {:?}", started.elapsed());
    let v = sh(&format!(
        "curl -sf --cacert {} -H 'Authorization: Bearer {TOKEN}' {}/v1/version",
        t.ca.display(),
        tls.url()
    ));
    assert!(v.ok().stdout_str().starts_with("reshifter in version"));
    // A body that stalls is cut off as well (the upload's job ends failed, not "running").
    let mut c = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    let head = format!(
        "POST /v1/restore/upload HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: multipart/form-data; boundary=X\r\nContent-Length: 100000\r\n\r\n\
         --X\r\nContent-Disposition: form-data; name=\"backupfile\"; filename=\"1500000000.zip\"\r\n\r\nPK"
    );
    c.write_all(head.as_bytes()).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut answer = String::new();
    let _ = c.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    let jobs = s.json("GET", "/v1/jobs", None);
    assert_eq!(jobs["jobs"][0]["kind"], "upload");
    assert_eq!(jobs["jobs"][0]["state"], "failed", "{jobs}");
    assert!(!s.stored().iter().any(|n| n.starts_with('.')), "{:?}", s.stored());
}

#[test]
fn uploads_over_the_limit_are_413_and_concurrent_dry_runs_of_one_backup_both_work() {
    let src = seeded();
    let s = Server::start(&src.endpoint, "--max-upload 1KiB");
    let d = tmp();
    let p = d.path().display();
    sh(&format!("etcd-dump -q --endpoints {} | archive-pack -q -o {p}/good.zip", src.endpoint)).ok();
    let (code, text) = s.curl(
        "POST",
        "/v1/restore/upload",
        &format!("-H 'Authorization: Bearer {TOKEN}' -F 'backupfile=@{p}/good.zip;filename=1500000000.zip'"),
    );
    assert_eq!(code, 413, "{text}");
    assert_eq!(text, "the upload is larger than --max-upload (1024 bytes)\n");
    let jobs = s.json("GET", "/v1/jobs", None);
    assert!(jobs["jobs"].as_array().unwrap().iter().all(|j| j["state"] != "running"), "{jobs}");
    let id = s.json("POST", "/v1/backup", Some("{}"))["backupid"].as_str().unwrap().to_string();
    let url = s.url();
    let runs: Vec<_> = (0..3)
        .map(|_| {
            let (url, id) = (url.clone(), id.clone());
            std::thread::spawn(move || {
                sh(&format!(
                    "curl -s -w ' %{{http_code}}' -H 'Authorization: Bearer {TOKEN}' -d '{{\"backupid\":\"{id}\",\"dry_run\":true}}' {url}/v1/restore"
                ))
                .stdout_str()
            })
        })
        .collect();
    for r in runs {
        let out = r.join().unwrap();
        assert!(out.ends_with(" 200"), "{out}");
    }
}

#[test]
fn credentials_in_urls_are_never_shown() {
    // etcd's URL with a user and password: the tools' errors, the server's answers, its log and
    // its job list never show the password.
    let o = sh("etcd-dump --endpoints http://admin:hunter2-pw@127.0.0.1:1 --dial-timeout 1s");
    assert_ne!(o.code, 0);
    assert!(!o.stderr.contains("hunter2") && o.stderr.contains("http://***@127.0.0.1:1"), "{}", o.stderr);
    let o = sh("s3-ls --endpoint http://AKID:hunter2-pw@127.0.0.1:1 s3://b/");
    assert_ne!(o.code, 0);
    assert!(!o.stderr.contains("hunter2"), "{}", o.stderr);
    let s = Server::start("http://admin:hunter2-pw@127.0.0.1:1", "");
    let (code, text) = s.call("POST", "/v1/backup", Some("{}"), true);
    assert_eq!(code, 409, "{text}");
    assert!(!text.contains("hunter2") && text.contains("***@127.0.0.1:1"), "{text}");
    let (code, text) = s.call("POST", "/v1/backup", Some("{\"endpoint\":\"http://u:hunter2-pw@127.0.0.1:9\"}"), true);
    assert_eq!(code, 403, "{text}");
    assert!(!text.contains("hunter2"), "{text}");
    let jobs = s.call("GET", "/v1/jobs", None, true).1;
    assert!(!jobs.contains("hunter2") && jobs.contains("***@127.0.0.1:1"), "{jobs}");
    let (_, config) = s.call("GET", "/v1/config", None, true);
    assert!(!config.contains("hunter2"), "{config}");
    std::thread::sleep(Duration::from_millis(200));
    assert!(!s.log().contains("hunter2"), "{}", s.log());
}

#[test]
fn outputs_in_shared_directories_follow_only_the_links_the_kernel_would() {
    // A sticky world-writable directory (as /tmp), a file of ours, and a link to it planted by
    // another user (uid 65534): writing to the link's name must not replace our file.
    let d = tmp();
    let shared = d.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    sh(&format!("chmod 1777 {}", shared.display())).ok();
    let ours = d.path().join("precious.conf");
    std::fs::write(&ours, b"keep me\n").unwrap();
    let link = shared.join("out.zip");
    std::os::unix::fs::symlink(&ours, &link).unwrap();
    let chown = sh(&format!("chown -h 65534:65534 {}", link.display()));
    assert_eq!(chown.code, 0, "the test runs as root to plant another user's link: {}", chown.stderr);
    let o = sh(&format!("kv-gen --objects 3 | archive-pack -q -o {}", link.display()));
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("is a link owned by another user (uid 65534) in the shared directory"), "{}", o.stderr);
    assert_eq!(std::fs::read(&ours).unwrap(), b"keep me\n");
    // Our own link there is followed, as the kernel would.
    sh(&format!("chown -h 0:0 {}", link.display())).ok();
    sh(&format!("kv-gen --objects 3 | archive-pack -q -o {}", link.display())).ok();
    assert!(std::fs::read(&ours).unwrap().starts_with(b"PK"));
    // Temporary names are unpredictable: a name planted ahead of time is not used.
    let o = sh(&format!(
        "cd {0} && (ln -s {1} .plain.ndjson.tmp-$BASHPID && exec kv-gen --objects 3 -o plain.ndjson) && ls -a",
        shared.display(),
        ours.display()
    ));
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(std::fs::read(&ours).unwrap().starts_with(b"PK"), "the planted temporary name was written through");
    let names: Vec<String> = o.stdout_str().lines().filter(|l| l.starts_with(".plain")).map(String::from).collect();
    assert_eq!(names.len(), 1, "only the planted link: {names:?}");
}

#[test]
fn restoring_from_a_bucket_never_replaces_the_local_backup() {
    // A local backup of 100 keys, and a bucket object of the same id holding 5: a restore (dry
    // or not) from the bucket uses the bucket's, and the local one stays as it was.
    let src = seeded();
    let small = Etcd::start();
    let dst = Etcd::start();
    small.put_all(&(0..5).map(|i| (format!("/registry/pods/x/p{i}").into_bytes(), b"v".to_vec())).collect::<Vec<_>>());
    let s3 = S3::start();
    s3.bucket("bkt");
    let store = tmp();
    let sp = store.path().display();
    let id = "1500000000";
    sh(&format!("etcd-dump -q --endpoints {} | archive-pack -q -o {sp}/{id}.zip", src.endpoint)).ok();
    sh_env(
        &format!(
            "etcd-dump -q --endpoints {} | archive-pack -q --layout reshifter | s3-push -q {} --layout reshifter s3://bkt/{id}.zip",
            small.endpoint,
            s3.flags()
        ),
        &s3.env(),
    )
    .ok();
    let local = std::fs::read(store.path().join(format!("{id}.zip"))).unwrap();
    let s = Server::start_in(
        &src.endpoint,
        Some(store.path().to_path_buf()),
        &format!("--allow-remote {} --allow-endpoint {}", s3.endpoint, dst.endpoint),
    );
    let body = format!(
        "{{\"endpoint\":\"{}\",\"backupid\":\"{id}\",\"remote\":\"{}\",\"bucket\":\"bkt\",\"dry_run\":true}}",
        dst.endpoint, s3.endpoint
    );
    assert_eq!(s.json("POST", "/v1/restore", Some(&body))["would"]["create"], 5);
    assert_eq!(std::fs::read(store.path().join(format!("{id}.zip"))).unwrap(), local, "the local backup changed");
    drop(s);
    let o = sh_env(&format!("rcli restore -e {} -i {id} -t {sp} -r {} -b bkt", dst.endpoint, s3.endpoint), &s3.env());
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(dst.get_all().len(), 5);
    assert_eq!(std::fs::read(store.path().join(format!("{id}.zip"))).unwrap(), local, "rcli replaced the local backup");
    let stray: Vec<String> = std::fs::read_dir(store.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(stray.is_empty(), "{stray:?}");
}

#[test]
fn files_named_in_options_are_small_regular_files() {
    // /dev/zero as a config was read whole (24 GB); a directory or a huge file is refused too.
    let d = tmp();
    let p = d.path().display();
    sh(&format!("kv-gen --objects 3 -o {p}/s.ndjson && truncate -s 2M {p}/big.yaml")).ok();
    for (cmd, what) in [
        (
            format!("kv-stats --encryption-config /dev/zero {p}/s.ndjson"),
            "the encryption config /dev/zero is not a regular file",
        ),
        (
            format!("kv-stats --encryption-config {p}/big.yaml {p}/s.ndjson"),
            "is larger than 1024 KiB: is it the right file?",
        ),
        (format!("archive-pack --passphrase-file /dev/zero {p}/s.ndjson -o {p}/x.zip"), "is not a regular file"),
        (format!("archive-pack --recipients-file {p} {p}/s.ndjson -o {p}/x.zip"), "is not a regular file"),
        (
            "etcd-dump --user root --password-file /dev/zero --endpoints http://127.0.0.1:1".to_string(),
            "is not a regular file",
        ),
        (format!("reshifter-server --token-file {p} --listen 127.0.0.1:{}", free_port()), "--token-file"),
    ] {
        let started = Instant::now();
        let o = sh(&cmd);
        assert_eq!(o.code, 2, "{cmd}: {}", o.stderr);
        assert!(o.stderr.contains(what), "{cmd}: {}", o.stderr);
        assert!(started.elapsed() < Duration::from_secs(5), "{cmd}");
    }
}
