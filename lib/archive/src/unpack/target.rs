//! Where the verified records go: the stream, the list of keys, or nowhere (--verify), with the
//! check of values encrypted at rest.

use std::collections::BTreeMap;
use std::io::Write;

use reshifter_format::error::{Error, Kind, Result};
use reshifter_format::io::Output;
use reshifter_format::pipeline::{self};
use reshifter_format::{
    Header, Record, StreamWriter, lease_hex, narrowed_header, push_bytes_field, push_json_str, show_key,
};
use reshifter_k8s::atrest::{self, AtRest};

use reshifter_format::pipeline::Tally;
use reshifter_format::report::human_bytes;

use super::options::{Mode, UnpackOptions};

/// Where records go, by mode.
pub(super) struct Target {
    mode: Mode,
    prefixes: Vec<Vec<u8>>,
    stream: Option<StreamWriter<Output>>,
    list: Option<Output>,
    line: Vec<u8>,
    at_rest: Option<AtRestCheck>,
}

/// --verify --encryption-config: what each `provider/key name` decrypted, and what did not.
pub(super) struct AtRestCheck {
    config: AtRest,
    /// `provider/key` → (decrypted, failed).
    keys: BTreeMap<String, (u64, u64)>,
    first_failure: Option<String>,
    roots: reshifter_k8s::Roots,
    hint: reshifter_k8s::RootHint,
}

impl AtRestCheck {
    fn see(&mut self, r: &Record) {
        self.hint.see(&self.roots, &r.key);
        let Some((provider, _, name, _)) = atrest::envelope(&r.value) else { return };
        let slot = self.keys.entry(format!("{provider}/{name}")).or_default();
        match self.config.open(&r.key, &r.value) {
            Some(Ok(_)) => slot.0 += 1,
            Some(Err(e)) => {
                slot.1 += 1;
                self.first_failure.get_or_insert_with(|| format!("{}: {e}", show_key(&r.key)));
            }
            None => {}
        }
    }

    /// The report, or the error when any value did not decrypt.
    fn end(self) -> Result<String> {
        let per: Vec<String> = self
            .keys
            .iter()
            .map(
                |(k, (ok, bad))| {
                    if *bad > 0 { format!("{k} {ok} decrypted, {bad} not") } else { format!("{k} {ok} decrypted") }
                },
            )
            .collect();
        let bad: u64 = self.keys.values().map(|c| c.1).sum();
        if let Some(first) = self.first_failure {
            return Err(Error::new(
                Kind::Integrity,
                format!(
                    "{bad} encrypted values do not decrypt with --encryption-config (restored, the API server could not read them); the first: {first}"
                ),
            ));
        }
        let hint = self.hint.message().map(|m| format!("; {m}")).unwrap_or_default();
        Ok(if per.is_empty() {
            format!("; no value encrypted at rest{hint}")
        } else {
            format!("; encrypted at rest: {}{hint}", per.join(", "))
        })
    }
}

impl Target {
    /// `into`: the output to write instead of the one the options name.
    pub(super) fn new(o: &UnpackOptions, header_line: &[u8], header: &Header, into: Option<Output>) -> Result<Self> {
        let prefixes: Vec<Vec<u8>> = o.prefixes.iter().map(|p| p.as_bytes().to_vec()).collect();
        let (mut stream, mut list) = (None, None);
        match o.mode() {
            Mode::Stream => {
                let out = match into {
                    Some(out) => out,
                    None => Output::create(o.output.as_deref())?,
                };
                stream = Some(if prefixes.is_empty() {
                    StreamWriter::with_header_line(out, header_line, header)?
                } else {
                    // Narrowed, never replaced: the output claims no more than the archive did.
                    let history = format!("archive-unpack --prefix {}", o.prefixes.join(" --prefix "));
                    StreamWriter::new(out, &narrowed_header(header, &o.prefixes, history))?
                });
            }
            Mode::List => list = Some(Output::create(o.output.as_deref())?),
            Mode::Verify => {}
        }
        let roots = o.etcd_prefix.roots();
        let at_rest = match &o.encryption_config {
            Some(p) => Some(AtRestCheck {
                config: AtRest::load(p).map_err(|e| Error::new(Kind::Usage, e.to_string()))?.under(roots.clone()),
                keys: BTreeMap::new(),
                first_failure: None,
                roots,
                hint: Default::default(),
            }),
            None => None,
        };
        Ok(Target { mode: o.mode(), prefixes, stream, list, line: Vec::new(), at_rest })
    }

    fn wanted(&self, key: &[u8]) -> bool {
        self.prefixes.is_empty() || self.prefixes.iter().any(|p| key.starts_with(p))
    }

    pub(super) fn put(&mut self, r: &Record, path: &str, sha: &[u8; 32]) -> Result<()> {
        if !self.wanted(&r.key) {
            return Ok(());
        }
        match self.mode {
            Mode::Stream => self.stream.as_mut().expect("stream").write_hashed(r, sha)?,
            Mode::List => {
                let l = &mut self.line;
                l.clear();
                l.push(b'{');
                push_bytes_field(l, "key", &r.key);
                l.extend_from_slice(b",\"path\":");
                push_json_str(l, path.as_bytes());
                let _ = write!(
                    l,
                    ",\"size\":{},\"sha256\":\"{}\",\"create_revision\":{},\"mod_revision\":{},\"version\":{}",
                    r.value.len(),
                    hex::encode(sha),
                    r.create_revision,
                    r.mod_revision,
                    r.version
                );
                if r.lease != 0 {
                    let _ = write!(l, ",\"lease\":\"{}\"", lease_hex(r.lease));
                }
                l.extend_from_slice(b"}\n");
                self.list.as_mut().expect("list").write_all(l)?;
            }
            Mode::Verify => {
                if let Some(c) = &mut self.at_rest {
                    c.see(r);
                }
            }
        }
        Ok(())
    }
}

/// What an archive unpacks into: a keyspace stream, or a delta or files stream. (Made once per
/// run: its size does not matter.)
#[allow(clippy::large_enum_variant)]
pub(super) enum Unpacked {
    Keyspace(Target),
    Lines(crate::lines::LinesTarget),
}

impl pipeline::Sink for Unpacked {
    /// What --encryption-config found (for the summary).
    type Closed = String;
    fn close(self) -> Result<String> {
        match self {
            Unpacked::Keyspace(t) => t.close(),
            Unpacked::Lines(t) => t.close().map(|()| String::new()),
        }
    }
}

impl pipeline::Sink for Target {
    type Closed = String;

    /// Everything checked: write the trailer and put the output in place.
    fn close(self) -> Result<String> {
        if let Some(w) = self.stream {
            w.close()?;
        }
        if let Some(l) = self.list {
            l.finish()?;
        }
        self.at_rest.map_or(Ok(String::new()), AtRestCheck::end)
    }
}

pub(super) fn progress_line(t: &Tally) -> String {
    format!("{} keys, {}", t.keys, human_bytes(t.bytes))
}
