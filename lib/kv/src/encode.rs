//! kv-encode: the inverse of kv-decode. Every record's `object` (as kv-decode wrote it, perhaps
//! edited with jq since) goes back into the value in the value's own encoding (protobuf, JSON or
//! CBOR, re-encrypted with the same key when it was encrypted at rest), and the field is removed.
//! A record whose object was not changed keeps its value byte for byte; when nothing changed the
//! output is the input stream as it was before kv-decode, header and trailer included. When
//! something did, the trailer is recomputed and the header's history says kv-encode changed it.
//!
//! The input is verified as any stream is (order, prefixes, trailer digests). The header, which
//! comes first, depends on whether anything changed: the output is held until that is known
//! ([`crate::encoded`]); memory stays flat.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use reshifter_format::error::{Error, Kind, Result};
use reshifter_format::io::{Output, open_input};
use reshifter_format::pipeline::Run;
use reshifter_format::report::{human_bytes, secs};
use reshifter_format::{
    Checker, Header, Line, MAX_LINE, Record, RecordMeta, StreamWriter, Verify, encode_record, parse_line, read_header,
    read_line_capped, show_key, trim_newline,
};
use serde_json::Value;

use crate::atrest::ApiServer;
use crate::encoded::Encoded;
use crate::objects::{self, Outcome};

/// kv-encode's command-line options.
#[derive(Debug, Clone, clap::Args)]
pub struct EncodeOptions {
    /// Where progress, warnings and the summary go (stderr, under the tool's name, unless the
    /// caller names itself or takes the lines).
    #[arg(skip)]
    pub report: reshifter_format::report::Reporter,

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

    #[command(flatten)]
    pub etcd_prefix: reshifter_k8s::EtcdPrefix,

    /// No summary on stderr
    #[arg(short, long)]
    pub quiet: bool,
}

/// kv-decode's fields in a record line as kv-decode lays them out: the object's JSON text, the
/// digest written after it, and the line without them (the record as it was before kv-decode).
struct DecodedParts<'a> {
    object: &'a [u8],
    digest: &'a [u8],
    rest: Vec<u8>,
}

/// Find kv-decode's fields without parsing the object. A quote inside a JSON string is escaped,
/// so `,"object":` is found first where the record's own field is (the fields before it are
/// scalars), and `,"object_sha256":"` last where the digest is (only the value comes after it).
fn decoded_parts(line: &[u8]) -> Option<DecodedParts<'_>> {
    const OBJECT: &[u8] = b",\"object\":";
    const DIGEST: &[u8] = b",\"object_sha256\":\"";
    let at = memchr::memmem::find(line, OBJECT)?;
    let digest_at = memchr::memmem::rfind(line, DIGEST)?;
    let (start, hex_at) = (at + OBJECT.len(), digest_at + DIGEST.len());
    if digest_at < start || line.get(hex_at + 64) != Some(&b'"') {
        return None;
    }
    let mut rest = Vec::with_capacity(line.len() - (hex_at + 65 - at));
    rest.extend_from_slice(&line[..at]);
    rest.extend_from_slice(&line[hex_at + 65..]);
    Some(DecodedParts { object: &line[start..digest_at], digest: &line[hex_at..hex_at + 64], rest })
}

/// A line laid out as kv-decode writes it: when its object still has the digest kv-decode gave
/// it, it is unedited and the value stands as it is (nothing is decoded or encoded); otherwise
/// only the object is parsed. `None` when the rest is not a record (the long way says why).
fn decoded_item(p: DecodedParts, line_no: u64, complete: bool, api: &ApiServer) -> Option<Result<Item>> {
    let Ok(Line::Record(record)) = parse_line(&p.rest, line_no, complete) else { return None };
    let read = record.meta();
    let mut given = [0u8; 32];
    if hex::decode_to_slice(p.digest, &mut given).is_ok() && objects::object_digest(&read.sha256, p.object) == given {
        return Some(Ok(Item::Record { line: p.rest, read, written: None, object: true }));
    }
    // Edited: a protobuf value is judged from the object's text where it can be.
    if let Some(changed) = objects::encode_text(&record.key, &record.value, p.object, api) {
        return Some(Ok(text_item(record, read, changed, p.rest)));
    }
    // The object may nest as deep as the API server allows.
    let object = match reshifter_format::json::parse_within(p.object, 0) {
        Ok(v) => v,
        Err(e) => return Some(Err(Error::bad_line(line_no, e.to_string()))),
    };
    Some(record_item(record, read, Some(object), Some(p.rest), api))
}

/// The item of a record whose edited object was written from its text: `changed` is its new
/// value (`None`: the value stands, and `line` is the record as it was before kv-decode).
fn text_item(mut record: Record, read: RecordMeta, changed: Option<Vec<u8>>, line: Vec<u8>) -> Item {
    let Some(v) = changed else { return Item::Record { line, read, written: None, object: true } };
    record.value = v;
    Item::Record { line: record_line(&record), read, written: Some(record.meta()), object: true }
}

/// A record's line, without its newline.
fn record_line(record: &Record) -> Vec<u8> {
    let mut l = Vec::with_capacity(record.key.len() + record.value.len() * 4 / 3 + 128);
    encode_record(&mut l, record);
    l.pop();
    l
}

/// The item of a record read with `object` (if any): the value re-encoded when the object was
/// edited, else `line` (the record as it was before kv-decode, when known) as it is.
fn record_item(
    mut record: Record,
    read: RecordMeta,
    object: Option<Value>,
    line: Option<Vec<u8>>,
    api: &ApiServer,
) -> Result<Item> {
    let has = object.is_some();
    let mut written = None;
    if let Some(given) = object
        && let Some(v) = reencode(&record, given, api)?
    {
        record.value = v;
        written = Some(record.meta());
    }
    let line = match (written.is_some(), line) {
        (false, Some(line)) => line,
        _ => record_line(&record),
    };
    Ok(Item::Record { line, read, written, object: has })
}

/// A record line without kv-decode's `object` and `object_sha256` fields, the object, and
/// whether the line is the input's own (no field was taken out).
fn split_object(line: &[u8], line_no: u64) -> Result<(Vec<u8>, Option<Value>, bool)> {
    // `"object` finds both fields: a digest left without its object (deleted in jq) goes too.
    if memchr::memmem::find(line, b"\"object").is_none() {
        return Ok((line.to_vec(), None, true));
    }
    // The object may nest as deep as the API server allows; the line is one level more.
    let mut v: serde_json::Map<String, Value> =
        reshifter_format::json::parse_within(line, 1).map_err(|e| Error::bad_line(line_no, e.to_string()))?;
    v.remove("object_sha256");
    let object = v.remove("object");
    let rest = serde_json::to_vec(&v).map_err(|e| Error::bad_line(line_no, e.to_string()))?;
    Ok((rest, object, false))
}

/// The value for a record whose `object` is `given`: `None` when the object is the value's own.
fn reencode(r: &Record, mut given: Value, api: &ApiServer) -> Result<Option<Vec<u8>>> {
    let bad = |why: String| Error::new(Kind::BadInput, format!("key {}: {why}", show_key(&r.key)));
    let was = match objects::open(&r.key, &r.value, r.mod_revision, api) {
        Outcome::Object(o) => o,
        Outcome::NotObject => return Err(bad("has an object but its value is not a Kubernetes object".into())),
        Outcome::Encrypted => {
            return Err(bad("its value is encrypted at rest: give the --encryption-config kv-decode had".into()));
        }
        Outcome::Failed(why) => return Err(bad(format!("its value cannot be decoded: {why}"))),
    };
    // Numbers a JSON tool rounded are not edits: given their exact value back, then compared.
    if objects::reconcile(&was.object, &mut given).map_err(bad)? {
        return Ok(None);
    }
    objects::encode(&r.key, &was, given, api.at_rest())
        .map(Some)
        .map_err(|e| bad(format!("cannot write the edited object: {e}")))
}

const BATCH_LINES: usize = 256;
const BATCH_BYTES: usize = 4 << 20;

/// One line, parsed and its object written back.
enum Item {
    Trailer(reshifter_format::Trailer, Vec<u8>),
    /// The record line to write; `read` is the metadata of the record as read (what the input's
    /// digests cover), `written` that of an edited one.
    Record {
        line: Vec<u8>,
        read: RecordMeta,
        written: Option<RecordMeta>,
        object: bool,
    },
}

fn item(buf: &[u8], line_no: u64, api: &ApiServer) -> Result<Item> {
    let complete = buf.ends_with(b"\n");
    if let Some(it) = decoded_parts(trim_newline(buf)).and_then(|p| decoded_item(p, line_no, complete, api)) {
        return it;
    }
    let (line, object, own) = match split_object(trim_newline(buf), line_no) {
        Err(_) if !complete => {
            let why = format!("line {line_no}: stream ends in the middle of a line: the input is truncated");
            return Err(Error::new(Kind::Truncated, why));
        }
        r => r?,
    };
    match parse_line(&line, line_no, complete)? {
        Line::Trailer(t) => Ok(Item::Trailer(t, trim_newline(buf).to_vec())),
        Line::Record(record) => {
            let read = record.meta();
            // A line whose fields were taken apart is written anew.
            record_item(record, read, object, own.then_some(line), api)
        }
    }
}

/// A batch of lines: its place in the input, the number of its first line, the lines.
type Batch = (u64, u64, Vec<Vec<u8>>);

/// Read the lines after the header in batches; an empty batch ends the input.
fn read_batches(mut input: impl BufRead, tx: SyncSender<Batch>) -> Result<()> {
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
        if tx.send((seq, first, batch)).is_err() || last {
            return Ok(());
        }
        seq += 1;
    }
}

/// A worker: batches of lines in, their items out.
fn work(rx: &Mutex<Option<Receiver<Batch>>>, tx: SyncSender<(u64, Vec<Result<Item>>)>, api: &ApiServer) {
    loop {
        let next = match rx.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            Some(rx) => rx.recv(),
            None => return,
        };
        let Ok((seq, first, batch)) = next else { return };
        let items = batch.iter().enumerate().map(|(i, l)| item(l, first + i as u64, api)).collect();
        if tx.send((seq, items)).is_err() {
            return;
        }
    }
}

/// The records, checked in order as any reader checks them, written to the output.
struct Taken {
    checker: Checker,
    w: StreamWriter<Encoded>,
    run: Run,
    objects: u64,
    changed: u64,
    trailer: Option<Vec<u8>>,
    line_no: u64,
}

impl Taken {
    fn new(w: StreamWriter<Encoded>, header: &Header, run: Run) -> Self {
        Taken { checker: Checker::new(header, Verify::Full), w, run, objects: 0, changed: 0, trailer: None, line_no: 1 }
    }

    /// One batch, in order; `Ok(true)` once the input has ended after its trailer.
    fn batch(&mut self, items: Vec<Result<Item>>) -> Result<bool> {
        if items.is_empty() {
            return match self.trailer {
                Some(_) => Ok(true),
                None => Err(self.checker.truncated()),
            };
        }
        for it in items {
            self.line_no += 1;
            if self.trailer.is_some() {
                return Err(Error::bad_line(self.line_no, "data after the trailer"));
            }
            match it? {
                Item::Trailer(t, raw) => {
                    self.checker.trailer(&t, self.line_no)?;
                    self.trailer = Some(raw);
                }
                Item::Record { line, read, written, object } => {
                    self.checker.record(self.line_no, &read)?;
                    self.run.record((read.key.len() + read.len) as u64, |t| format!("{} keys read", t.keys));
                    self.objects += u64::from(object);
                    if written.is_some() && self.changed == 0 {
                        self.w.get_mut().edited()?;
                    }
                    self.changed += u64::from(written.is_some());
                    self.w.write_line_meta(&line, written.as_ref().unwrap_or(&read))?;
                }
            }
        }
        Ok(false)
    }
}

/// Lines in batches to the workers (decode, compare, re-encode); this thread takes their results
/// in order into `taken`.
fn encode_all(input: impl BufRead + Send, taken: &mut Taken, api: &ApiServer) -> Result<()> {
    let threads = reshifter_format::parallel::workers();
    let (batch_tx, batch_rx) = sync_channel::<Batch>(threads * 2);
    // Taken away when this thread stops early: the reader's next send then fails.
    let batch_rx = Mutex::new(Some(batch_rx));
    let (done_tx, done_rx) = sync_channel::<(u64, Vec<Result<Item>>)>(threads * 2);
    std::thread::scope(|scope| {
        let reader = scope.spawn(move || read_batches(input, batch_tx));
        for _ in 0..threads {
            let (rx, tx) = (&batch_rx, done_tx.clone());
            std::thread::Builder::new()
                .stack_size(reshifter_format::json::WORKER_STACK)
                .spawn_scoped(scope, move || work(rx, tx, api))
                .expect("cannot start a worker thread");
        }
        drop(done_tx);
        let mut result = Err(taken.checker.truncated());
        let (mut want, mut pending) = (0u64, BTreeMap::new());
        'all: for (seq, items) in done_rx.iter() {
            pending.insert(seq, items);
            while let Some(items) = pending.remove(&want) {
                want += 1;
                match taken.batch(items) {
                    Ok(false) => {}
                    done => {
                        result = done.map(|_| ());
                        break 'all;
                    }
                }
            }
        }
        // Stop the workers and the reader (their channels close) before waiting for them.
        drop(done_rx);
        *batch_rx.lock().unwrap_or_else(|e| e.into_inner()) = None;
        match (result, reader.join()) {
            // What the reader met (an unreadable input, a line too long) explains the rest.
            (_, Ok(Err(e))) => Err(e),
            (r, Ok(Ok(()))) => r,
            (_, Err(_)) => Err(Error::new(Kind::Failure, "the reading thread failed")),
        }
    })
}

/// The header to write: the one before kv-decode when nothing changed, else with kv-encode in its
/// history (which no digest covers).
fn header_line_for(changed: bool, header_line: &[u8], header: &Header) -> Result<Vec<u8>> {
    let mut h = header.clone();
    if changed {
        h.history.push("kv-encode: edited objects written into their values".into());
    } else if h.history.last().is_some_and(|e| e == "kv-decode") {
        h.history.pop();
    } else {
        return Ok(header_line.to_vec());
    }
    serde_json::to_vec(&h).map_err(|e| Error::from(std::io::Error::other(e)))
}

/// Run kv-encode.
pub fn run(o: EncodeOptions) -> Result<()> {
    let api = ApiServer::load(o.encryption_config.as_deref(), &o.etcd_prefix)?;
    let mut input = open_input(o.input.as_deref())?;
    let (header_line, header) = read_header(&mut input)?;
    let out = Output::create(o.output.as_deref())?;
    let run = Run::new(&o.report.or_name("kv-encode"), o.quiet);
    let unchanged = header_line_for(false, &header_line, &header)?;
    let edited = header_line_for(true, &header_line, &header)?;
    let w = StreamWriter::with_header_line(Encoded::new(out, unchanged.clone(), edited), &unchanged, &header)?;
    let mut taken = Taken::new(w, &header, run);
    encode_all(input, &mut taken, &api)?;
    let Taken { w, checker, trailer, objects, changed, run, .. } = taken;
    let trailer_line = trailer.ok_or_else(|| checker.truncated())?;
    // The input's own trailer when nothing changed, else the one the writer computed.
    let encoded = if changed == 0 { w.finish_with_line(&trailer_line)? } else { w.finish()?.0 };
    encoded.finish(changed > 0, o.output.as_deref())?;
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
