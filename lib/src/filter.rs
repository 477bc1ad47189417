//! kv-filter and kv-seal: select records of a stream, rewrite key prefixes, re-seal.
//!
//! Selection (docs/kv-filter.md):
//! - key patterns — `--prefix`, `--glob`, `--regex`, ReShifter's `filter:a,b` (substrings): a
//!   record is kept when it matches at least one, if any is given;
//! - Kubernetes selectors — `--resource`, `--namespace`, `--name`: each one given must match;
//! - every `--exclude-*` that matches drops the record: excludes win.
//!
//! The output is a valid stream: the header records the command in `history`, its `prefixes`
//! say what the output fully covers (so that `etcd-load --mode sync` never deletes what a filter
//! merely left out), and the trailer is recomputed. Records that are kept unchanged are copied
//! line for line.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use globset::{GlobSet, GlobSetBuilder};
use regex::bytes::{Regex, RegexSet};

use crate::cli::{Progress, human_bytes, secs};
use crate::error::{Error, Kind, Result};
use crate::format::{Record, StreamReader, StreamWriter, Verify, encode_record};
use crate::io::Output;
use crate::k8s;
use crate::par::{ParReader, ValueInfo};

/// What to keep, drop and rewrite.
#[derive(Debug, Clone, Default)]
pub struct FilterOptions {
    pub input: Option<PathBuf>,
    pub output: Option<PathBuf>,
    pub prefixes: Vec<String>,
    pub exclude_prefixes: Vec<String>,
    pub globs: Vec<String>,
    pub exclude_globs: Vec<String>,
    pub regexes: Vec<String>,
    pub exclude_regexes: Vec<String>,
    pub resources: Vec<String>,
    pub exclude_resources: Vec<String>,
    pub namespaces: Vec<String>,
    pub exclude_namespaces: Vec<String>,
    pub name: Option<String>,
    /// ReShifter's backup strategy: `raw` or `filter:a,b`.
    pub strategy: Option<String>,
    /// `OLD=NEW` prefix rewrites, first match wins.
    pub rewrites: Vec<String>,
    /// The command line, for the header's history.
    pub invocation: String,
    pub quiet: bool,
}

/// A compiled filter.
pub struct Matcher {
    include_prefixes: Vec<Vec<u8>>,
    include_substrings: Vec<Vec<u8>>,
    include_globs: Option<GlobSet>,
    include_regexes: Option<RegexSet>,
    exclude_prefixes: Vec<Vec<u8>>,
    exclude_globs: Option<GlobSet>,
    exclude_regexes: Option<RegexSet>,
    resources: Vec<String>,
    exclude_resources: Vec<String>,
    namespaces: Vec<String>,
    exclude_namespaces: Vec<String>,
    name: Option<Regex>,
    rewrites: Vec<(Vec<u8>, Vec<u8>)>,
}

fn split_list(items: &[String]) -> Vec<String> {
    items.iter().flat_map(|s| s.split(',')).map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()
}

fn globs(patterns: &[String]) -> Result<Option<GlobSet>> {
    if patterns.is_empty() {
        return Ok(None);
    }
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        let g = globset::GlobBuilder::new(p)
            .literal_separator(true)
            .build()
            .map_err(|e| Error::new(Kind::Usage, format!("bad glob {p:?}: {e}")))?;
        b.add(g);
    }
    Ok(Some(b.build().map_err(|e| Error::new(Kind::Usage, format!("bad globs: {e}")))?))
}

fn regexes(patterns: &[String]) -> Result<Option<RegexSet>> {
    if patterns.is_empty() {
        return Ok(None);
    }
    RegexSet::new(patterns).map(Some).map_err(|e| Error::new(Kind::Usage, format!("bad regex: {e}")))
}

impl Matcher {
    pub fn new(o: &FilterOptions) -> Result<Self> {
        let mut include_substrings = Vec::new();
        if let Some(s) = &o.strategy {
            match s.trim() {
                "raw" | "" => {}
                other => match other.strip_prefix("filter:") {
                    Some(list) => {
                        include_substrings = list
                            .split(',')
                            .map(str::trim)
                            .filter(|x| !x.is_empty())
                            .map(|x| x.as_bytes().to_vec())
                            .collect()
                    }
                    None => {
                        return Err(Error::new(
                            Kind::Usage,
                            format!("unknown strategy {other:?}: ReShifter's strategies are raw and filter:a,b"),
                        ));
                    }
                },
            }
        }
        let mut rewrites = Vec::new();
        for r in &o.rewrites {
            let (old, new) = r
                .split_once('=')
                .ok_or_else(|| Error::new(Kind::Usage, format!("--rewrite-prefix {r:?}: expected OLD=NEW")))?;
            if old.is_empty() {
                return Err(Error::new(Kind::Usage, "--rewrite-prefix: OLD must not be empty"));
            }
            rewrites.push((old.as_bytes().to_vec(), new.as_bytes().to_vec()));
        }
        let name = o
            .name
            .as_deref()
            .map(|n| Regex::new(n).map_err(|e| Error::new(Kind::Usage, format!("bad --name regex: {e}"))))
            .transpose()?;
        Ok(Matcher {
            include_prefixes: o.prefixes.iter().map(|p| p.as_bytes().to_vec()).collect(),
            include_substrings,
            include_globs: globs(&o.globs)?,
            include_regexes: regexes(&o.regexes)?,
            exclude_prefixes: o.exclude_prefixes.iter().map(|p| p.as_bytes().to_vec()).collect(),
            exclude_globs: globs(&o.exclude_globs)?,
            exclude_regexes: regexes(&o.exclude_regexes)?,
            resources: split_list(&o.resources).iter().map(|r| k8s::canonical_resource(r)).collect(),
            exclude_resources: split_list(&o.exclude_resources).iter().map(|r| k8s::canonical_resource(r)).collect(),
            namespaces: split_list(&o.namespaces),
            exclude_namespaces: split_list(&o.exclude_namespaces),
            name,
            rewrites,
        })
    }

    fn has_key_includes(&self) -> bool {
        !self.include_prefixes.is_empty()
            || !self.include_substrings.is_empty()
            || self.include_globs.is_some()
            || self.include_regexes.is_some()
    }

    /// True when the only selection is by prefix: the output then covers those prefixes whole.
    fn prefix_only(&self) -> bool {
        self.include_substrings.is_empty()
            && self.include_globs.is_none()
            && self.include_regexes.is_none()
            && self.exclude_prefixes.is_empty()
            && self.exclude_globs.is_none()
            && self.exclude_regexes.is_none()
            && self.resources.is_empty()
            && self.exclude_resources.is_empty()
            && self.namespaces.is_empty()
            && self.exclude_namespaces.is_empty()
            && self.name.is_none()
    }

    /// Should this key be kept?
    pub fn keep(&self, key: &[u8]) -> bool {
        let path = Path::new(OsStr::from_bytes(key));
        if self.exclude_prefixes.iter().any(|p| key.starts_with(p))
            || self.exclude_globs.as_ref().is_some_and(|g| g.is_match(path))
            || self.exclude_regexes.as_ref().is_some_and(|r| r.is_match(key))
        {
            return false;
        }
        if self.has_key_includes()
            && !(self.include_prefixes.iter().any(|p| key.starts_with(p))
                || self.include_substrings.iter().any(|s| key.windows(s.len()).any(|w| w == s.as_slice()))
                || self.include_globs.as_ref().is_some_and(|g| g.is_match(path))
                || self.include_regexes.as_ref().is_some_and(|r| r.is_match(key)))
        {
            return false;
        }
        let needs_k8s = !self.resources.is_empty()
            || !self.exclude_resources.is_empty()
            || !self.namespaces.is_empty()
            || !self.exclude_namespaces.is_empty()
            || self.name.is_some();
        if !needs_k8s {
            return true;
        }
        let parsed = k8s::parse(key);
        let resource = parsed.as_ref().map(|k| k.resource.as_str());
        // The Namespace object of a namespace counts as being in it.
        let ns_of = |k: &k8s::K8sKey| -> Option<String> {
            match (k.namespace, k.resource.as_str()) {
                (Some(ns), _) => Some(ns.to_string()),
                (None, "namespaces") => Some(k.name.to_string()),
                _ => None,
            }
        };
        let ns = parsed.as_ref().and_then(ns_of);
        if let Some(r) = resource
            && self.exclude_resources.iter().any(|x| x == r)
        {
            return false;
        }
        if let Some(n) = &ns
            && self.exclude_namespaces.iter().any(|x| x == n)
        {
            return false;
        }
        if !self.resources.is_empty() && !resource.is_some_and(|r| self.resources.iter().any(|x| x == r)) {
            return false;
        }
        if !self.namespaces.is_empty() && !ns.as_ref().is_some_and(|n| self.namespaces.iter().any(|x| x == n)) {
            return false;
        }
        if let Some(re) = &self.name
            && !parsed.as_ref().is_some_and(|k| !k.name.is_empty() && re.is_match(k.name.as_bytes()))
        {
            return false;
        }
        true
    }

    /// The key after prefix rewriting, when a rule applies.
    pub fn rewrite(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.rewrites.iter().find(|(old, _)| key.starts_with(old)).map(|(old, new)| {
            let mut k = new.clone();
            k.extend_from_slice(&key[old.len()..]);
            k
        })
    }

    fn rewrite_str(&self, s: &str) -> String {
        match self.rewrite(s.as_bytes()) {
            Some(k) => String::from_utf8_lossy(&k).into_owned(),
            None => s.to_string(),
        }
    }
}

/// What a worker decided about one record.
struct Kept {
    size: u64,
    line: Option<Out>,
}

/// A line to write, with its key, value hash and length, and revisions.
struct Out {
    line: Vec<u8>,
    key: Vec<u8>,
    sha256: [u8; 32],
    len: usize,
    revs: [i64; 4],
}

/// Worker threads for stream reading: the cores, at most 4.
pub fn threads() -> usize {
    crate::par::cores().min(4)
}

/// Run kv-filter.
pub fn run(o: FilterOptions) -> anyhow::Result<()> {
    let started = Instant::now();
    let m = Matcher::new(&o)?;
    let reader = ParReader::open(o.input.as_deref(), Verify::Full)?;
    let mut header = reader.header().clone();
    header.history.push(o.invocation.clone());
    if !m.prefix_only() {
        // The output no longer holds every key under any prefix.
        header.prefixes = Vec::new();
    } else if !m.include_prefixes.is_empty() {
        header.prefixes = narrowed(&header.prefixes, &o.prefixes);
    }
    if !m.rewrites.is_empty() {
        header.prefixes = header.prefixes.iter().map(|p| m.rewrite_str(p)).collect();
        header.sorted = false;
    }
    let out = Output::create(o.output.as_deref())?;
    let mut w = StreamWriter::new(out, &header)?;
    let mut progress = Progress::new("kv-filter");
    let (mut read, mut bytes) = (0u64, 0u64);
    // Workers decide and re-encode; this thread writes in order.
    let map = |mut r: Record, v: &ValueInfo, raw: &[u8]| -> Result<Kept> {
        let size = (r.key.len() + r.value.len()) as u64;
        if !m.keep(&r.key) {
            return Ok(Kept { size, line: None });
        }
        let revs = r.revs();
        let line = match m.rewrite(&r.key) {
            None => raw.to_vec(),
            Some(k) => {
                r.key = k;
                let mut line = Vec::with_capacity(raw.len() + 16);
                encode_record(&mut line, &r);
                line.pop();
                line
            }
        };
        Ok(Kept { size, line: Some(Out { line, key: r.key, sha256: v.sha256, len: v.len, revs }) })
    };
    let sink = |k: Kept| -> Result<()> {
        read += 1;
        bytes += k.size;
        if let Some(o) = k.line {
            w.write_line_meta(&o.line, &o.key, &o.sha256, o.len, o.revs)?;
        }
        if read % 4096 == 0 {
            progress.update(|| format!("{read} keys read, {} kept", w.count()));
        }
        Ok(())
    };
    reader.run(threads(), map, sink)?;
    let kept = w.count();
    let (out, _) = w.finish()?;
    out.finish()?;
    progress.clear();
    if !o.quiet {
        eprintln!("kv-filter: {kept} of {read} keys kept ({} read) in {}", human_bytes(bytes), secs(started.elapsed()));
    }
    Ok(())
}

/// The include prefixes that lie within what the input covered.
fn narrowed(covered: &[String], includes: &[String]) -> Vec<String> {
    let mut out: Vec<String> = includes
        .iter()
        .filter(|p| covered.iter().any(|c| p.starts_with(c.as_str())))
        .cloned()
        .chain(covered.iter().filter(|c| includes.iter().any(|p| c.starts_with(p.as_str()))).cloned())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Run kv-seal: recompute the trailer of a stream whose records were changed (by jq), provided
/// its original trailer line is still there to prove the producer finished.
pub fn seal(input: Option<PathBuf>, output: Option<PathBuf>, quiet: bool) -> anyhow::Result<()> {
    let input = crate::io::open_input(input.as_deref())?;
    let mut reader = StreamReader::with_verify(input, Verify::PresenceOnly)?;
    let mut header = reader.header().clone();
    header.history.push("kv-seal".into());
    let out = Output::create(output.as_deref())?;
    let mut w = StreamWriter::new(out, &header)?;
    while let Some((r, hash)) = reader.next_record_hashed()? {
        w.write_line_hashed(reader.last_line(), &r, &hash)?;
    }
    let old = reader.trailer().map(|t| t.count).unwrap_or(0);
    let (out, t) = w.finish()?;
    out.finish()?;
    if !quiet {
        eprintln!("kv-seal: {} keys sealed (the old trailer counted {old})", t.count);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(f: impl FnOnce(&mut FilterOptions)) -> Matcher {
        let mut o = FilterOptions::default();
        f(&mut o);
        Matcher::new(&o).unwrap()
    }

    #[test]
    fn excludes_win_and_selectors_combine() {
        let f = m(|o| {
            o.namespaces = vec!["prod".into()];
            o.exclude_resources = vec!["events".into()];
        });
        assert!(f.keep(b"/registry/pods/prod/a"));
        assert!(f.keep(b"/registry/namespaces/prod"));
        assert!(!f.keep(b"/registry/events/prod/a.1"));
        assert!(!f.keep(b"/registry/pods/dev/a"));
        assert!(!f.keep(b"/registry/clusterroles/x"));
        let f = m(|o| {
            o.prefixes = vec!["/registry/pods/".into()];
            o.exclude_globs = vec!["/registry/pods/kube-*/**".into()];
        });
        assert!(f.keep(b"/registry/pods/prod/a"));
        assert!(!f.keep(b"/registry/pods/kube-system/a"));
        assert!(!f.keep(b"/registry/secrets/prod/a"));
    }

    #[test]
    fn reshifter_strategy_and_names() {
        let f = m(|o| o.strategy = Some("filter:deployment,service".into()));
        assert!(f.keep(b"/registry/deployments/x/y"));
        assert!(f.keep(b"/registry/services/specs/x/y"));
        assert!(f.keep(b"/registry/serviceaccounts/x/y"));
        assert!(!f.keep(b"/registry/pods/x/y"));
        let f = m(|o| o.name = Some("^web-".into()));
        assert!(f.keep(b"/registry/pods/x/web-1"));
        assert!(!f.keep(b"/registry/pods/x/api-1"));
        assert!(!f.keep(b"/not/k8s"));
    }

    #[test]
    fn rewrite() {
        let f = m(|o| o.rewrites = vec!["/registry/=/kubernetes.io/".into()]);
        assert_eq!(f.rewrite(b"/registry/pods/a/b").unwrap(), b"/kubernetes.io/pods/a/b");
        assert_eq!(f.rewrite(b"/other"), None);
    }

    #[test]
    fn narrowing() {
        assert_eq!(narrowed(&["".into()], &["/registry/pods/".into()]), vec!["/registry/pods/".to_string()]);
        assert_eq!(narrowed(&["/registry/pods/".into()], &["/registry/".into()]), vec!["/registry/pods/".to_string()]);
        assert!(narrowed(&["/a/".into()], &["/b/".into()]).is_empty());
    }
}
