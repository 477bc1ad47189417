//! kv-decode: add to every record whose value is a Kubernetes object an `object` field holding it
//! as the API server serves it (`kubectl get -o json`), for jq. Records, header claims and
//! digests stay as they are: `object` is derived data (docs/FORMAT.md, "Decoded objects").

use std::path::PathBuf;

use reshifter_format::error::{Error, Kind, Result};
use reshifter_format::io::Output;
use reshifter_format::parallel::ParReader;
use reshifter_format::pipeline::Run;
use reshifter_format::report::{human_bytes, secs};
use reshifter_format::{Record, RecordMeta, StreamWriter, Verify, show_key};
use reshifter_k8s::RootHint;

use crate::atrest::ApiServer;
use crate::objects::{self, Encoding, Outcome};

/// kv-decode's command-line options.
#[derive(Debug, Clone, clap::Args)]
pub struct DecodeOptions {
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

    /// The API server's EncryptionConfiguration: values encrypted at rest are decrypted and
    /// decoded (the output then holds them in plaintext: keep it as secret as the file)
    #[arg(long, value_name = "FILE")]
    pub encryption_config: Option<PathBuf>,

    #[command(flatten)]
    pub etcd_prefix: reshifter_k8s::EtcdPrefix,

    /// Fail (exit 3) on the first value that looks like an object and cannot be decoded, is
    /// encrypted with no --encryption-config that opens it, or holds fields newer than the schema
    #[arg(long)]
    pub strict: bool,

    /// No summary on stderr
    #[arg(short, long)]
    pub quiet: bool,
}

/// How many records that could not be decoded are named on stderr.
const NAMED: u64 = 5;

struct Done {
    outcome: Result<Option<Encoding>, Option<String>>,
    /// Fields the schema does not know, and of those the ones the object cannot keep in its
    /// `$unknownFields` (inside a Time, Quantity or embedded struct).
    unknown: (u64, u64),
    size: u64,
    line: Vec<u8>,
    meta: RecordMeta,
}

/// The record line `raw` with `"object":…,"object_sha256":"…"` before its value field (the
/// value's SHA-256 is `value_sha256`).
pub fn with_object(raw: &[u8], object: &serde_json::Value, value_sha256: &[u8; 32]) -> Vec<u8> {
    let at = memchr::memmem::find(raw, b",\"value").unwrap_or(raw.len().saturating_sub(1));
    let json = serde_json::to_vec(object).unwrap_or_else(|_| b"null".to_vec());
    let mut line = Vec::with_capacity(raw.len() + json.len() + 96);
    line.extend_from_slice(&raw[..at]);
    line.extend_from_slice(b",\"object\":");
    line.extend_from_slice(&json);
    line.extend_from_slice(b",\"object_sha256\":\"");
    line.extend_from_slice(hex::encode(objects::object_digest(value_sha256, &json)).as_bytes());
    line.push(b'"');
    line.extend_from_slice(&raw[at..]);
    line
}

/// Run kv-decode.
pub fn run(o: DecodeOptions) -> Result<()> {
    let api = ApiServer::load(o.encryption_config.as_deref(), &o.etcd_prefix)?;
    let reader = ParReader::open(o.input.as_deref(), Verify::Full)?;
    let mut header = reader.header().clone();
    header.history.push("kv-decode".into());
    let mut run = Run::new(&o.report.or_name("kv-decode"), o.quiet);
    let mut w = StreamWriter::new(Output::create(o.output.as_deref())?, &header)?;
    let strict = o.strict;
    let map = |r: Record, m: &RecordMeta, raw: &[u8]| -> Result<Done> { decode_one(r, m, raw, &api, strict) };
    let (mut counts, mut failed, mut encrypted, mut newer) = ([0u64; 5], 0u64, 0u64, 0u64);
    let mut hint = RootHint::default();
    let sink = |d: Done| -> Result<()> {
        run.record(d.size, |t| format!("{} keys read", t.keys));
        hint.see(&api.roots, &d.meta.key);
        if d.unknown.0 > 0 {
            newer += 1;
            if newer <= NAMED {
                run.say(format_args!("key {}: {}", show_key(&d.meta.key), newer_fields(d.unknown)));
            }
        }
        match &d.outcome {
            Ok(Some(e)) => counts[*e as usize] += 1,
            Ok(None) => {}
            Err(None) => encrypted += 1,
            Err(Some(why)) => {
                failed += 1;
                if failed <= NAMED {
                    run.say(format_args!("key {}: not decoded: {why}", show_key(&d.meta.key)));
                }
            }
        }
        w.write_line_meta(&d.line, &d.meta).map_err(Error::from)
    };
    reader.run(reshifter_format::parallel::workers(), map, sink)?;
    if let Some(m) = hint.message() {
        run.say(m);
    }
    let [pb, json, cbor, ..] = counts;
    run.end(w, |t, read| {
        let newer = if newer > 0 { format!(" ({newer} with fields newer than the schema)") } else { String::new() };
        format!(
            "{} keys: {} objects decoded{newer} ({pb} protobuf, {json} JSON, {cbor} CBOR), {failed} not decodable, \
             {encrypted} encrypted (no --encryption-config opens them), {} other ({} read in {})",
            t.count,
            pb + json + cbor,
            t.count - pb - json - cbor - failed - encrypted,
            human_bytes(read.bytes),
            secs(read.elapsed)
        )
    })?;
    Ok(())
}

fn decode_one(r: Record, m: &RecordMeta, raw: &[u8], api: &ApiServer, strict: bool) -> Result<Done> {
    let size = (r.key.len() + r.value.len()) as u64;
    let done = |outcome, line: Vec<u8>, unknown: (u64, u64)| Ok(Done { outcome, unknown, size, line, meta: m.clone() });
    match objects::open(&r.key, &r.value, r.mod_revision, api) {
        Outcome::Object(o) if strict && o.unknown_fields > 0 => Err(Error::new(
            Kind::BadInput,
            format!("key {}: {} fields newer than the schema (--strict)", show_key(&r.key), o.unknown_fields),
        )),
        Outcome::Object(o) => {
            done(Ok(Some(o.encoding)), with_object(raw, &o.object, &m.sha256), (o.unknown_fields, o.unkept_fields))
        }
        Outcome::NotObject => done(Ok(None), raw.to_vec(), (0, 0)),
        Outcome::Encrypted if strict => Err(Error::new(
            Kind::BadInput,
            format!("key {}: encrypted at rest and no --encryption-config opens it (--strict)", show_key(&r.key)),
        )),
        Outcome::Encrypted => done(Err(None), raw.to_vec(), (0, 0)),
        Outcome::Failed(why) if strict => {
            Err(Error::new(Kind::BadInput, format!("key {}: not decoded: {why} (--strict)", show_key(&r.key))))
        }
        Outcome::Failed(why) => done(Err(Some(why)), raw.to_vec(), (0, 0)),
    }
}

/// What kv-decode says of an object with fields newer than the schema.
fn newer_fields((unknown, unkept): (u64, u64)) -> String {
    let kept = unknown - unkept;
    let mut s = format!("{unknown} field{} newer than the schema", plural(unknown));
    if kept > 0 {
        s += &format!(", {kept} kept in $unknownFields");
    }
    if unkept > 0 {
        s += &format!(
            ", {unkept} inside a Time, Quantity or embedded struct where the object cannot keep {} \
             (left as they are unless the object is edited; kv-encode refuses an edit)",
            if unkept == 1 { "it" } else { "them" }
        );
    }
    s
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}
