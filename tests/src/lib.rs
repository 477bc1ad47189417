//! Test harness: real etcd servers on loopback, the real binaries, real shell pipelines.
//!
//! Every server is started on free loopback ports with a temporary data dir and stopped by its
//! own PID when dropped.

#![allow(clippy::print_stdout)]

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub use tempfile::TempDir;

pub mod server;

/// Directory holding a link per tool to the built multi-call executable
/// (`target/<profile>/bin/etcd-dump -> ../reshifter`), made on first use.
pub fn bin_dir() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let exe = std::env::current_exe().expect("test executable path");
        let release = exe.parent().and_then(Path::parent).expect("target/<profile>").to_path_buf();
        let multi = release.join("reshifter");
        assert!(
            multi.exists(),
            "{} is missing: build it first (scripts/test.sh runs cargo build --release --workspace)",
            multi.display()
        );
        let dir = release.join("bin");
        std::fs::create_dir_all(&dir).expect("bin dir");
        let o = Command::new(&multi).arg("--install-links").arg(&dir).output().expect("reshifter --install-links");
        assert!(o.status.success(), "reshifter --install-links: {}", String::from_utf8_lossy(&o.stderr));
        dir
    })
    .clone()
}

/// A control-plane node's files under `root`, made with openssl by
/// tests/helpers/control_plane.sh: `layout` kubeadm or k3s, the EncryptionConfiguration's aescbc
/// key `secret` (base64), `extra` the helper's further flags (`--expired`).
pub fn control_plane(layout: &str, root: &Path, secret: &str, extra: &str) {
    let helper = Path::new(env!("CARGO_MANIFEST_DIR")).join("helpers/control_plane.sh");
    sh(&format!("sh {} {layout} {} {secret} {extra}", helper.display(), root.display())).ok();
}

/// A path to one of our binaries.
pub fn bin(name: &str) -> PathBuf {
    bin_dir().join(name)
}

/// A free TCP port on 127.0.0.1, never one handed out before in this process: two servers
/// started at once by parallel tests must not get the same port (the second would fail to bind,
/// and a health check of its port would reach the first).
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    loop {
        let p = TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
        let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
        if !given.contains(&p) {
            given.push(p);
            return p;
        }
    }
}

/// Output of a finished command.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Out {
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Stdout lines as JSON values.
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.stdout_str().lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect()
    }

    #[track_caller]
    pub fn ok(&self) -> &Self {
        assert_eq!(self.code, 0, "command failed; stderr:\n{}", self.stderr);
        self
    }
}

/// Environment variables that would change what the tools do; tests start from none of them.
const SCRUBBED: &[&str] = &[
    "ETCDCTL_ENDPOINTS",
    "ETCDCTL_CACERT",
    "ETCDCTL_CERT",
    "ETCDCTL_KEY",
    "ETCDCTL_USER",
    "ETCDCTL_PASSWORD",
    "ETCDCTL_PASSWORD_FILE",
    "RS_ETCD_CA_CERT",
    "RS_ETCD_CLIENT_CERT",
    "RS_ETCD_CLIENT_KEY",
    "RESHIFTER_PROGRESS",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_PROFILE",
    "AWS_REGION",
    "AWS_ENDPOINT_URL",
];

/// A bash command with our binaries first on PATH, `pipefail` on, and a clean environment.
pub fn sh_cmd(script: &str) -> Command {
    let mut c = Command::new("bash");
    c.arg("-o").arg("pipefail").arg("-c").arg(script);
    let multi = bin_dir().parent().expect("target/<profile>").to_path_buf();
    let path = format!("{}:{}:{}", bin_dir().display(), multi.display(), std::env::var("PATH").unwrap_or_default());
    c.env("PATH", path);
    for v in SCRUBBED {
        c.env_remove(v);
    }
    c
}

/// Run a bash script; its stdin is empty.
pub fn sh(script: &str) -> Out {
    sh_env(script, &[])
}

/// Run a bash script with extra environment variables.
pub fn sh_env(script: &str, env: &[(&str, &str)]) -> Out {
    let mut c = sh_cmd(script);
    c.envs(env.iter().copied());
    c.stdin(Stdio::null());
    let o = c.output().expect("run bash");
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: o.stdout,
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// Run a bash script feeding `input` on stdin.
pub fn sh_input(script: &str, input: &[u8]) -> Out {
    let mut c = sh_cmd(script);
    c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn bash");
    let mut stdin = child.stdin.take().expect("stdin");
    let data = input.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let o = child.wait_with_output().expect("wait");
    let _ = feeder.join();
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: o.stdout,
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// The command line of one etcd member on loopback, fast elections.
fn member_args(name: &str, dir: &Path, client: &str, peer: &str, cluster: &str) -> Vec<String> {
    let v = |s: &str| s.to_string();
    vec![
        v("--name"),
        v(name),
        v("--data-dir"),
        dir.join("data").display().to_string(),
        v("--listen-client-urls"),
        v(client),
        v("--advertise-client-urls"),
        v(client),
        v("--listen-peer-urls"),
        v(peer),
        v("--initial-advertise-peer-urls"),
        v(peer),
        v("--initial-cluster"),
        v(cluster),
        v("--heartbeat-interval"),
        v("20"),
        v("--election-timeout"),
        v("200"),
    ]
}

/// Three etcd members on loopback forming one cluster.
pub struct Cluster {
    pub members: Vec<Etcd>,
}

impl Cluster {
    pub fn start() -> Cluster {
        let n = 3;
        let ports: Vec<(u16, u16)> = (0..n).map(|_| (free_port(), free_port())).collect();
        let cluster: Vec<String> =
            ports.iter().enumerate().map(|(i, (_, pp))| format!("m{i}=http://127.0.0.1:{pp}")).collect();
        let cluster = cluster.join(",");
        let mut members: Vec<Etcd> = ports
            .iter()
            .enumerate()
            .map(|(i, (cp, pp))| {
                let dir = tempfile::Builder::new().prefix("reshifter-etcd-").tempdir().expect("temp dir");
                let client = format!("http://127.0.0.1:{cp}");
                let args =
                    member_args(&format!("m{i}"), dir.path(), &client, &format!("http://127.0.0.1:{pp}"), &cluster);
                Etcd { child: None, args, dir, endpoint: client, tls: None, auth: None }
            })
            .collect();
        for m in members.iter_mut() {
            m.spawn(&[]);
        }
        for m in members.iter_mut() {
            assert!(m.wait_ready(), "cluster member did not start");
        }
        Cluster { members }
    }

    /// `--endpoints a,b,c`.
    pub fn flags(&self) -> String {
        format!("--endpoints {}", self.endpoints())
    }

    pub fn endpoints(&self) -> String {
        self.members.iter().map(|m| m.endpoint.clone()).collect::<Vec<_>>().join(",")
    }

    /// The index of the current leader.
    pub fn leader(&self) -> usize {
        for (i, m) in self.members.iter().enumerate() {
            if m.child.is_none() {
                continue;
            }
            let o = m.etcdctl(&["endpoint", "status", "-w", "json", "--dial-timeout=1s", "--command-timeout=1s"]);
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&o.stdout) {
                let st = &v[0]["Status"];
                if st["leader"] == st["header"]["member_id"] {
                    return i;
                }
            }
        }
        panic!("no leader");
    }
}

/// TLS material written by [`Etcd::start_tls`].
#[derive(Debug, Clone)]
pub struct Tls {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A real etcd (Debian's etcd-server) on loopback.
pub struct Etcd {
    child: Option<Child>,
    /// The command line it was started with (for a restart on the same data).
    args: Vec<String>,
    pub dir: TempDir,
    /// `http://127.0.0.1:P` or `https://127.0.0.1:P`
    pub endpoint: String,
    pub tls: Option<Tls>,
    /// (user, password) when auth is enabled.
    pub auth: Option<(String, String)>,
}

fn openssl(dir: &Path, args: &[&str]) {
    let o = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl");
    assert!(o.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&o.stderr));
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl.
pub fn make_certs(dir: &Path) -> Tls {
    std::fs::write(
        dir.join("san.cnf"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "2",
            "-subj",
            "/CN=reshifter-test-ca",
        ],
    );
    for name in ["server", "client"] {
        openssl(
            dir,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
                "-subj",
                &format!("/CN={name}"),
            ],
        );
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &format!("{name}.crt"),
                "-days",
                "2",
                "-extfile",
                "san.cnf",
            ],
        );
    }
    Tls { ca: dir.join("ca.crt"), cert: dir.join("client.crt"), key: dir.join("client.key") }
}

impl Etcd {
    pub fn start() -> Etcd {
        Self::launch(false, &[])
    }

    /// etcd serving TLS and requiring client certificates.
    pub fn start_tls() -> Etcd {
        Self::launch(true, &[])
    }

    /// etcd serving TLS, requiring client certificates, with extra flags.
    pub fn start_tls_with(flags: &[&str]) -> Etcd {
        Self::launch(true, flags)
    }

    /// etcd with extra flags.
    pub fn start_with(flags: &[&str]) -> Etcd {
        Self::launch(false, flags)
    }

    /// etcd with authentication enabled: user `root`, password `s3cret-pw`.
    pub fn start_auth() -> Etcd {
        Self::start_auth_with(&[])
    }

    /// [`Etcd::start_auth`] with etcd flags of the test's own.
    pub fn start_auth_with(flags: &[&str]) -> Etcd {
        let mut e = Self::start_with(flags);
        e.etcdctl(&["user", "add", "root:s3cret-pw"]).ok();
        e.etcdctl(&["auth", "enable"]).ok();
        e.auth = Some(("root".into(), "s3cret-pw".into()));
        e
    }

    fn launch(tls: bool, flags: &[&str]) -> Etcd {
        for _ in 0..5 {
            let dir = tempfile::Builder::new().prefix("reshifter-etcd-").tempdir().expect("temp dir");
            let tls_files = tls.then(|| make_certs(dir.path()));
            let (cp, pp) = (free_port(), free_port());
            let scheme = if tls { "https" } else { "http" };
            let client = format!("{scheme}://127.0.0.1:{cp}");
            let peer = format!("http://127.0.0.1:{pp}");
            let mut args: Vec<String> = member_args("test", dir.path(), &client, &peer, &format!("test={peer}"));
            args.extend(flags.iter().map(|f| f.to_string()));
            if let Some(t) = &tls_files {
                for (flag, file) in [
                    ("--cert-file", dir.path().join("server.crt")),
                    ("--key-file", dir.path().join("server.key")),
                    ("--trusted-ca-file", t.ca.clone()),
                ] {
                    args.push(flag.into());
                    args.push(file.display().to_string());
                }
                args.push("--client-cert-auth".into());
            }
            let mut e = Etcd { child: None, args, dir, endpoint: client, tls: tls_files.clone(), auth: None };
            e.spawn(&[]);
            if e.wait_ready() {
                return e;
            }
            e.kill();
            let log = std::fs::read_to_string(e.dir.path().join("etcd.log")).unwrap_or_default();
            eprintln!(
                "etcd did not start, retrying on other ports; log tail: {}",
                &log[log.len().saturating_sub(500)..]
            );
        }
        panic!("etcd did not start");
    }

    fn spawn(&mut self, extra: &[&str]) {
        let log =
            std::fs::OpenOptions::new().create(true).append(true).open(self.dir.path().join("etcd.log")).expect("log");
        let child = Command::new("etcd")
            .args(&self.args)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start etcd (is Debian's etcd-server installed?)");
        self.child = Some(child);
    }

    /// Rebuild it: stop, remove its data, start again on the same name, ports and token, so
    /// that the new etcd has the same cluster id and an empty history.
    pub fn rebuild(&mut self) {
        self.kill();
        std::fs::remove_dir_all(self.dir.path().join("data")).expect("remove the data dir");
        self.spawn(&[]);
        assert!(self.wait_ready(), "etcd did not start again");
    }

    /// Stop and start again on the same data and ports, with extra flags.
    pub fn restart_with(&mut self, extra: &[&str]) {
        self.kill();
        self.spawn(extra);
        assert!(self.wait_ready(), "etcd did not restart");
    }

    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(_)) = child.try_wait()
            {
                return false;
            }
            let o = self.etcdctl_cmd(&["endpoint", "health", "--command-timeout=1s"]).output().expect("etcdctl");
            if o.status.success() {
                // Healthy, and it is ours: a server that failed to bind exits at once, while
                // whatever holds the port answered.
                std::thread::sleep(Duration::from_millis(200));
                return self.child.as_mut().is_none_or(|c| matches!(c.try_wait(), Ok(None)));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    /// The PID of the server process.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Stop the server by its PID (SIGKILL) and reap it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Flags that connect one of our tools (or etcdctl) to this server.
    pub fn flags(&self) -> String {
        let mut s = format!("--endpoints {}", self.endpoint);
        if let Some(t) = &self.tls {
            s.push_str(&format!(" --cacert {} --cert {} --key {}", t.ca.display(), t.cert.display(), t.key.display()));
        }
        s
    }

    /// Environment for our tools when auth is on.
    pub fn auth_env(&self) -> Vec<(&str, &str)> {
        match &self.auth {
            Some((u, p)) => vec![("ETCDCTL_USER", u.as_str()), ("ETCDCTL_PASSWORD", p.as_str())],
            None => vec![],
        }
    }

    fn etcdctl_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("etcdctl");
        c.env("ETCDCTL_API", "3").arg("--endpoints").arg(&self.endpoint);
        for v in SCRUBBED {
            c.env_remove(v);
        }
        if let Some(t) = &self.tls {
            c.arg("--cacert").arg(&t.ca).arg("--cert").arg(&t.cert).arg("--key").arg(&t.key);
        }
        if let Some((u, p)) = &self.auth {
            c.arg("--user").arg(format!("{u}:{p}"));
        }
        c.args(args);
        c
    }

    /// Run etcdctl against this server.
    pub fn etcdctl(&self, args: &[&str]) -> Out {
        let o = self.etcdctl_cmd(args).stdin(Stdio::null()).output().expect("etcdctl");
        Out {
            code: o.status.code().unwrap_or(-1),
            stdout: o.stdout,
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    /// A connected client (no TLS/auth).
    pub async fn client(&self) -> etcd_client::Client {
        let mut opts = etcd_client::ConnectOptions::new();
        if let Some((u, p)) = &self.auth {
            opts = opts.with_user(u.clone(), p.clone());
        }
        etcd_client::Client::connect([self.endpoint.clone()], Some(opts)).await.expect("connect")
    }

    /// Put key/values with transactions of up to 64 ops / 1 MiB.
    pub fn put_all(&self, kvs: &[(Vec<u8>, Vec<u8>)]) {
        rt().block_on(async {
            let mut c = self.client().await;
            let mut ops = Vec::new();
            let mut bytes = 0;
            for (k, v) in kvs {
                if !ops.is_empty() && (ops.len() >= 64 || bytes + v.len() > 1 << 20) {
                    c.txn(etcd_client::Txn::new().and_then(std::mem::take(&mut ops))).await.expect("txn");
                    bytes = 0;
                }
                bytes += k.len() + v.len();
                ops.push(etcd_client::TxnOp::put(k.clone(), v.clone(), None));
            }
            if !ops.is_empty() {
                c.txn(etcd_client::Txn::new().and_then(ops)).await.expect("txn");
            }
        });
    }

    /// Every key, value and lease, read directly (not through our tools).
    pub fn get_all(&self) -> Vec<(Vec<u8>, Vec<u8>, i64)> {
        rt().block_on(async {
            let mut c = self.client().await;
            let mut out = Vec::new();
            let mut from = vec![0u8];
            loop {
                let r = c
                    .get(from.clone(), Some(etcd_client::GetOptions::new().with_range(vec![0u8]).with_limit(500)))
                    .await
                    .expect("get");
                for kv in r.kvs() {
                    out.push((kv.key().to_vec(), kv.value().to_vec(), kv.lease()));
                }
                match (r.more(), r.kvs().last()) {
                    (true, Some(last)) => {
                        from = last.key().to_vec();
                        from.push(0);
                    }
                    _ => break,
                }
            }
            out
        })
    }

    /// The current revision.
    pub fn revision(&self) -> i64 {
        rt().block_on(async {
            let mut c = self.client().await;
            c.get(vec![0u8], Some(etcd_client::GetOptions::new().with_from_key().with_count_only()))
                .await
                .expect("get")
                .header()
                .expect("header")
                .revision()
        })
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A small runtime for test-side etcd calls.
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

/// Records of a stream (header and trailer removed), parsed with the library's reader.
pub fn records(stream: &[u8]) -> Vec<reshifter_format::Record> {
    reshifter_format::StreamReader::new(stream).expect("header").collect::<Result<Vec<_>, _>>().expect("valid stream")
}

/// The stream's trailer as JSON.
pub fn trailer(stream: &[u8]) -> serde_json::Value {
    let text = String::from_utf8_lossy(stream);
    serde_json::from_str(text.lines().last().expect("a line")).expect("JSON")
}

/// A temporary directory for test files.
pub fn tmp() -> TempDir {
    tempfile::Builder::new().prefix("reshifter-test-").tempdir().expect("temp dir")
}

/// A real S3-compatible server (s3s-fs, which checks SigV4 signatures) on loopback, storing
/// buckets as directories under a temporary root; stopped by its PID when dropped.
pub struct S3 {
    child: Option<Child>,
    pub dir: TempDir,
    pub port: u16,
    pub endpoint: String,
}

/// Credentials of the test S3 server.
pub const S3_ACCESS_KEY: &str = "reshifter-test-access";
pub const S3_SECRET_KEY: &str = "reshifter-test-secret-key-0123456789";

impl S3 {
    pub fn start() -> S3 {
        let dir = tempfile::Builder::new().prefix("reshifter-s3-").tempdir().expect("temp dir");
        let mut s = S3 { child: None, port: 0, endpoint: String::new(), dir };
        s.launch();
        s
    }

    /// The data directory (bucket = subdirectory).
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    fn launch(&mut self) {
        std::fs::create_dir_all(self.root()).expect("root");
        for _ in 0..5 {
            let port = free_port();
            let log = std::fs::File::create(self.dir.path().join("s3.log")).expect("log");
            let child = Command::new("s3s-fs")
                .args(["--host", "127.0.0.1", "--port", &port.to_string()])
                .args(["--access-key", S3_ACCESS_KEY, "--secret-key", S3_SECRET_KEY])
                .arg(self.root())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("start s3s-fs (scripts/install-s3s-fs.sh installs it)");
            self.child = Some(child);
            self.port = port;
            self.endpoint = format!("http://127.0.0.1:{port}");
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            self.kill();
        }
        panic!("s3s-fs did not start");
    }

    /// Start again on the same data (after [`S3::kill`]).
    pub fn restart(&mut self) {
        self.kill();
        self.launch();
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Create a bucket directly on disk.
    pub fn bucket(&self, name: &str) {
        std::fs::create_dir_all(self.root().join(name)).expect("bucket");
    }

    /// `--endpoint URL`.
    pub fn flags(&self) -> String {
        format!("--endpoint {}", self.endpoint)
    }

    /// Environment with the right credentials.
    pub fn env(&self) -> Vec<(&'static str, &'static str)> {
        s3_env()
    }
}

/// Environment with the test S3 server's credentials (any [`S3`] of this harness).
pub fn s3_env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("AWS_ACCESS_KEY_ID", S3_ACCESS_KEY),
        ("AWS_SECRET_ACCESS_KEY", S3_SECRET_KEY),
        ("AWS_REGION", "us-east-1"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_CONFIG_FILE", "/nonexistent"),
        ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"),
    ]
}

impl Drop for S3 {
    fn drop(&mut self) {
        self.kill();
    }
}
