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

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, BufWriter, Seek, Write};
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::mpsc::sync_channel;

use reshifter_format::error::{Error, Kind, Result};
use reshifter_format::io::{Output, open_input};
use reshifter_format::pipeline::Run;
use reshifter_format::report::{human_bytes, secs};
use reshifter_format::{
    Checker, Line, MAX_LINE, Record, RecordMeta, StreamWriter, Verify, parse_line, read_header, read_line_capped,
    show_key, trim_newline,
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

const BATCH_LINES: usize = 256;
const BATCH_BYTES: usize = 4 << 20;

/// One line, parsed and its object written back.
enum Item {
    Trailer(reshifter_format::Trailer, Vec<u8>),
    /// `read` is the metadata of the record as read (what the input's digests cover).
    Record {
        record: Record,
        read: RecordMeta,
        object: bool,
        edited: bool,
    },
}

fn item(buf: &[u8], line_no: u64, at_rest: Option<&AtRest>) -> Result<Item> {
    let complete = buf.ends_with(b"\n");
    let (line, object) = match split_object(trim_newline(buf), line_no) {
        Err(_) if !complete => {
            let why = format!("line {line_no}: stream ends in the middle of a line: the input is truncated");
            return Err(Error::new(Kind::Truncated, why));
        }
        r => r?,
    };
    Ok(match parse_line(&line, line_no, complete)? {
        Line::Trailer(t) => Item::Trailer(t, trim_newline(buf).to_vec()),
        Line::Record(mut record) => {
            let read = record.meta();
            let (has, mut edited) = (object.is_some(), false);
            if let Some(given) = object
                && let Some(v) = reencode(&record, &given, at_rest)?
            {
                record.value = v;
                edited = true;
            }
            Item::Record { record, read, object: has, edited }
        }
    })
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
    let (mut objects, mut changed) = (0u64, 0u64);
    let mut trailer_line = None;
    let at_rest = at_rest.as_ref();
    // Lines in batches to the workers (decode, compare, re-encode); this thread takes their
    // results in order, checks them as any reader does, and writes.
    let threads = crate::filter::threads();
    let (batch_tx, batch_rx) = sync_channel::<(u64, u64, Vec<Vec<u8>>)>(threads * 2);
    // Taken away when this thread stops early: the reader's next send then fails.
    let batch_rx = Mutex::new(Some(batch_rx));
    let (done_tx, done_rx) = sync_channel::<(u64, Vec<Result<Item>>)>(threads * 2);
    std::thread::scope(|scope| -> Result<()> {
        let reader = scope.spawn(move || -> Result<()> {
            let (mut seq, mut line_no) = (0u64, 1u64);
            loop {
                let (mut batch, mut bytes) = (Vec::with_capacity(BATCH_LINES), 0usize);
                let first = line_no + 1;
                while batch.len() < BATCH_LINES && bytes < BATCH_BYTES {
                    let mut buf = Vec::new();
                    if read_line_capped(&mut input, &mut buf, MAX_LINE)? == 0 {
                        break;
                    }
                    line_no += 1;
                    bytes += buf.len();
                    batch.push(buf);
                }
                let last = batch.is_empty();
                if batch_tx.send((seq, first, batch)).is_err() || last {
                    return Ok(());
                }
                seq += 1;
            }
        });
        for _ in 0..threads {
            let (rx, tx) = (&batch_rx, done_tx.clone());
            scope.spawn(move || {
                loop {
                    let next = match rx.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
                        Some(rx) => rx.recv(),
                        None => return,
                    };
                    let Ok((seq, first, batch)) = next else { return };
                    let items = batch.iter().enumerate().map(|(i, l)| item(l, first + i as u64, at_rest)).collect();
                    if tx.send((seq, items)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(done_tx);
        let (mut want, mut pending, mut line_no) = (0u64, BTreeMap::new(), 1u64);
        let result = (|| -> Result<()> {
            for (seq, items) in done_rx.iter() {
                pending.insert(seq, items);
                while let Some(items) = pending.remove(&want) {
                    want += 1;
                    if items.is_empty() {
                        return match trailer_line {
                            Some(_) => Ok(()),
                            None => Err(checker.truncated()),
                        };
                    }
                    for it in items {
                        line_no += 1;
                        if trailer_line.is_some() {
                            return Err(Error::bad_line(line_no, "data after the trailer"));
                        }
                        match it? {
                            Item::Trailer(t, raw) => {
                                checker.trailer(&t, line_no)?;
                                trailer_line = Some(raw);
                            }
                            Item::Record { record, read, object, edited } => {
                                checker.record(line_no, &read)?;
                                run.record((record.key.len() + record.value.len()) as u64, |t| {
                                    format!("{} keys read", t.keys)
                                });
                                objects += u64::from(object);
                                changed += u64::from(edited);
                                w.write(&record)?;
                            }
                        }
                    }
                }
            }
            Err(checker.truncated())
        })();
        // Stop the workers and the reader (their channels close) before waiting for them.
        drop(done_rx);
        *batch_rx.lock().unwrap_or_else(|e| e.into_inner()) = None;
        match (result, reader.join()) {
            // What the reader met (an unreadable input, a line too long) explains the rest.
            (_, Ok(Err(e))) => Err(e),
            (r, Ok(Ok(()))) => r,
            (_, Err(_)) => Err(Error::new(Kind::Failure, "the reading thread failed")),
        }
    })?;
    let trailer_line = trailer_line.ok_or_else(|| checker.truncated())?;
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
