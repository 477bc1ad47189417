//! reshifter-server for the tests: a server on a free loopback port, stopped by its PID; and
//! chromedriver with Debian's chromium for the tests that need a real browser.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::{free_port, sh, sh_cmd, tmp};

/// The token the test servers are started with.
pub const TOKEN: &str = "test-token-0123456789abcdef";

/// A reshifter-server on a free port, stopped by its PID.
pub struct Server {
    child: Child,
    pub port: u16,
    pub store: PathBuf,
    pub dir: tempfile::TempDir,
    log: PathBuf,
    tls: bool,
}

/// How to start one.
#[derive(Default)]
pub struct Start<'a> {
    /// The server's `--etcd`.
    pub etcd: &'a str,
    /// The store (default: a new one).
    pub store: Option<PathBuf>,
    /// More flags.
    pub extra: &'a str,
    /// No token (`--insecure-no-auth` must then be in `extra`).
    pub no_token: bool,
    /// Environment beside the S3 test credentials.
    pub env: Vec<(&'a str, &'a str)>,
}

impl Server {
    /// A server with the token, on `etcd`.
    pub fn start(etcd: &str, extra: &str) -> Server {
        Server::launch(Start { etcd, extra, ..Default::default() })
    }

    /// A server on `store` (default: a new one).
    pub fn start_in(etcd: &str, store: Option<PathBuf>, extra: &str) -> Server {
        Server::launch(Start { etcd, store, extra, ..Default::default() })
    }

    pub fn launch(o: Start) -> Server {
        let dir = tmp();
        let port = free_port();
        let store = o.store.unwrap_or_else(|| dir.path().join("store"));
        let mut token = String::new();
        if !o.no_token {
            std::fs::write(dir.path().join("token"), format!("{TOKEN}\n")).unwrap();
            token = format!("--token-file {}/token", dir.path().display());
        }
        let log = dir.path().join("server.log");
        let cmd = format!(
            "exec reshifter-server --listen 127.0.0.1:{port} --store {} {token} --etcd '{}' {}",
            store.display(),
            o.etcd,
            o.extra
        );
        let child = sh_cmd(&cmd)
            .envs(crate::s3_env())
            .envs(o.env)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let tls = o.extra.contains("--tls-cert");
        let s = Server { child, port, store, dir, log, tls };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the server did not start: {}", s.log());
            std::thread::sleep(Duration::from_millis(50));
        }
        s
    }

    pub fn url(&self) -> String {
        format!("{}://127.0.0.1:{}", if self.tls { "https" } else { "http" }, self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `curl` a route with more curl flags: (HTTP status, body).
    pub fn curl(&self, method: &str, route: &str, flags: &str) -> (u16, String) {
        let cmd = format!("curl -s -o /dev/stderr -w '%{{http_code}}' -X {method} {flags} '{}{route}'", self.url());
        let o = sh(&cmd);
        (o.stdout_str().parse().unwrap_or(0), o.stderr)
    }

    /// `curl` a route: (HTTP status, body).
    pub fn call(&self, method: &str, route: &str, body: Option<&str>, token: bool) -> (u16, String) {
        let mut flags = String::new();
        if token {
            flags.push_str(&format!(" -H 'Authorization: Bearer {TOKEN}'"));
        }
        if let Some(b) = body {
            flags.push_str(&format!(" -H 'Content-Type: application/json' --data '{b}'"));
        }
        self.curl(method, route, &flags)
    }

    /// A route's JSON answer, which must be 200.
    pub fn json(&self, method: &str, route: &str, body: Option<&str>) -> serde_json::Value {
        let (status, text) = self.call(method, route, body, true);
        assert_eq!(status, 200, "{method} {route}: {text}\n{}", self.log());
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{route}: {e}: {text}"))
    }

    /// A 200 answer read into its type (the server's own, reshifter_http::answers).
    pub fn answer<T: serde::de::DeserializeOwned>(&self, method: &str, route: &str, body: Option<&str>) -> T {
        serde_json::from_value(self.json(method, route, body)).unwrap_or_else(|e| panic!("{route}: {e}"))
    }

    /// The names in the store.
    pub fn stored(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&self.store)
            .map(|rd| rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        v.sort();
        v
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// chromedriver on a free port, stopped by its PID.
pub struct Driver {
    child: Child,
    pub port: u16,
}

impl Driver {
    pub fn start() -> Driver {
        let port = free_port();
        let child = std::process::Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (Debian's chromium-driver; scripts/deps.sh installs it)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Driver { child, port }
    }

    /// A headless chromium session; `args` are more chromium flags.
    pub async fn session(&self, profile: &Path, args: &[String]) -> fantoccini::Client {
        let mut flags: Vec<String> = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1280,900",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        flags.push(format!("--user-data-dir={}", profile.display()));
        flags.extend(args.iter().cloned());
        let mut caps = serde_json::Map::new();
        caps.insert("goog:chromeOptions".into(), serde_json::json!({"binary": "/usr/bin/chromium", "args": flags}));
        fantoccini::ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .expect("a browser session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where the UI tests put their screenshots.
pub fn shots_dir() -> PathBuf {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/ui-screenshots");
    std::fs::create_dir_all(&d).unwrap();
    d
}
