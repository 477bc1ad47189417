//! kv-encode: the inverse of kv-decode. Every record's `object` (as kv-decode wrote it, perhaps
//! edited with jq since) goes back into the value in the value's own encoding (protobuf, JSON or
//! CBOR, re-encrypted with the same key when it was encrypted at rest), and the field is removed.
//! A record whose object was not changed keeps its value byte for byte; when nothing changed the
//! output is the input stream as it was before kv-decode, header and trailer included. When
//! something did, the trailer is recomputed and the header's history says kv-encode changed it.
//!
//! The input is verified as any stream is (order, prefixes, trailer digests). The output is
//! spooled to an unlinked temporary file until the trailer is checked, because the header, which
//! comes first, depends on whether anything changed: memory stays flat.

use std::io::{BufRead, BufReader, BufWriter, Seek, Write};
use std::path::PathBuf;

use reshifter_format::error::{Error, Kind, Result};
use reshifter_format::io::{Output, open_input};
use reshifter_format::pipeline::Run;
use reshifter_format::report::{human_bytes, secs};
use reshifter_format::{
    Checker, Line, MAX_LINE, Record, StreamWriter, Verify, parse_line, read_header, read_line_capped, show_key,
    trim_newline,
};
use reshifter_k8s::atrest::AtRest;
use serde_json::Value;

use crate::objects::{self, Outcome};

/// kv-encode's command-line options.
#[derive(Debug, Clone, clap::Args)]
pub struct EncodeOptions {
    /// Stream to read, as kv-decode wrote it (default: stdin)
    #[arg(value_name = "INPUT")]
    pub input: Option<PathBuf>,

    /// Write to FILE (renamed into place when complete) instead of stdout
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// The EncryptionConfiguration kv-decode was given: edited objects of encrypted values are
    /// encrypted again with the key they were encrypted with
    #[arg(long, value_name = "FILE")]
    pub encryption_config: Option<PathBuf>,

    /// No summary on stderr
    #[arg(short, long)]
    pub quiet: bool,
}

/// A record line without its `object` field, and the object.
fn split_object(line: &[u8], line_no: u64) -> Result<(Vec<u8>, Option<Value>)> {
    if memchr::memmem::find(line, b"\"object\":").is_none() {
        return Ok((line.to_vec(), None));
    }
    let mut v: serde_json::Map<String, Value> = serde_json::from_slice(line)
        .map_err(|e| Error::bad_line(line_no, format!("invalid JSON at column {}", e.column())))?;
    let object = v.remove("object");
    let rest = serde_json::to_vec(&v).map_err(|e| Error::bad_line(line_no, e.to_string()))?;
    Ok((rest, object))
}

/// The value for a record whose `object` is `given`: `None` when the object is the value's own.
fn reencode(r: &Record, given: &Value, at_rest: Option<&AtRest>) -> Result<Option<Vec<u8>>> {
    let bad = |why: String| Error::new(Kind::BadInput, format!("key {}: {why}", show_key(&r.key)));
    let was = match objects::open(&r.key, &r.value, r.mod_revision, at_rest) {
        Outcome::Object(o) => o,
        Outcome::NotObject => return Err(bad("has an object but its value is not a Kubernetes object".into())),
        Outcome::Encrypted => {
            return Err(bad("its value is encrypted at rest: give the --encryption-config kv-decode had".into()));
        }
        Outcome::Failed(why) => return Err(bad(format!("its value cannot be decoded: {why}"))),
    };
    if was.object == *given {
        return Ok(None);
    }
    objects::encode(&r.key, &was, given, at_rest)
        .map(Some)
        .map_err(|e| bad(format!("cannot write the edited object: {e}")))
}

/// Run kv-encode.
pub fn run(o: EncodeOptions) -> Result<()> {
    let at_rest = match &o.encryption_config {
        Some(p) => Some(crate::rekey::load_config(p)?),
        None => None,
    };
    let mut input = open_input(o.input.as_deref())?;
    let (header_line, header) = read_header(&mut input)?;
    let mut checker = Checker::new(&header, Verify::Full);
    let spool =
        tempfile::tempfile().map_err(|e| Error::with_source(Kind::Failure, "cannot make a temporary file", e))?;
    let mut w = StreamWriter::new(BufWriter::new(spool), &header)?;
    let mut run = Run::new("kv-encode", o.quiet);
    let (mut buf, mut line_no, mut objects, mut changed) = (Vec::new(), 1u64, 0u64, 0u64);
    let trailer_line = loop {
        buf.clear();
        if read_line_capped(&mut input, &mut buf, MAX_LINE)? == 0 {
            return Err(checker.truncated());
        }
        line_no += 1;
        let complete = buf.ends_with(b"\n");
        let (line, object) = split_object(trim_newline(&buf), line_no)?;
        match parse_line(&line, line_no, complete)? {
            Line::Trailer(t) => {
                checker.trailer(&t, line_no)?;
                break trim_newline(&buf).to_vec();
            }
            Line::Record(mut r) => {
                checker.record(line_no, &r.meta())?;
                run.record((r.key.len() + r.value.len()) as u64, |t| format!("{} keys read", t.keys));
                if let Some(given) = object {
                    objects += 1;
                    if let Some(v) = reencode(&r, &given, at_rest.as_ref())? {
                        r.value = v;
                        changed += 1;
                    }
                }
                w.write(&r)?;
            }
        }
    };
    buf.clear();
    if read_line_capped(&mut input, &mut buf, MAX_LINE)? > 0 {
        return Err(Error::bad_line(line_no + 1, "data after the trailer"));
    }
    let (spooled, _) = w.finish()?;
    let mut spooled = spooled.into_inner().map_err(|e| Error::from(e.into_error()))?;
    spooled.rewind()?;
    let mut out = Output::create(o.output.as_deref())?;
    let mut lines = BufReader::new(spooled);
    let mut line = Vec::new();
    lines.read_until(b'\n', &mut line)?; // the header, written again below
    if changed == 0 {
        // The stream as it was before kv-decode: its header without kv-decode's entry.
        let mut h = header.clone();
        if h.history.last().is_some_and(|e| e == "kv-decode") {
            h.history.pop();
            serde_json::to_writer(&mut out, &h).map_err(std::io::Error::other)?;
        } else {
            out.write_all(&header_line)?;
        }
        out.write_all(b"\n")?;
    } else {
        let mut h = header.clone();
        h.history.push(format!("kv-encode: {changed} edited objects written into their values"));
        serde_json::to_writer(&mut out, &h).map_err(std::io::Error::other)?;
        out.write_all(b"\n")?;
    }
    let mut pending: Option<Vec<u8>> = None;
    loop {
        line.clear();
        if lines.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        if let Some(p) = pending.replace(line.clone()) {
            out.write_all(&p)?;
        }
    }
    // The last line is the recomputed trailer: the input's own when nothing changed.
    match (changed, pending) {
        (0, _) => {
            out.write_all(&trailer_line)?;
            out.write_all(b"\n")?;
        }
        (_, Some(t)) => out.write_all(&t)?,
        (_, None) => return Err(Error::new(Kind::Failure, "the spooled stream lost its trailer")),
    }
    out.finish()?;
    run.done(|t| {
        format!(
            "{} keys: {objects} objects, {changed} edited and written into their values, {} kept byte for byte \
             ({} read in {})",
            t.keys,
            objects - changed,
            human_bytes(t.bytes),
            secs(t.elapsed)
        )
    });
    Ok(())
}
