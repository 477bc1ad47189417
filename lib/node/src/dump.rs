//! node-dump: the control-plane files of a node as a files stream.
//!
//! Layouts are found by looking under the root (FORMAT.md, "Files streams", says what each
//! takes): kubeadm's `/etc/kubernetes` (pki, kubeconfigs, static-pod manifests, and every file
//! the manifests and kubeconfigs name), k3s's and rke2's server directories and config files;
//! `--include` globs add anything else. Every directory on the way is carried with its mode and
//! owner, and every symlink met with its target.

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use reshifter_format::error::{Error, Kind, Result};
use reshifter_format::files::{FileEntry, FileKind, FilesWriter};
use reshifter_format::io::Output;
use reshifter_format::report::{Reporter, human_bytes};
use reshifter_format::{Header, MAX_VALUE, StreamKind, Trailer};

use crate::owners::Owners;
use crate::tree::{self, Rel, Skipped};

/// A layout node-dump knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Layout {
    /// kubeadm: /etc/kubernetes/{pki/**, *.conf, manifests/*} and the files they name
    Kubeadm,
    /// k3s: /var/lib/rancher/k3s/server/{token, tls, cred, manifests}, /etc/rancher/k3s/config.yaml*
    K3s,
    /// rke2: as k3s under rke2, and the static pods in /var/lib/rancher/rke2/agent/pod-manifests
    Rke2,
    /// None: only what --include names
    None,
}

impl Layout {
    pub fn name(self) -> &'static str {
        match self {
            Layout::Kubeadm => "kubeadm",
            Layout::K3s => "k3s",
            Layout::Rke2 => "rke2",
            Layout::None => "none",
        }
    }
}

/// node-dump's options (`Default`: the layouts found under `/`, to stdout, with a summary).
#[derive(Debug, Clone, clap::Args)]
pub struct DumpOptions {
    /// Where the summary and warnings go.
    #[arg(skip)]
    pub report: Reporter,

    /// The node's filesystem root: layouts are looked for under it, and paths in the stream are
    /// relative to it (a mounted disk of a node works as well as /)
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,

    /// Take this layout (repeatable; default: every one found by looking; `none` takes only
    /// --include)
    #[arg(long = "layout", value_enum, value_name = "LAYOUT")]
    pub layouts: Vec<Layout>,

    /// Also take what matches GLOB, relative to the root (`etc/cni/**`, `etc/default/kubelet`);
    /// repeatable. `*` stays within a directory, `**` crosses them
    #[arg(long = "include", value_name = "GLOB")]
    pub include: Vec<String>,

    /// Leave out what matches GLOB, relative to the root (repeatable)
    #[arg(long = "exclude", value_name = "GLOB")]
    pub exclude: Vec<String>,

    /// Write to FILE (mode 0600, renamed into place when complete) instead of stdout
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// No summary on stderr
    #[arg(short, long)]
    pub quiet: bool,
}

impl Default for DumpOptions {
    fn default() -> Self {
        DumpOptions {
            report: Reporter::default(),
            root: PathBuf::from("/"),
            layouts: Vec::new(),
            include: Vec::new(),
            exclude: Vec::new(),
            output: None,
            quiet: false,
        }
    }
}

/// What a dump took.
#[derive(Debug, Clone)]
pub struct Dumped {
    pub trailer: Trailer,
    pub layouts: Vec<String>,
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub bytes: u64,
}

/// Flags of static pods (and k3s/rke2 `*-arg` entries) are read for absolute paths of regular
/// files; these (with the CAs and keys) are what an API server needs to start as it did.
pub(crate) fn named_in_flags(args: &[String], out: &mut Vec<String>) {
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if let Some(flag) = a.strip_prefix("--").or_else(|| a.strip_prefix('-')) {
            match flag.split_once('=') {
                Some((_, v)) => out.extend(v.split(',').filter(|p| p.starts_with('/')).map(str::to_string)),
                None => {
                    if let Some(v) = args.get(i + 1).filter(|v| v.starts_with('/')) {
                        out.push(v.clone());
                        i += 1;
                    }
                }
            }
        } else if let Some((_, v)) = a.split_once('=')
            && v.starts_with('/')
        {
            out.push(v.to_string());
        }
        i += 1;
    }
}

/// The strings of a static pod's containers' `command` and `args`.
pub(crate) fn pod_args(doc: &serde_yaml_ng::Value) -> Vec<String> {
    let mut out = Vec::new();
    let spec = &doc["spec"];
    for list in ["initContainers", "containers"] {
        for c in spec[list].as_sequence().into_iter().flatten() {
            for field in ["command", "args"] {
                out.extend(c[field].as_sequence().into_iter().flatten().filter_map(|v| v.as_str().map(str::to_string)));
            }
        }
    }
    out
}

/// Paths a kubeconfig names: its CAs, client certificates and keys (relative ones from its
/// directory).
fn kubeconfig_paths(doc: &serde_yaml_ng::Value, dir: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut take = |v: &serde_yaml_ng::Value| {
        if let Some(p) = v.as_str() {
            if p.starts_with('/') {
                out.push(p.to_string());
            } else if !p.is_empty() {
                out.push(format!("/{}/{p}", String::from_utf8_lossy(dir)));
            }
        }
    };
    for c in doc["clusters"].as_sequence().into_iter().flatten() {
        take(&c["cluster"]["certificate-authority"]);
    }
    for u in doc["users"].as_sequence().into_iter().flatten() {
        take(&u["user"]["client-certificate"]);
        take(&u["user"]["client-key"]);
    }
    out
}

/// The largest manifest or config file parsed for the paths it names.
const MAX_PARSED: usize = 1 << 20;

/// The paths taken, and what was skipped, as they are gathered.
struct Gather<'a> {
    root: &'a Path,
    paths: BTreeSet<Rel>,
    skipped: Skipped,
    missing: Vec<String>,
}

impl Gather<'_> {
    /// The tree at `rel` (resolved within the root), if it exists.
    fn tree(&mut self, rel: &str) -> Result<bool> {
        let Some(r) = tree::resolve(self.root, rel.as_bytes()) else { return Ok(false) };
        self.paths.extend(r.links);
        if r.meta.is_dir() {
            tree::walk(self.root, &r.path, &mut self.paths, &mut self.skipped).map_err(failure)?;
        } else if r.meta.is_file() {
            self.paths.insert(r.path);
        }
        Ok(true)
    }

    /// The regular file a configuration names (absolute on the node), with the links on the way.
    fn named(&mut self, path: &str) {
        match tree::resolve_or_links(self.root, path.as_bytes()) {
            Ok(r) if r.meta.is_file() => {
                self.paths.extend(r.links);
                self.paths.insert(r.path);
            }
            Ok(_) => {}
            Err(links) => {
                // A dangling link is carried as it is: the node holds it so.
                self.paths.extend(links);
                self.missing.push(path.to_string());
            }
        }
    }

    /// The files directly in `dir` whose names end in one of `ends`.
    fn children(&mut self, dir: &str, ends: &[&str]) -> Result<Vec<Rel>> {
        let Some(r) = tree::resolve(self.root, dir.as_bytes()) else { return Ok(Vec::new()) };
        if !r.meta.is_dir() {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for (rel, t) in tree::list(self.root, &r.path).map_err(failure)? {
            let name = &rel[rel.iter().rposition(|&b| b == b'/').map_or(0, |i| i + 1)..];
            if !ends.iter().any(|e| name.ends_with(e.as_bytes())) {
                continue;
            }
            if t.is_dir() || t.is_file() || t.is_symlink() {
                out.push(rel);
            } else {
                self.skipped.special.push(rel);
            }
        }
        self.paths.extend(r.links);
        self.paths.extend(out.iter().cloned());
        Ok(out)
    }

    /// Parse a YAML or JSON file taken (a manifest, a kubeconfig, a config) for the paths it
    /// names.
    fn parse(&self, rel: &[u8]) -> Option<serde_yaml_ng::Value> {
        let r = tree::resolve(self.root, rel)?;
        let data = tree::read_file(self.root, &r.path, MAX_PARSED).ok()?;
        serde_yaml_ng::from_slice(&data).ok()
    }

    fn kubeadm(&mut self) -> Result<()> {
        self.tree("etc/kubernetes/pki")?;
        for conf in self.children("etc/kubernetes", &[".conf"])? {
            if let Some(doc) = self.parse(&conf) {
                for p in kubeconfig_paths(&doc, b"etc/kubernetes") {
                    self.named(&p);
                }
            }
        }
        self.static_pods("etc/kubernetes/manifests")
    }

    fn static_pods(&mut self, dir: &str) -> Result<()> {
        self.tree(dir)?;
        for m in self.children(dir, &[".yaml", ".yml", ".json", ".manifest"])? {
            if let Some(doc) = self.parse(&m) {
                let mut named = Vec::new();
                named_in_flags(&pod_args(&doc), &mut named);
                for p in named {
                    self.named(&p);
                }
            }
        }
        Ok(())
    }

    /// k3s and rke2: the server's token, TLS, credentials (the encryption config among them) and
    /// manifests, the config file and its drop-ins, and the files their `*-arg` flags name.
    fn rancher(&mut self, dist: &str) -> Result<()> {
        let server = format!("var/lib/rancher/{dist}/server");
        for part in ["token", "agent-token", "node-token", "tls", "cred", "manifests"] {
            self.tree(&format!("{server}/{part}"))?;
        }
        self.tree(&format!("etc/rancher/{dist}/config.yaml"))?;
        self.tree(&format!("etc/rancher/{dist}/config.yaml.d"))?;
        let mut configs = vec![format!("etc/rancher/{dist}/config.yaml").into_bytes()];
        configs.extend(self.children(&format!("etc/rancher/{dist}/config.yaml.d"), &[".yaml", ".yml"])?);
        for c in configs {
            let Some(doc) = self.parse(&c) else { continue };
            let mut named = Vec::new();
            for (k, v) in doc.as_mapping().into_iter().flatten() {
                let key = k.as_str().unwrap_or("");
                if key.ends_with("-arg") {
                    let args: Vec<String> = match v {
                        serde_yaml_ng::Value::Sequence(s) => {
                            s.iter().filter_map(|x| x.as_str().map(str::to_string)).collect()
                        }
                        v => v.as_str().map(|s| vec![s.to_string()]).unwrap_or_default(),
                    };
                    named_in_flags(&args, &mut named);
                } else if let Some(p) = v.as_str().filter(|p| p.starts_with('/')) {
                    named.push(p.to_string());
                }
            }
            for p in named {
                if tree::resolve(self.root, p.as_bytes()).is_some_and(|r| r.meta.is_file()) {
                    self.named(&p);
                }
            }
        }
        if dist == "rke2" {
            self.static_pods("var/lib/rancher/rke2/agent/pod-manifests")?;
        }
        Ok(())
    }

    /// What `--include` globs match.
    fn include(&mut self, globs: &[String]) -> Result<()> {
        for g in globs {
            let glob = g.trim_start_matches('/');
            let set = glob_set(std::slice::from_ref(&glob.to_string()))?;
            // Walk from the glob's literal directory part.
            let base: Vec<&str> = glob.split('/').take_while(|c| !c.contains(['*', '?', '[', '{'])).collect::<Vec<_>>();
            let base =
                if base.len() == glob.split('/').count() { base[..base.len() - 1].join("/") } else { base.join("/") };
            let Some(r) = tree::resolve(self.root, base.as_bytes()) else {
                self.missing.push(g.clone());
                continue;
            };
            let before = self.paths.len();
            if r.meta.is_dir() {
                let mut keep = |p: &[u8]| set.is_match(Path::new(&*String::from_utf8_lossy(p)));
                tree::walk_matching(self.root, &r.path, &mut self.paths, &mut self.skipped, &mut keep)
                    .map_err(failure)?;
            }
            if self.paths.len() == before {
                self.missing.push(g.clone());
            } else {
                self.paths.extend(r.links);
            }
        }
        Ok(())
    }
}

fn failure(m: String) -> Error {
    Error::new(Kind::Failure, m)
}

fn glob_set(globs: &[String]) -> Result<globset::GlobSet> {
    let mut b = globset::GlobSetBuilder::new();
    for g in globs {
        let glob = globset::GlobBuilder::new(g.trim_start_matches('/'))
            .literal_separator(true)
            .build()
            .map_err(|e| Error::new(Kind::Usage, format!("glob {g:?}: {e}")))?;
        b.add(glob);
    }
    b.build().map_err(|e| Error::new(Kind::Usage, format!("globs: {e}")))
}

/// The layouts present under `root`.
pub fn detect(root: &Path) -> Vec<Layout> {
    let is = |p: &str, dir: bool| tree::resolve(root, p.as_bytes()).is_some_and(|r| r.meta.is_dir() == dir);
    let mut found = Vec::new();
    if is("etc/kubernetes/manifests", true) || is("etc/kubernetes/pki", true) || is("etc/kubernetes/admin.conf", false)
    {
        found.push(Layout::Kubeadm);
    }
    for (l, dist) in [(Layout::K3s, "k3s"), (Layout::Rke2, "rke2")] {
        if is(&format!("var/lib/rancher/{dist}/server"), true) {
            found.push(l);
        }
    }
    found
}

/// Every ancestor directory of the paths taken (so their modes and owners travel too).
fn with_ancestors(paths: BTreeSet<Rel>) -> BTreeSet<Rel> {
    let mut all = paths.clone();
    for p in &paths {
        for (i, &b) in p.iter().enumerate() {
            if b == b'/' {
                all.insert(p[..i].to_vec());
            }
        }
    }
    all
}

/// One path as an entry: its metadata from lstat, a file's bytes or a link's target.
fn entry(root: &Path, rel: Rel, owners: &Owners) -> Result<Option<FileEntry>> {
    let Some(meta) = tree::lstat(root, &rel) else { return Ok(None) };
    let (mode, uid, gid, mtime, mtime_nsec) = tree::stat_parts(&meta);
    let t = meta.file_type();
    let read_err = |m: String| Error::new(Kind::Failure, m);
    let (kind, content, target) = if t.is_dir() {
        (FileKind::Dir, Vec::new(), Vec::new())
    } else if t.is_file() {
        (FileKind::File, tree::read_file_sized(root, &rel, MAX_VALUE, meta.len()).map_err(read_err)?, Vec::new())
    } else if t.is_symlink() {
        (FileKind::Symlink, Vec::new(), tree::read_link(root, &rel).map_err(read_err)?)
    } else {
        return Ok(None);
    };
    Ok(Some(FileEntry {
        path: rel,
        kind,
        mode,
        uid,
        gid,
        user: owners.user(uid),
        group: owners.group(gid),
        mtime,
        mtime_nsec,
        target,
        content,
    }))
}

/// The absolute, link-free form of the root, as the header names it.
fn root_name(root: &Path) -> Result<String> {
    let abs = std::fs::canonicalize(root)
        .map_err(|e| Error::with_source(Kind::Usage, format!("--root {}", root.display()), e))?;
    if !abs.is_dir() {
        return Err(Error::new(Kind::Usage, format!("--root {} is not a directory", root.display())));
    }
    abs.to_str()
        .map(str::to_string)
        .ok_or_else(|| Error::new(Kind::Usage, format!("--root {} is not UTF-8", abs.display())))
}

fn host_name(root: &Path) -> Option<String> {
    let from = |p: PathBuf| std::fs::read_to_string(p).ok().map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    from(root.join("etc/hostname")).or_else(|| from(PathBuf::from("/proc/sys/kernel/hostname")))
}

/// Run node-dump.
pub fn dump(o: DumpOptions) -> Result<Dumped> {
    let report = o.report.or_name("node-dump");
    if reshifter_format::io::is_stdio(o.output.as_deref()) && std::io::stdout().is_terminal() {
        return Err(Error::new(
            Kind::Usage,
            "refusing to write private keys to a terminal: redirect to a file or pipe into \
             `archive-pack --recipient ...` (node-dump | archive-pack --recipient age1... > node.zip.age)",
        ));
    }
    let root_text = root_name(&o.root)?;
    let root = PathBuf::from(&root_text);
    let layouts = if o.layouts.is_empty() { detect(&root) } else { o.layouts.clone() };
    if layouts.iter().all(|l| *l == Layout::None) && o.include.is_empty() {
        return Err(Error::new(
            Kind::Usage,
            format!(
                "no control-plane layout (kubeadm, k3s, rke2) under {root_text}: name the files with --include GLOB, \
                 or the root with --root DIR"
            ),
        ));
    }
    let exclude = glob_set(&o.exclude)?;
    let mut g = Gather { root: &root, paths: BTreeSet::new(), skipped: Skipped::default(), missing: Vec::new() };
    for l in &layouts {
        match l {
            Layout::Kubeadm => g.kubeadm()?,
            Layout::K3s => g.rancher("k3s")?,
            Layout::Rke2 => g.rancher("rke2")?,
            Layout::None => {}
        }
    }
    g.include(&o.include)?;
    let Gather { paths, skipped, mut missing, .. } = g;
    missing.sort();
    missing.dedup();
    let paths = with_ancestors(paths);

    let mut header = Header::new(&format!("node-dump {}", env!("CARGO_PKG_VERSION")));
    header.kind = StreamKind::Files;
    header.root = Some(root_text.clone());
    header.host = host_name(&root);
    let mut names: Vec<String> = layouts.iter().filter(|l| **l != Layout::None).map(|l| l.name().into()).collect();
    if !o.include.is_empty() {
        names.push("include".into());
    }
    header.layouts = names.clone();
    let owners = Owners::of(&root);
    let mut w = FilesWriter::new(Output::create(o.output.as_deref())?, &header)?;
    let (mut files, mut dirs, mut symlinks) = (0u64, 0u64, 0u64);
    for rel in paths {
        if exclude.is_match(Path::new(&*String::from_utf8_lossy(&rel))) {
            continue;
        }
        let Some(e) = entry(&root, rel, &owners)? else { continue };
        match e.kind {
            FileKind::File => files += 1,
            FileKind::Dir => dirs += 1,
            FileKind::Symlink => symlinks += 1,
        }
        w.write(&e)?;
    }
    let bytes = w.bytes();
    let (out, trailer) = w.finish()?;
    out.finish()?;
    for p in &skipped.special {
        report.say(format!("left out {}: device nodes, FIFOs and sockets are not carried", String::from_utf8_lossy(p)));
    }
    for m in &missing {
        report.say(format!("note: {m} is named but not present under {root_text}"));
    }
    if !o.quiet {
        report.say(format!(
            "{files} files, {dirs} directories, {symlinks} symlinks, {} from {root_text} ({})",
            human_bytes(bytes),
            if names.is_empty() { "no layout".to_string() } else { names.join(", ") }
        ));
    }
    Ok(Dumped { trailer, layouts: names, files, dirs, symlinks, bytes })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Dump {
        #[command(flatten)]
        o: DumpOptions,
    }

    #[test]
    fn the_default_is_the_tools() {
        assert_eq!(format!("{:?}", DumpOptions::default()), format!("{:?}", Dump::parse_from(["t"]).o));
    }

    #[test]
    fn flags_name_files() {
        let mut out = Vec::new();
        let args: Vec<String> = [
            "kube-apiserver",
            "--encryption-provider-config=/etc/kubernetes/enc/enc.yaml",
            "--audit-policy-file",
            "/etc/kubernetes/audit.yaml",
            "--etcd-servers=https://127.0.0.1:2379",
            "--secure-port=6443",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        named_in_flags(&args, &mut out);
        assert_eq!(out, ["/etc/kubernetes/enc/enc.yaml", "/etc/kubernetes/audit.yaml"]);
    }
}
