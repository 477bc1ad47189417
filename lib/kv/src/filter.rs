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

use globset::{GlobSet, GlobSetBuilder};
use regex::bytes::{Regex, RegexSet};

use reshifter_format::error::{Error, Kind, Result};
use reshifter_format::io::Output;
use reshifter_format::parallel::ParReader;
use reshifter_format::pipeline::Run;
use reshifter_format::report::{human_bytes, secs};
use reshifter_format::sort::Sorter;
use reshifter_format::{
    Digests, Header, Record, RecordMeta, StreamReader, StreamWriter, Verify, encode_record, narrowed_header, show_key,
};
use reshifter_k8s as k8s;

use crate::atrest::ApiServer;
use crate::objects::{self, Outcome};
use crate::selector::Selector;

/// What to keep, drop and rewrite: kv-filter's command-line options.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct FilterOptions {
    /// Where progress, warnings and the summary go (stderr, under the tool's name, unless the
    /// caller names itself or takes the lines).
    #[arg(skip)]
    pub report: reshifter_format::report::Reporter,

    /// Stream to read (default: stdin)
    #[arg(value_name = "INPUT")]
    pub input: Option<PathBuf>,

    /// Write to FILE (renamed into place when complete) instead of stdout
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Keep keys starting with PREFIX (repeatable)
    #[arg(long = "prefix", value_name = "PREFIX", help_heading = "Keys")]
    pub prefixes: Vec<String>,
    /// Drop keys starting with PREFIX (repeatable)
    #[arg(long = "exclude-prefix", value_name = "PREFIX", help_heading = "Keys")]
    pub exclude_prefixes: Vec<String>,
    /// Keep keys matching the glob (repeatable)
    #[arg(long = "glob", value_name = "GLOB", help_heading = "Keys")]
    pub globs: Vec<String>,
    /// Drop keys matching the glob (repeatable)
    #[arg(long = "exclude-glob", value_name = "GLOB", help_heading = "Keys")]
    pub exclude_globs: Vec<String>,
    /// Keep keys matching the regex (repeatable)
    #[arg(long = "regex", value_name = "REGEX", help_heading = "Keys")]
    pub regexes: Vec<String>,
    /// Drop keys matching the regex (repeatable)
    #[arg(long = "exclude-regex", value_name = "REGEX", help_heading = "Keys")]
    pub exclude_regexes: Vec<String>,
    /// ReShifter's backup strategy: raw, or filter:a,b (keys containing a or b)
    #[arg(long, value_name = "STRATEGY", env = "RS_BACKUP_STRATEGY", help_heading = "Keys")]
    pub strategy: Option<String>,

    /// Keep these resources (repeatable, comma-separated)
    #[arg(long = "resource", value_name = "RESOURCE", help_heading = "Kubernetes")]
    pub resources: Vec<String>,
    /// Drop these resources (repeatable, comma-separated)
    #[arg(long = "exclude-resource", value_name = "RESOURCE", help_heading = "Kubernetes")]
    pub exclude_resources: Vec<String>,
    /// Keep objects in these namespaces (repeatable, comma-separated)
    #[arg(long = "namespace", short = 'n', value_name = "NAMESPACE", help_heading = "Kubernetes")]
    pub namespaces: Vec<String>,
    /// Drop objects in these namespaces (repeatable, comma-separated)
    #[arg(long = "exclude-namespace", value_name = "NAMESPACE", help_heading = "Kubernetes")]
    pub exclude_namespaces: Vec<String>,
    /// Keep objects whose name matches the regex
    #[arg(long, value_name = "REGEX", help_heading = "Kubernetes")]
    pub name: Option<String>,

    /// Keep objects whose labels match, as kubectl's -l: `app=web,tier!=db`, `env in (a,b)`,
    /// `env notin (a)`, `app`, `!app` (values are decoded; other records are dropped)
    #[arg(long = "selector", short = 'l', value_name = "SELECTOR", help_heading = "Kubernetes")]
    pub label_selectors: Vec<String>,

    /// Keep objects whose fields match: `status.phase=Running,spec.nodeName!=`, any dotted path
    /// (`metadata.ownerReferences.kind=ReplicaSet`); a missing field is ""
    #[arg(long = "field-selector", value_name = "SELECTOR", help_heading = "Kubernetes")]
    pub field_selectors: Vec<String>,

    /// Rewrite keys starting with OLD to start with NEW instead (repeatable; first match wins)
    #[arg(long = "rewrite-prefix", value_name = "OLD=NEW")]
    pub rewrites: Vec<String>,

    /// The API server's EncryptionConfiguration: values encrypted with aesgcm (bound to their
    /// key) are re-encrypted under their rewritten key (without it such values are refused), and
    /// encrypted values are decrypted to apply -l and --field-selector
    #[arg(long, value_name = "FILE")]
    pub encryption_config: Option<PathBuf>,

    #[command(flatten)]
    pub etcd_prefix: k8s::EtcdPrefix,

    /// No summary on stderr
    #[arg(short, long)]
    pub quiet: bool,

    /// The command line, for the header's history (set by the tool).
    #[arg(skip)]
    pub invocation: String,
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
    selector: Selector,
    /// Where Kubernetes keys are (the API server's --etcd-prefix).
    roots: k8s::Roots,
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
            selector: Selector::new(&o.label_selectors, &o.field_selectors)
                .map_err(|e| Error::new(Kind::Usage, format!("bad selector: {e}")))?,
            roots: o.etcd_prefix.roots(),
        })
    }

    /// Whether keys are selected by what they hold in Kubernetes (resource, namespace, name).
    fn by_kubernetes_key(&self) -> bool {
        !self.resources.is_empty()
            || !self.exclude_resources.is_empty()
            || !self.namespaces.is_empty()
            || !self.exclude_namespaces.is_empty()
            || self.name.is_some()
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
            && self.selector.is_empty()
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
        if !self.by_kubernetes_key() {
            return true;
        }
        let parsed = self.roots.parse(key);
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

    /// The prefixes a stream under `bounds` lies under once its keys are rewritten, and whether
    /// each bound moved whole (then a stream complete under `bounds` is complete under the
    /// result). A bound moves whole when a rule's OLD starts it and no earlier rule's OLD lies
    /// inside it; otherwise it stays, joined by the NEW of every rule whose OLD lies inside it.
    fn rewrite_bounds(&self, bounds: &[String]) -> (Vec<String>, bool) {
        let mut out = Vec::new();
        let mut whole = true;
        for p in bounds {
            let pb = p.as_bytes();
            let first = self.rewrites.iter().position(|(old, _)| pb.starts_with(old) || old.starts_with(pb));
            match first {
                Some(i) if pb.starts_with(&self.rewrites[i].0) => {
                    let (old, new) = &self.rewrites[i];
                    let mut k = new.clone();
                    k.extend_from_slice(&pb[old.len()..]);
                    out.push(String::from_utf8_lossy(&k).into_owned());
                }
                _ => {
                    out.push(p.clone());
                    for (old, new) in &self.rewrites {
                        if old.starts_with(pb) {
                            whole = false;
                            out.push(String::from_utf8_lossy(new).into_owned());
                        }
                    }
                }
            }
        }
        out.sort();
        out.dedup();
        (out, whole)
    }

    /// Whether the label and field selectors keep this record (true when there are none), and
    /// whether the object they judged holds fields newer than the schema (judged on the fields
    /// known); `Err` says why they cannot judge it.
    fn selected(&self, r: &Record, api: &ApiServer) -> std::result::Result<(bool, bool), String> {
        if self.selector.is_empty() {
            return Ok((true, false));
        }
        let why = match objects::open(&r.key, &r.value, r.mod_revision, api) {
            Outcome::Object(obj) => return Ok((self.selector.matches(&obj.object), obj.unknown_fields > 0)),
            Outcome::NotObject => return Ok((false, false)),
            Outcome::Encrypted => "encrypted at rest: give --encryption-config to select it".to_string(),
            Outcome::Failed(why) => format!("not decoded: {why}"),
        };
        Err(format!("key {}: {why}", show_key(&r.key)))
    }

    /// The key after prefix rewriting, when a rule applies.
    pub fn rewrite(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.rewrites.iter().find(|(old, _)| key.starts_with(old)).map(|(old, new)| {
            let mut k = new.clone();
            k.extend_from_slice(&key[old.len()..]);
            k
        })
    }
}

/// What a worker decided about one record.
struct Kept {
    size: u64,
    line: Option<Out>,
    /// Why a selector could not be applied (the record is left out).
    undecided: Option<String>,
    /// The selector judged an object holding fields newer than the schema.
    newer: bool,
    /// The key shows a Kubernetes root nobody named (when keys are selected as Kubernetes').
    unknown_root: Option<String>,
}

/// A line to write, with its record's metadata.
struct Out {
    line: Vec<u8>,
    meta: RecordMeta,
}

/// The header of kv-filter's output: the filter in its history, prefixes narrowed (and
/// rewritten), and completeness kept only where the selection cannot have dropped a key of
/// them: a filter by prefix alone, on a stream that claimed completeness.
fn output_header(input: &Header, m: &Matcher, o: &FilterOptions) -> Header {
    let mut header = if m.include_prefixes.is_empty() {
        let mut h = input.clone();
        h.history.push(o.invocation.clone());
        h.complete = input.claims_complete();
        h
    } else {
        narrowed_header(input, &o.prefixes, o.invocation.clone())
    };
    header.format = reshifter_format::FORMAT_VERSION;
    header.sorted = true;
    if !m.prefix_only() {
        header.complete = false;
    }
    if !m.rewrites.is_empty() {
        let (bounds, whole) = m.rewrite_bounds(&header.bounds());
        header.prefixes = bounds;
        header.complete &= whole;
    }
    header
}

/// A kept record's line and what its digests need, as it travels through the sort.
fn pack_kept(o: &Out) -> Vec<u8> {
    let mut p = Vec::with_capacity(o.line.len() + 72);
    p.extend_from_slice(&o.meta.sha256);
    p.extend_from_slice(&(o.meta.len as u64).to_le_bytes());
    for n in o.meta.revs() {
        p.extend_from_slice(&n.to_le_bytes());
    }
    p.extend_from_slice(&o.line);
    p
}

fn unpack_kept(key: Vec<u8>, p: &[u8]) -> Out {
    let n = |i: usize| i64::from_le_bytes(p[40 + 8 * i..48 + 8 * i].try_into().expect("8 bytes"));
    let meta = RecordMeta {
        key,
        sha256: p[..32].try_into().expect("32 bytes"),
        len: u64::from_le_bytes(p[32..40].try_into().expect("8 bytes")) as usize,
        ..RecordMeta::default()
    };
    Out { meta: meta.with_revs([n(0), n(1), n(2), n(3)]), line: p[72..].to_vec() }
}

/// Run kv-filter.
pub fn run(o: FilterOptions) -> Result<()> {
    let reader = ParReader::open(o.input.as_deref(), Verify::Full)?;
    let out = Output::create(o.output.as_deref())?;
    filter(o, reader, out)
}

/// kv-filter from an opened stream into an opened output (a library pipeline's stage).
pub fn run_with(o: FilterOptions, input: Box<dyn std::io::BufRead + Send>, out: Output) -> Result<()> {
    filter(o, ParReader::new(input, Verify::Full)?, out)
}

fn filter(o: FilterOptions, reader: ParReader, out: Output) -> Result<()> {
    let mut run = Run::new(&o.report.or_name("kv-filter"), o.quiet);
    let m = Matcher::new(&o)?;
    let header = output_header(reader.header(), &m, &o);
    // Rewritten keys (and records of an unsorted format-1 stream) change order: they go through
    // a sort, which also refuses two records that end up with one key.
    let sort = !m.rewrites.is_empty() || !reader.header().sorted;
    let mut sorter = sort.then(|| Sorter::new(reshifter_format::sort::DEFAULT_BUDGET));
    let api = ApiServer::load(o.encryption_config.as_deref(), &o.etcd_prefix)?;
    let mut w = StreamWriter::new(out, &header)?;
    // Workers decide and re-encode; this thread writes in order.
    let reads_kubernetes = m.by_kubernetes_key() || !m.selector.is_empty();
    let map = |mut r: Record, v: &RecordMeta, raw: &[u8]| -> Result<Kept> {
        let size = (r.key.len() + r.value.len()) as u64;
        let unknown_root = reads_kubernetes.then(|| m.roots.unknown_root(&r.key).map(String::from)).flatten();
        let dropped =
            |undecided, newer| Ok(Kept { size, line: None, undecided, newer, unknown_root: unknown_root.clone() });
        if !m.keep(&r.key) {
            return dropped(None, false);
        }
        let newer = match m.selected(&r, &api) {
            Ok((true, newer)) => newer,
            Ok((false, newer)) => return dropped(None, newer),
            Err(why) => return dropped(Some(why), false),
        };
        let mut rebound = false;
        let line = match m.rewrite(&r.key) {
            None => raw.to_vec(),
            Some(k) => {
                if k8s::atrest::binds_key(&r.value) {
                    r.value = rebind(api.at_rest(), &r.key, &k, &r.value)?;
                    rebound = true;
                }
                r.key = k;
                let mut line = Vec::with_capacity(raw.len() + 16);
                encode_record(&mut line, &r);
                line.pop();
                line
            }
        };
        let meta = if rebound { r.meta() } else { v.rekeyed(r.key) };
        Ok(Kept { size, line: Some(Out { line, meta }), undecided: None, newer, unknown_root })
    };
    let (mut undecided, mut newer) = (0u64, 0u64);
    let mut hint = None;
    let sink = |k: Kept| -> Result<()> {
        run.record(k.size, |t| format!("{} keys read", t.keys));
        if hint.is_none() {
            hint = k.unknown_root;
        }
        newer += u64::from(k.newer);
        if let Some(why) = k.undecided {
            undecided += 1;
            if undecided <= 5 {
                run.say(format_args!("{why}: left out"));
            }
        }
        if let Some(o) = k.line {
            match &mut sorter {
                Some(s) => s.push(o.meta.key.clone(), pack_kept(&o))?,
                None => write_kept(&mut w, &o)?,
            }
        }
        Ok(())
    };
    reader.run(reshifter_format::parallel::workers(), map, sink)?;
    if let Some(root) = hint {
        run.say(k8s::unknown_root_hint(&root));
    }
    if let Some(s) = sorter {
        for item in s.finish()? {
            let (key, p) = item?;
            write_kept(&mut w, &unpack_kept(key, &p))?;
        }
    }
    let mut undecided_note = if undecided > 0 {
        format!(", {undecided} left out because the selector could not be applied")
    } else {
        String::new()
    };
    if newer > 0 {
        undecided_note.push_str(&format!(
            ", {newer} judged by selectors on the fields the schema knows (their values hold newer ones too)"
        ));
    }
    run.end(w, |kept, read| {
        format!(
            "{} of {} keys kept{undecided_note} ({} read) in {}",
            kept.count,
            read.keys,
            human_bytes(read.bytes),
            secs(read.elapsed)
        )
    })?;
    Ok(())
}

/// A value encrypted bound to its key (aesgcm, kms), moved from `old` to `new`: re-encrypted
/// under the new key with the key it had, or refused — never left where the API server cannot
/// decrypt it.
fn rebind(at_rest: Option<&k8s::atrest::AtRest>, old: &[u8], new: &[u8], value: &[u8]) -> Result<Vec<u8>> {
    let (provider, _, name, _) = k8s::atrest::envelope(value).expect("binds_key saw an envelope");
    let Some(c) = at_rest else {
        return Err(Error::new(
            Kind::Usage,
            format!(
                "key {}: its value is encrypted with {provider} key {name:?}, which binds it to its etcd key: under {} \
                 the API server could not decrypt it; give --encryption-config (the API server's) to re-encrypt it",
                show_key(old),
                show_key(new)
            ),
        ));
    };
    let plain = match c.open(old, value) {
        Some(Ok(p)) => p,
        Some(Err(e)) => return Err(crate::atrest::open_error(old, e)),
        None => unreachable!("an envelope was seen"),
    };
    c.seal_as(provider, name, new, &plain).map_err(|e| crate::atrest::open_error(old, e))
}

fn write_kept(w: &mut StreamWriter<Output>, o: &Out) -> Result<()> {
    w.write_line_meta(&o.line, &o.meta).map_err(|e| match e.kind() {
        std::io::ErrorKind::InvalidData => Error::new(Kind::BadInput, e.to_string()),
        _ => e.into(),
    })
}

/// Run kv-seal: recompute the trailer of a stream whose records were changed (by jq), provided
/// its original trailer line is still there to prove the producer finished. Records come out
/// sorted by key (a key given twice is refused). The output claims completeness only when the
/// input did, its header's claims are those its trailer covered, and the same keys with the same
/// revisions are still there — kv-seal cannot know what a filter removed, so it never claims
/// what it cannot prove.
pub fn seal(input: Option<PathBuf>, output: Option<PathBuf>, quiet: bool) -> Result<()> {
    let run = Run::new(&reshifter_format::report::Reporter::named("kv-seal"), quiet);
    let input = reshifter_format::io::open_input(input.as_deref())?;
    let mut reader = StreamReader::unordered(input)?;
    let in_header = reader.header().clone();
    let mut sorter = Sorter::new(reshifter_format::sort::DEFAULT_BUDGET);
    let mut digests = Digests::default();
    let mut prev: Option<Vec<u8>> = None;
    let mut in_order = true;
    while let Some((r, hash)) = reader.next_record_hashed()? {
        let o = Out { line: reader.last_line().to_vec(), meta: r.meta_with(hash) };
        digests.update_meta(&o.meta);
        if prev.as_ref().is_some_and(|p| o.meta.key <= *p) {
            in_order = false;
        }
        prev = Some(o.meta.key.clone());
        sorter.push(o.meta.key.clone(), pack_kept(&o))?;
    }
    let old = reader.trailer().cloned().expect("a stream read to its end has a trailer");
    let mine = digests.trailer(&reshifter_format::Frame::of(&in_header));
    let header_intact = in_header.format >= 2 && old.header_sha256.as_deref() == Some(&in_header.claims_sha256());
    let same_keys = in_order && old.count == mine.count && old.meta_sha256 == mine.meta_sha256;
    let mut header = in_header.clone();
    header.format = reshifter_format::FORMAT_VERSION;
    header.sorted = true;
    header.complete = in_header.claims_complete() && header_intact && same_keys;
    header.history.push("kv-seal".into());
    let out = Output::create(output.as_deref())?;
    let mut w = StreamWriter::new(out, &header)?;
    for item in sorter.finish()? {
        let (key, p) = item?;
        write_kept(&mut w, &unpack_kept(key, &p))?;
    }
    run.end(w, |t, _| {
        let mut s = format!("{} keys sealed (the old trailer counted {})", t.count, old.count);
        if in_header.claims_complete() && !header.complete {
            s += &format!(
                "\nkv-seal: the stream no longer claims to hold every key under its prefixes ({}), so \
                 etcd-load --mode sync will not delete by it",
                if !header_intact { "its header was changed" } else { "records were removed, added or reordered" }
            );
        }
        s
    })?;
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
    fn rewritten_bounds() {
        let v = |x: &[&str]| x.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let f = m(|o| o.rewrites = v(&["/registry/=/kubernetes.io/"]));
        assert_eq!(f.rewrite_bounds(&v(&["/registry/pods/"])), (v(&["/kubernetes.io/pods/"]), true));
        assert_eq!(f.rewrite_bounds(&v(&["/registry/"])), (v(&["/kubernetes.io/"]), true));
        assert_eq!(f.rewrite_bounds(&v(&[""])), (v(&["", "/kubernetes.io/"]), false));
        assert_eq!(f.rewrite_bounds(&v(&["/other/"])), (v(&["/other/"]), true));
        let f = m(|o| o.rewrites = v(&["/registry/pods/=/p/", "/registry/=/r/"]));
        assert_eq!(f.rewrite_bounds(&v(&["/registry/"])), (v(&["/p/", "/r/", "/registry/"]), false));
    }
}
