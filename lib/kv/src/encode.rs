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
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use reshifter_format::error::{Error, Kind, Result};
use reshifter_format::io::{Output, open_input};
use reshifter_format::pipeline::Run;
use reshifter_format::report::{human_bytes, secs};
use reshifter_format::{
    Checker, Header, Line, MAX_LINE, Record, RecordMeta, StreamWriter, Verify, parse_line, read_header,
    read_line_capped, show_key, trim_newline,
};
use serde_json::Value;

use crate::atrest::ApiServer;
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

/// A record line without its `object` field, and the object.
fn split_object(line: &[u8], line_no: u64) -> Result<(Vec<u8>, Option<Value>)> {
    if memchr::memmem::find(line, b"\"object\":").is_none() {
        return Ok((line.to_vec(), None));
    }
    // The object may nest as deep as the API server allows; the line is one level more.
    let mut v: serde_json::Map<String, Value> =
        reshifter_format::json::parse_within(line, 1).map_err(|e| Error::bad_line(line_no, e.to_string()))?;
    let object = v.remove("object");
    let rest = serde_json::to_vec(&v).map_err(|e| Error::bad_line(line_no, e.to_string()))?;
    Ok((rest, object))
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
    if was.object == given {
        return Ok(None);
    }
    // Numbers a JSON tool rounded are not edits: given their exact value back, then compared.
    objects::restore_rounded(&was.object, &mut given).map_err(bad)?;
    if was.object == given {
        return Ok(None);
    }
    objects::encode(&r.key, &was, &given, api.at_rest())
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

fn item(buf: &[u8], line_no: u64, api: &ApiServer) -> Result<Item> {
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
                && let Some(v) = reencode(&record, given, api)?
            {
                record.value = v;
                edited = true;
            }
            Item::Record { record, read, object: has, edited }
        }
    })
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

/// The records, checked in order as any reader checks them, written to the spool.
struct Taken {
    checker: Checker,
    w: StreamWriter<BufWriter<std::fs::File>>,
    run: Run,
    objects: u64,
    changed: u64,
    trailer: Option<Vec<u8>>,
    line_no: u64,
}

impl Taken {
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
                Item::Record { record, read, object, edited } => {
                    self.checker.record(self.line_no, &read)?;
                    let size = (record.key.len() + record.value.len()) as u64;
                    self.run.record(size, |t| format!("{} keys read", t.keys));
                    self.objects += u64::from(object);
                    self.changed += u64::from(edited);
                    self.w.write(&record)?;
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

/// The output: the header (the one before kv-decode when nothing changed, else with kv-encode in
/// its history), the spooled records, and the trailer (the input's own when nothing changed).
fn write_out(o: &EncodeOptions, header_line: &[u8], header: &Header, taken: Taken) -> Result<Run> {
    let trailer_line = taken.trailer.ok_or_else(|| taken.checker.truncated())?;
    let changed = taken.changed;
    let (spooled, _) = taken.w.finish()?;
    let mut spooled = spooled.into_inner().map_err(|e| Error::from(e.into_error()))?;
    spooled.rewind()?;
    let mut out = Output::create(o.output.as_deref())?;
    let mut lines = BufReader::new(spooled);
    let mut line = Vec::new();
    lines.read_until(b'\n', &mut line)?; // the header, written again below
    let mut h = header.clone();
    if changed > 0 {
        h.history.push(format!("kv-encode: {changed} edited objects written into their values"));
        serde_json::to_writer(&mut out, &h).map_err(std::io::Error::other)?;
    } else if h.history.last().is_some_and(|e| e == "kv-decode") {
        h.history.pop();
        serde_json::to_writer(&mut out, &h).map_err(std::io::Error::other)?;
    } else {
        out.write_all(header_line)?;
    }
    out.write_all(b"\n")?;
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
    match (changed, pending) {
        (0, _) => {
            out.write_all(&trailer_line)?;
            out.write_all(b"\n")?;
        }
        (_, Some(t)) => out.write_all(&t)?,
        (_, None) => return Err(Error::new(Kind::Failure, "the spooled stream lost its trailer")),
    }
    out.finish()?;
    Ok(taken.run)
}

/// Run kv-encode.
pub fn run(o: EncodeOptions) -> Result<()> {
    let api = ApiServer::load(o.encryption_config.as_deref(), &o.etcd_prefix)?;
    let mut input = open_input(o.input.as_deref())?;
    let (header_line, header) = read_header(&mut input)?;
    let spool =
        tempfile::tempfile().map_err(|e| Error::with_source(Kind::Failure, "cannot make a temporary file", e))?;
    let mut taken = Taken {
        checker: Checker::new(&header, Verify::Full),
        w: StreamWriter::new(BufWriter::new(spool), &header)?,
        run: Run::new(&o.report.or_name("kv-encode"), o.quiet),
        objects: 0,
        changed: 0,
        trailer: None,
        line_no: 1,
    };
    encode_all(input, &mut taken, &api)?;
    let (objects, changed) = (taken.objects, taken.changed);
    let run = write_out(&o, &header_line, &header, taken)?;
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
