//! kv-rekey: re-encrypt the values a stream holds encrypted at rest, from one
//! EncryptionConfiguration to another — so a backup restores into a cluster with a different
//! key, or a key is rotated offline.
//!
//! Every encrypted value is opened with a key of `--from` (or `--to`) and written as the API
//! server with `--to` would write it: with the first provider `--to` gives its resource (identity
//! writes it in plaintext). `--encrypt-identity` also encrypts plaintext values of the resources
//! `--to` encrypts. Other records pass through byte for byte; the trailer is recomputed, the
//! header's claims stay (the same keys), and its history says kv-rekey ran.

use crate::atrest::{load_config, open_error};
use std::path::PathBuf;

use reshifter_format::error::{Error, Kind, Result};
use reshifter_format::io::Output;
use reshifter_format::parallel::ParReader;
use reshifter_format::pipeline::Run;
use reshifter_format::report::{human_bytes, secs};
use reshifter_format::{Record, RecordMeta, StreamWriter, Verify, encode_record, show_key};
use reshifter_k8s::atrest::AtRestError;

/// kv-rekey's command-line options.
#[derive(Debug, Clone, clap::Args)]
pub struct RekeyOptions {
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

    /// The EncryptionConfiguration the values were written with
    #[arg(long, value_name = "OLD.yaml")]
    pub from: PathBuf,

    /// The EncryptionConfiguration to write them for (its first provider per resource)
    #[arg(long, value_name = "NEW.yaml")]
    pub to: PathBuf,

    /// Also encrypt plaintext values of the resources --to encrypts
    #[arg(long)]
    pub encrypt_identity: bool,

    #[command(flatten)]
    pub etcd_prefix: reshifter_k8s::EtcdPrefix,

    /// No summary on stderr
    #[arg(short, long)]
    pub quiet: bool,
}

/// What happened to one record.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fate {
    Unchanged,
    Reencrypted,
    Decrypted,
    Encrypted,
}

struct Done {
    fate: Fate,
    size: u64,
    line: Vec<u8>,
    meta: RecordMeta,
}

/// The error for an encrypted value whose key names no resource under the roots.
fn no_resource(key: &[u8], roots: &reshifter_k8s::Roots) -> Error {
    let named = roots.all().collect::<Vec<_>>().join(", ");
    Error::new(
        Kind::Usage,
        format!(
            "key {}: encrypted, and not under a Kubernetes root ({named}), so --to cannot say how to write it: \
             give the API server's --etcd-prefix",
            show_key(key)
        ),
    )
}

/// Run kv-rekey.
pub fn run(o: RekeyOptions) -> Result<()> {
    let roots = o.etcd_prefix.roots();
    let from = load_config(&o.from, &roots)?;
    let to = load_config(&o.to, &roots)?;
    let reader = ParReader::open(o.input.as_deref(), Verify::Full)?;
    let mut header = reader.header().clone();
    header.history.push("kv-rekey".into());
    let mut run = Run::new(&o.report.or_name("kv-rekey"), o.quiet);
    let mut w = StreamWriter::new(Output::create(o.output.as_deref())?, &header)?;
    let mut counts = [0u64; 4];
    let map = |mut r: Record, v: &RecordMeta, raw: &[u8]| -> Result<Done> {
        let size = (r.key.len() + r.value.len()) as u64;
        let opened = match from.open(&r.key, &r.value) {
            Some(Err(AtRestError::UnknownKey { .. })) => to.open(&r.key, &r.value),
            other => other,
        };
        let (fate, value) = match opened {
            Some(Err(e)) => return Err(open_error(&r.key, e)),
            // Which provider --to gives a value depends on its resource: a key no root explains
            // would come out in plaintext.
            Some(Ok(_)) if roots.parse(&r.key).is_none() => return Err(no_resource(&r.key, &roots)),
            Some(Ok(plain)) => match to.seal_for(&r.key, &plain).map_err(|e| open_error(&r.key, e))? {
                Some(v) => (Fate::Reencrypted, v),
                None => (Fate::Decrypted, plain),
            },
            None if o.encrypt_identity && to.encrypts(&r.key) => {
                match to.seal_for(&r.key, &r.value).map_err(|e| open_error(&r.key, e))? {
                    Some(v) => (Fate::Encrypted, v),
                    None => (Fate::Unchanged, Vec::new()),
                }
            }
            None => (Fate::Unchanged, Vec::new()),
        };
        if fate == Fate::Unchanged {
            return Ok(Done { fate, size, line: raw.to_vec(), meta: v.clone() });
        }
        r.value = value;
        let mut line = Vec::with_capacity(raw.len() + 64);
        encode_record(&mut line, &r);
        line.pop();
        Ok(Done { fate, size, meta: r.meta(), line })
    };
    let sink = |d: Done| -> Result<()> {
        run.record(d.size, |t| format!("{} keys read", t.keys));
        counts[d.fate as usize] += 1;
        w.write_line_meta(&d.line, &d.meta).map_err(Error::from)
    };
    reader.run(reshifter_format::parallel::workers(), map, sink)?;
    let [unchanged, reencrypted, decrypted, encrypted] = counts;
    run.end(w, |t, read| {
        format!(
            "{} keys: {reencrypted} re-encrypted, {decrypted} decrypted (--to writes them in plaintext), \
             {encrypted} encrypted, {unchanged} unchanged ({} read in {})",
            t.count,
            human_bytes(read.bytes),
            secs(read.elapsed)
        )
    })?;
    Ok(())
}
