//! rcli: ReShifter's command line — `backup create`, `backup list`, `restore`, `explore`,
//! `stats`, `version` — with its flags and environment, on this toolkit's library: a backup is
//! etcd-dump (v2 or v3) → the strategy's kv-filter → archive-pack, optionally s3-push in
//! ReShifter's remote layout (`<bucket>/<backup id>.zip`); a restore the way back. Every step
//! is the library's own function, called with options built in code (never an argument list),
//! through temporary files in the target directory, so the guarantees hold: digests checked,
//! nothing half-written, a failed step leaves no `<id>.zip`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use reshifter_archive::crypt::KeyArgs;
use reshifter_archive::pack::{EncryptArgs, Layout, PackOptions};
use reshifter_archive::unpack::UnpackOptions;
use reshifter_etcd::EtcdArgs;
use reshifter_etcd::dump::{DumpApi, DumpOptions};
use reshifter_etcd::load::{LoadApi, LoadOptions, Loaded, Mode};
use reshifter_format::error::{Error, Kind, Result};
use reshifter_format::report::Reporter;
use reshifter_format::{Api, StreamReader};
use reshifter_k8s::EtcdPrefix;
use reshifter_s3::{PullOptions, PushOptions, S3Args, S3Layout, S3Uri};

/// ReShifter's default etcd endpoint.
pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:2379";

/// Flags every command that talks to etcd takes.
#[derive(Debug, Clone, clap::Args)]
pub struct Endpoint {
    /// The URL of the etcd to use (TLS client files from RS_ETCD_CLIENT_CERT, RS_ETCD_CLIENT_KEY,
    /// RS_ETCD_CA_CERT; credentials from ETCDCTL_USER and ETCDCTL_PASSWORD)
    #[arg(short, long, default_value = DEFAULT_ENDPOINT, value_name = "URL")]
    pub endpoint: String,

    /// The etcd API: v2, v3, or auto (v2 when the endpoint holds v2 keys under the Kubernetes
    /// roots and no v3 keys there, as ReShifter chose)
    #[arg(long, env = "RS_ETCD_API_VERSION", default_value = "auto", value_name = "VERSION")]
    pub api: String,

    /// The Kubernetes roots ReShifter backed up (legacy and current Kubernetes, OpenShift), and
    /// an API server's --etcd-prefix.
    #[command(flatten)]
    pub etcd_prefix: EtcdPrefix,

    /// Where the steps' warnings go, under whose name (rcli's by default; the server names
    /// the job and takes the lines into its log).
    #[arg(skip = Reporter::named("rcli"))]
    pub report: Reporter,
}

impl Endpoint {
    /// An endpoint and an API choice (v2, v3, auto).
    pub fn new(endpoint: &str, api: &str) -> Self {
        Endpoint {
            endpoint: endpoint.to_string(),
            api: api.to_string(),
            etcd_prefix: EtcdPrefix::default(),
            report: Reporter::named("rcli"),
        }
    }

    /// The connection: this endpoint, the rest (TLS, user, timeouts) from the environment.
    pub fn etcd_args(&self) -> Result<EtcdArgs> {
        EtcdArgs::from_env(std::slice::from_ref(&self.endpoint))
    }

    fn api(&self) -> Result<&str> {
        match self.api.as_str() {
            "v2" | "v3" | "auto" => Ok(&self.api),
            other => Err(Error::new(Kind::Usage, format!("RS_ETCD_API_VERSION / --api {other:?}: say v2, v3 or auto"))),
        }
    }
}

/// S3 flags of ReShifter: a remote endpoint and a bucket; credentials from ACCESS_KEY_ID and
/// SECRET_ACCESS_KEY (or the AWS chain).
#[derive(Debug, Clone, clap::Args)]
pub struct Remote {
    /// The S3-compatible storage endpoint, host:port (HTTPS) or a URL
    #[arg(short, long, value_name = "S3ENDPOINT")]
    pub remote: Option<String>,

    /// The bucket (default with --remote: reshifter-<today>, as ReShifter chose)
    #[arg(short, long, value_name = "BUCKET")]
    pub bucket: Option<String>,
}

impl Remote {
    /// A remote (host:port or URL) and a bucket.
    pub fn new(remote: Option<String>, bucket: Option<String>) -> Self {
        Remote { remote, bucket }
    }

    /// The S3 connection and the bucket, when a remote is given.
    pub fn s3_target(&self) -> Option<(S3Args, String)> {
        self.s3()
    }

    fn s3(&self) -> Option<(S3Args, String)> {
        let remote = self.remote.as_ref()?;
        let url = if remote.contains("://") { remote.clone() } else { format!("https://{remote}") };
        let bucket = self.bucket.clone().unwrap_or_else(default_bucket);
        Some((S3Args::from_env(Some(url)), bucket))
    }
}

/// ReShifter's bucket when none is named: `reshifter-<today>`.
pub fn default_bucket() -> String {
    let today = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    format!("reshifter-{}", &today[..10])
}

/// The tool says which bucket it chose when none was named (a library caller says it its way).
fn say_default_bucket(r: &Remote) {
    if r.remote.is_some() && r.bucket.is_none() {
        Reporter::named("rcli").say(format_args!("no --bucket given: using {}, as ReShifter did", default_bucket()));
    }
}

/// `rcli backup create`.
#[derive(Debug, Clone, clap::Args)]
pub struct CreateOptions {
    #[command(flatten)]
    pub endpoint: Endpoint,

    /// The target directory for the resulting ZIP file of the backup
    #[arg(short, long, default_value = "/tmp", value_name = "DIR")]
    pub target: PathBuf,

    #[command(flatten)]
    pub remote: Remote,

    /// ReShifter's strategy: raw (every key), filter:a,b (keys whose path contains a or b), or
    /// render (the keys and values on stdout, as the stream, and no archive)
    #[arg(long, env = "RS_BACKUP_STRATEGY", default_value = "raw", value_name = "STRATEGY")]
    pub strategy: String,

    /// Archive layout: native (verified, with revisions and digests; rcli restore reads both) or
    /// reshifter (ReShifter's own, for ReShifter to restore)
    #[arg(long, default_value = "native", value_name = "LAYOUT")]
    pub layout: String,

    /// Also back up this control-plane node's files (CAs, keys, kubeconfigs, static pods, the
    /// EncryptionConfiguration: node-dump's layouts, found under DIR, `/` for this node) in the
    /// same archive, and check that the captured EncryptionConfiguration opens every Secret
    #[arg(long, env = "RS_NODE_ROOT", value_name = "DIR")]
    pub node_root: Option<PathBuf>,
}

/// `rcli backup list`.
#[derive(Debug, Clone, clap::Args)]
pub struct ListOptions {
    /// The directory the backups are in
    #[arg(short, long, default_value = "/tmp", value_name = "DIR")]
    pub target: PathBuf,

    #[command(flatten)]
    pub remote: Remote,
}

/// `rcli restore`.
#[derive(Debug, Clone, clap::Args)]
pub struct RestoreOptions {
    #[command(flatten)]
    pub endpoint: Endpoint,

    /// The ID of the backup to restore (its Unix seconds)
    #[arg(short = 'i', long, value_name = "BACKUPID")]
    pub backupid: String,

    /// The directory the backup is in (or is pulled into, with --remote)
    #[arg(short, long, default_value = "/tmp", value_name = "DIR")]
    pub target: PathBuf,

    #[command(flatten)]
    pub remote: Remote,

    /// Print the outcome as JSON ({"keysrestored","elapsedtimeinsec"}, ReShifter's API names)
    #[arg(long)]
    pub json: bool,
}

/// A temporary file in `dir` (an unpredictable name, made with O_EXCL, mode 0600), removed when
/// dropped or when the process is interrupted.
mod node;

struct Temp {
    path: PathBuf,
}

impl Temp {
    fn new(dir: &Path, name: &str) -> Result<Temp> {
        let named = tempfile::Builder::new().prefix(&format!(".rcli-{name}-")).tempfile_in(dir).map_err(|e| {
            Error::with_source(Kind::Failure, format!("cannot make a temporary file in {}", dir.display()), e)
        })?;
        let path = named
            .into_temp_path()
            .keep()
            .map_err(|e| Error::with_source(Kind::Failure, "cannot keep a temporary file", e.error))?;
        reshifter_format::signals::register_temp(&path);
        Ok(Temp { path })
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        reshifter_format::signals::unregister_temp(&self.path);
    }
}

/// The Kubernetes roots that hold keys, as stream prefixes (and whether to use the v2 API).
pub fn roots(e: &Endpoint) -> Result<(Vec<String>, bool)> {
    let args = e.etcd_args()?;
    let named = e.etcd_prefix.roots();
    let v2 = match e.api()? {
        "v2" => true,
        "v3" => false,
        _ => {
            reshifter_etcd::explore::kubernetes_roots(&args, false, &named)?.is_empty()
                && !reshifter_etcd::explore::kubernetes_roots(&args, true, &named)?.is_empty()
        }
    };
    let found = reshifter_etcd::explore::kubernetes_roots(&args, v2, &named)?;
    if found.is_empty() {
        return Err(Error::new(
            Kind::Usage,
            format!(
                "no Kubernetes keys (under {}) at {} ({} API): nothing to back up; etcd-dump backs up any keyspace",
                named.all().collect::<Vec<_>>().join(", "),
                e.endpoint,
                if v2 { "v2" } else { "v3" }
            ),
        ));
    }
    Ok((found, v2))
}

/// The dump of `prefixes` at `e`, with the v2 or the v3 API.
fn dump_options(e: &Endpoint, prefixes: &[String], v2: bool) -> Result<DumpOptions> {
    let mut o = DumpOptions::new(e.etcd_args()?);
    o.prefixes = prefixes.to_vec();
    o.api = if v2 { DumpApi::V2 } else { DumpApi::V3 };
    o.report = e.report.clone();
    Ok(o)
}

fn dump(e: &Endpoint, prefixes: &[String], v2: bool, out: &Path) -> Result<()> {
    let mut o = dump_options(e, prefixes, v2)?;
    o.output = Some(out.to_path_buf());
    reshifter_etcd::dump::run(o)
}

/// Dump the whole keyspace of `e` into `out` (v2 when only v2 holds Kubernetes keys, or when
/// asked).
pub fn dump_all(e: &Endpoint, out: &Path) -> Result<()> {
    let v2 = match e.api()? {
        "v2" => true,
        "v3" => false,
        _ => roots(e).map(|(_, v2)| v2).unwrap_or(false),
    };
    dump(e, &[], v2, out)
}

/// A backup made.
#[derive(Debug, Clone)]
pub struct Created {
    /// Its id: the Unix seconds it was started at.
    pub id: u64,
    pub path: PathBuf,
    /// Keys and bytes (keys and values) it holds.
    pub keys: u64,
    pub bytes: u64,
    /// The S3 object it was pushed to, if any.
    pub pushed: Option<String>,
    /// Kubernetes roots that hold v2 keys too, left out of this v3 backup (`--api auto` on an
    /// etcd holding both).
    pub v2_left_out: Vec<String>,
    /// With a node's files: where the EncryptionConfiguration that opened the keyspace's
    /// encrypted values was captured (`None` when the node has none).
    pub node_config: Option<String>,
}

/// A new backup id: now in Unix seconds, later if a backup of that id exists in `target`.
fn new_id(target: &Path) -> u64 {
    loop {
        let id = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        if !target.join(format!("{id}.zip")).exists() {
            return id;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// Make a backup: dump the Kubernetes roots, apply the strategy, pack `<target>/<id>.zip`,
/// push it to `remote` in ReShifter's layout. With `node_root`, the control-plane files under it
/// go into the same archive, and the EncryptionConfiguration among them must open every value
/// encrypted at rest. `render` is not a backup: see [`backup_create`].
pub fn create_backup(
    endpoint: &Endpoint,
    target: &Path,
    remote: &Remote,
    strategy: &str,
    layout: Layout,
    pack_keys: &EncryptArgs,
    node_root: Option<&Path>,
) -> Result<Created> {
    std::fs::create_dir_all(target)
        .map_err(|e| Error::with_source(Kind::Usage, format!("cannot make {}", target.display()), e))?;
    let filter = match strategy {
        "raw" | "" => None,
        s if s.starts_with("filter") => Some(s.to_string()),
        other => {
            return Err(Error::new(
                Kind::Usage,
                format!("RS_BACKUP_STRATEGY {other:?}: ReShifter's strategies are raw, render and filter:a,b"),
            ));
        }
    };
    let (prefixes, v2) = roots(endpoint)?;
    // An etcd holding v3 and v2 keys: the v2 ones are not in a v3 backup; say so.
    let v2_left_out = if !v2 && endpoint.api()? == "auto" {
        reshifter_etcd::explore::kubernetes_roots(&endpoint.etcd_args()?, true, &endpoint.etcd_prefix.roots())
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    if node_root.is_some() && layout == Layout::Reshifter {
        return Err(Error::new(Kind::Usage, "--node-root needs the native layout (ReShifter's holds keys only)"));
    }
    // The node's files first: they are small, and their encryption config checks the keyspace.
    let node = match node_root {
        Some(root) => Some(node::capture(root, target, &endpoint.report)?),
        None => None,
    };
    let id = new_id(target);
    let zip = target.join(format!("{id}.zip"));
    // The archive is renamed into place only when its stream ended with a verified trailer.
    let dump_opts = dump_options(endpoint, &prefixes, v2)?;
    // Packed under a temporary name, then linked to <id>.zip only if no backup of that id
    // appeared meanwhile (an upload): a backup is never replaced.
    let packed_tmp = Temp::new(target, &format!("{id}.zip"))?;
    let pack_opts = PackOptions {
        output: Some(packed_tmp.path.clone()),
        layout,
        crypt: pack_keys.clone(),
        quiet: true,
        report: endpoint.report.clone(),
        node_files: node.as_ref().map(|n| n.stream.path.clone()),
        ..PackOptions::default()
    };
    let config = node.as_ref().and_then(|n| n.config.as_ref()).map(|(t, _)| t.path.clone());
    let (trailer, check) = pipeline(endpoint, dump_opts, filter, pack_opts, config)?;
    std::fs::hard_link(&packed_tmp.path, &zip).map_err(|e| {
        Error::with_source(Kind::Failure, format!("cannot store {} (not replaced if it exists)", zip.display()), e)
    })?;
    drop(packed_tmp);
    let node_config = node.as_ref().and_then(|n| n.config.as_ref()).map(|(_, p)| p.clone());
    if let (Some(check), Some(config)) = (check, &node_config) {
        node::judge(check, id, config)?;
    }
    let (keys, bytes) = (trailer.count, trailer.bytes);
    let pushed = match remote.s3() {
        Some((s3, bucket)) => Some(push_backup(s3, bucket, id, &zip, pack_keys.keys().encrypts(), &endpoint.report)?),
        None => None,
    };
    Ok(Created { id, path: zip, keys, bytes, pushed, v2_left_out, node_config })
}

/// `etcd-dump | [kv-filter |] archive-pack`, each a thread, joined by pipes as in a shell, with
/// the check of a captured encryption config (`config`) reading a copy of the stream beside
/// the archiver: the stream's trailer, once the archive is complete, and the check to judge.
fn pipeline(
    endpoint: &Endpoint,
    dump_opts: DumpOptions,
    filter: Option<String>,
    pack_opts: PackOptions,
    config: Option<PathBuf>,
) -> Result<(reshifter_format::Trailer, Option<node::Check>)> {
    let filter_opts = filter.map(|f| reshifter_kv::filter::FilterOptions {
        strategy: Some(f),
        quiet: true,
        report: endpoint.report.clone(),
        ..Default::default()
    });
    let writer = |w: std::io::PipeWriter| {
        reshifter_format::io::Output::Writer(std::io::BufWriter::with_capacity(1 << 20, Box::new(w)))
    };
    let reader = |r: std::io::PipeReader| -> Box<dyn std::io::BufRead + Send> {
        Box::new(std::io::BufReader::with_capacity(1 << 20, r))
    };
    let (r1, w1) = std::io::pipe()?;
    let dumper = std::thread::spawn(move || reshifter_etcd::dump::run_into(dump_opts, writer(w1)));
    let (source, filterer) = match filter_opts {
        None => (r1, None),
        Some(fo) => {
            let (r2, w2) = std::io::pipe()?;
            let input = reader(r1);
            (r2, Some(std::thread::spawn(move || reshifter_kv::filter::run_with(fo, input, writer(w2)))))
        }
    };
    let (input, check) = match config {
        Some(config) => {
            let (input, check) = node::checked(reader(source), config, endpoint.etcd_prefix.clone())?;
            (input, Some(check))
        }
        None => (reader(source), None),
    };
    let packed = reshifter_archive::pack::pack_from(pack_opts, input);
    // The first stage's error is the cause; the later ones saw it as a truncated stream.
    let joined = |h: std::thread::JoinHandle<Result<()>>| {
        h.join().unwrap_or_else(|_| Err(Error::new(Kind::Failure, "a backup stage failed")))
    };
    let dumped = joined(dumper);
    let filtered = filterer.map(joined).unwrap_or(Ok(()));
    Ok((dumped.and(filtered).and(packed)?, check))
}

/// Push backup `id` (the archive at `zip`) to `bucket` in ReShifter's layout; its S3 URI.
fn push_backup(s3: S3Args, bucket: String, id: u64, zip: &Path, encrypted: bool, report: &Reporter) -> Result<String> {
    let uri = S3Uri { bucket, key: format!("{id}.zip") };
    let mut push = PushOptions::new(uri.clone(), s3);
    push.report = report.clone();
    push.input = Some(zip.to_path_buf());
    push.create_bucket = true;
    push.layout = S3Layout::Reshifter;
    // An age file renamed into place is whole, but carries no end record for s3-push to see
    // (so that `age -d` opens it): its completeness is the rename's, checked before.
    push.allow_incomplete = encrypted;
    reshifter_s3::push(push)?;
    Ok(uri.to_string())
}

/// `rcli backup create`: the backup id on stdout.
pub fn backup_create(o: CreateOptions) -> Result<()> {
    if o.strategy == "render" {
        // ReShifter's render wrote every key and value to stdout and made no archive.
        let (prefixes, v2) = roots(&o.endpoint)?;
        let dir = std::env::temp_dir();
        let stream = Temp::new(&dir, "render.ndjson")?;
        dump(&o.endpoint, &prefixes, v2, &stream.path)?;
        let mut out = reshifter_format::io::stdout();
        std::io::copy(&mut std::fs::File::open(&stream.path)?, &mut out)?;
        out.flush()?;
        return Ok(());
    }
    let layout = match o.layout.as_str() {
        "native" => Layout::Native,
        "reshifter" => Layout::Reshifter,
        other => return Err(Error::new(Kind::Usage, format!("--layout {other:?}: native or reshifter"))),
    };
    say_default_bucket(&o.remote);
    let node_root = o.node_root.as_deref();
    let c = create_backup(&o.endpoint, &o.target, &o.remote, &o.strategy, layout, &EncryptArgs::default(), node_root)?;
    match (&o.node_root, &c.node_config) {
        (Some(_), Some(p)) => reshifter_format::report::stderr_line(format_args!(
            "rcli: the node's files are in the backup; their EncryptionConfiguration ({p}) opens every encrypted value"
        )),
        (Some(_), None) => reshifter_format::report::stderr_line(format_args!(
            "rcli: the node's files are in the backup; they hold no EncryptionConfiguration (nothing encrypted at rest to check)"
        )),
        _ => {}
    }
    if !c.v2_left_out.is_empty() {
        reshifter_format::report::stderr_line(format_args!(
            "rcli: warning: the etcd holds v2 keys under {} too; they are not in this v3 backup \
             (RS_ETCD_API_VERSION=v2 backs them up)",
            c.v2_left_out.join(", ")
        ));
    }
    if let Some(uri) = &c.pushed {
        reshifter_format::report::stderr_line(format_args!("rcli: pushed to {uri}"));
    }
    reshifter_format::report::stderr_line(format_args!("rcli: created backup {} ({} keys)", c.path.display(), c.keys));
    let mut out = reshifter_format::io::stdout();
    writeln!(out, "{}", c.id)?;
    out.flush()?;
    Ok(())
}

/// `rcli backup list`: one backup id per line, oldest first.
pub fn backup_list(o: ListOptions) -> Result<()> {
    say_default_bucket(&o.remote);
    let ids: Vec<u64> = match o.remote.s3() {
        Some((s3, bucket)) => reshifter_s3::reshifter_ids(&s3, &S3Uri { bucket, key: String::new() })?,
        None => {
            let mut ids: Vec<u64> = std::fs::read_dir(&o.target)
                .map_err(|e| Error::with_source(Kind::Usage, format!("cannot read {}", o.target.display()), e))?
                .filter_map(|e| e.ok()?.file_name().to_str().and_then(reshifter_s3::reshifter_backup_id))
                .collect();
            ids.sort();
            ids
        }
    };
    let mut out = reshifter_format::io::stdout();
    for id in ids {
        writeln!(out, "{id}")?;
    }
    out.flush()?;
    Ok(())
}

/// How a restore writes: the load's mode and dry run, and where a dry run's lines go.
#[derive(Debug, Clone, Default)]
pub struct HowRestore {
    /// overwrite (the default), create-only or sync (etcd-load's --mode).
    pub mode: Option<Mode>,
    pub dry_run: bool,
    pub dry_out: reshifter_etcd::load::DryOut,
    /// What opens an encrypted backup (identity files, a passphrase file).
    pub keys: KeyArgs,
}

/// Restore backup `id` from `target` (pulled first from `remote` when given) into `endpoint`.
pub fn restore_backup(
    endpoint: &Endpoint,
    id: &str,
    target: &Path,
    remote: &Remote,
    how: &HowRestore,
) -> Result<Loaded> {
    if reshifter_s3::reshifter_backup_id(&format!("{id}.zip")).is_none() {
        return Err(Error::new(Kind::Usage, format!("{id} is not a valid backup ID (its Unix seconds)")));
    }
    std::fs::create_dir_all(target)
        .map_err(|e| Error::with_source(Kind::Usage, format!("cannot make {}", target.display()), e))?;
    let local = target.join(format!("{id}.zip"));
    // From a bucket, the object is pulled under a temporary name and removed after: a local
    // backup of the same id is never replaced (not even by a dry run).
    let pulled = match remote.s3() {
        Some((s3, bucket)) => {
            let tmp = Temp::new(target, &format!("{id}.pulled"))?;
            let mut pull = PullOptions::new(S3Uri { bucket, key: format!("{id}.zip") }, s3);
            pull.output = Some(tmp.path.clone());
            pull.layout = S3Layout::Reshifter;
            pull.report = endpoint.report.clone();
            reshifter_s3::pull(pull)?;
            Some(tmp)
        }
        None => None,
    };
    let zip = pulled.as_ref().map_or(local.clone(), |t| t.path.clone());
    if !zip.exists() {
        return Err(Error::new(Kind::Usage, format!("no backup {id} (looked for {})", local.display())));
    }
    let stream = Temp::new(target, &format!("{id}.restore.ndjson"))?;
    reshifter_archive::unpack::unpack(UnpackOptions {
        input: Some(zip),
        output: Some(stream.path.clone()),
        passphrase_file: how.keys.passphrase_file.clone(),
        identity_file: how.keys.identity_files.clone(),
        quiet: true,
        report: endpoint.report.clone(),
        ..UnpackOptions::default()
    })?;
    drop(pulled);
    let header = StreamReader::new(reshifter_format::io::open_input(Some(&stream.path))?)?.header().clone();
    // The API asked for, else the backup's own.
    let v2 = match endpoint.api()? {
        "v2" => true,
        "v3" => false,
        _ => header.api == Api::V2,
    };
    let api = if v2 { LoadApi::V2 } else { LoadApi::V3 };
    let mut opts = LoadOptions::new(endpoint.etcd_args()?);
    opts.input = Some(stream.path.clone());
    opts.api = api;
    opts.mode = how.mode.unwrap_or(Mode::Overwrite);
    opts.dry_run = how.dry_run;
    opts.dry_out = how.dry_out.clone();
    opts.report = endpoint.report.clone();
    reshifter_etcd::load::load(&opts)
}

/// `rcli restore`: the keys restored and the seconds it took, on stdout.
pub fn restore(o: RestoreOptions) -> Result<()> {
    say_default_bucket(&o.remote);
    let started = Instant::now();
    let loaded = restore_backup(&o.endpoint, &o.backupid, &o.target, &o.remote, &HowRestore::default())?;
    let restored = loaded.keys_restored();
    let secs = started.elapsed().as_secs_f64();
    let mut out = reshifter_format::io::stdout();
    if o.json {
        writeln!(
            out,
            "{}",
            serde_json::json!({"outcome": "success", "keysrestored": restored, "elapsedtimeinsec": secs})
        )?;
    } else {
        writeln!(out, "restored {restored} keys from {}.zip in {secs:.1} s", o.backupid)?;
    }
    out.flush()?;
    reshifter_format::report::stderr_line(format_args!("rcli: {}", loaded.describe(false)));
    Ok(())
}

/// What `explore` finds of an endpoint (ReShifter's /v1/explorer answer).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Probe {
    pub etcdversion: String,
    pub apiversion: String,
    pub etcdsec: String,
    pub k8sdistro: String,
    #[serde(skip)]
    pub v2_api: String,
}

/// Probe an endpoint: version, API, TLS, Kubernetes distribution.
pub fn probe(e: &Endpoint) -> Result<Probe> {
    let args = e.etcd_args()?;
    let named = e.etcd_prefix.roots();
    let r = reshifter_etcd::explore::explore(&args, &named)?;
    let v3_roots = reshifter_etcd::explore::kubernetes_roots(&args, false, &named)?;
    let v2_roots = reshifter_etcd::explore::kubernetes_roots(&args, true, &named).unwrap_or_default();
    let api = if v3_roots.is_empty() && !v2_roots.is_empty() { "v2" } else { "v3" };
    let secure = if r.tls { "secure etcd, SSL/TLS configured" } else { "insecure etcd, no SSL/TLS configured" };
    Ok(Probe {
        etcdversion: r.etcd_version,
        apiversion: api.into(),
        etcdsec: secure.into(),
        k8sdistro: r.distribution,
        v2_api: r.v2_api,
    })
}

/// `rcli explore`: version, API, security, distribution, as ReShifter printed them.
pub fn explore(e: Endpoint) -> Result<()> {
    let p = probe(&e)?;
    let mut out = reshifter_format::io::stdout();
    writeln!(
        out,
        "Version: {}\nAPI: {}\nSecure: {}\nDistro: {}\nv2 API: {}",
        p.etcdversion, p.apiversion, p.etcdsec, p.k8sdistro, p.v2_api
    )?;
    out.flush()?;
    Ok(())
}

/// Keys and value bytes under each Kubernetes root that holds keys (v2 directories not counted).
pub fn count_roots(e: &Endpoint) -> Result<Vec<(String, u64, u64)>> {
    let (prefixes, v2) = roots(e)?;
    let dir = std::env::temp_dir();
    let mut out = Vec::new();
    for p in &prefixes {
        let tmp = Temp::new(&dir, "stats.ndjson")?;
        dump(e, std::slice::from_ref(p), v2, &tmp.path)?;
        let mut count = (0u64, 0u64);
        for r in StreamReader::new(reshifter_format::io::open_input(Some(&tmp.path))?)? {
            let r = r?;
            if !reshifter_format::is_v2_dir(&r) {
                count.0 += 1;
                count.1 += r.value.len() as u64;
            }
        }
        out.push((p.clone(), count.0, count.1));
    }
    Ok(out)
}

/// `rcli stats`: keys and value bytes under the Kubernetes and OpenShift roots.
pub fn stats(e: Endpoint) -> Result<()> {
    let mut vanilla = (0u64, 0u64);
    let mut lines = Vec::new();
    for (root, keys, bytes) in count_roots(&e)? {
        if root.starts_with("/openshift.io") {
            lines.push(format!("OpenShift [keys:{keys}, size:{bytes}]"));
        } else {
            vanilla = (vanilla.0 + keys, vanilla.1 + bytes);
        }
    }
    let mut out = reshifter_format::io::stdout();
    writeln!(out, "Vanilla Kubernetes [keys:{}, size:{}]", vanilla.0, vanilla.1)?;
    for l in lines {
        writeln!(out, "{l}")?;
    }
    out.flush()?;
    Ok(())
}

/// `rcli version`.
pub fn version() -> Result<()> {
    let mut out = reshifter_format::io::stdout();
    writeln!(out, "rcli (reshifter) in version {}", env!("CARGO_PKG_VERSION"))?;
    out.flush()?;
    Ok(())
}

/// The subcommands, for the tool.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Manages backups of a Kubernetes cluster
    #[command(subcommand)]
    Backup(Backup),
    /// Performs a restore of a Kubernetes cluster from a backup, local or in S3
    Restore(RestoreOptions),
    /// Probes an etcd endpoint: version, API, TLS, Kubernetes distribution
    Explore(Endpoint),
    /// Counts the Kubernetes keys of an etcd endpoint and their size
    Stats(Endpoint),
    /// Prints the version
    Version,
}

#[derive(Debug, clap::Subcommand)]
pub enum Backup {
    /// Creates a backup: <target>/<backup id>.zip (and in S3 with --remote); prints the id
    Create(CreateOptions),
    /// Lists the backup ids, local or in S3
    List(ListOptions),
}

/// Run one subcommand.
pub fn run(c: Command) -> Result<()> {
    match c {
        Command::Backup(Backup::Create(o)) => backup_create(o),
        Command::Backup(Backup::List(o)) => backup_list(o),
        Command::Restore(o) => restore(o),
        Command::Explore(e) => explore(e),
        Command::Stats(e) => stats(e),
        Command::Version => version(),
    }
}
