//! The stream side of a load: the header checks made before anything is written, and the
//! reader thread that parses and validates the stream and cuts it into batches.

use std::fs::File;
use std::io::{BufWriter, Write};

use tokio::sync::mpsc;

use reshifter_format::error::{Error, Kind, Result};
use reshifter_format::{Header, Record, StreamReader};

use super::options::{LoadOptions, Mode};

/// Per-request overhead assumed when sizing a txn (field tags, lengths, revisions).
pub(super) const OP_OVERHEAD: usize = 48;

/// Bytes a record adds to a write txn: one compare and one put.
pub(super) fn record_cost(r: &Record) -> usize {
    2 * r.key.len() + r.value.len() + OP_OVERHEAD
}

pub(super) enum Msg {
    Batch(Vec<super::txn::Item>),
    /// The stream ended (trailer verified): the number of records, the v2 directories left
    /// out, and for sync the spool of their keys.
    End(Result<(u64, u64, Option<File>)>),
}

/// Spool a key (length-prefixed) for the sync merge.
pub(super) fn spool_key(w: &mut BufWriter<File>, key: &[u8]) -> std::io::Result<()> {
    w.write_all(&(key.len() as u64).to_le_bytes())?;
    w.write_all(key)
}

pub(super) type Input = Box<dyn std::io::BufRead + Send>;

/// Read the stream in a thread of its own and cut it into batches. A v2 stream's directories
/// are left out (counted): v3 has none.
pub(super) fn spawn_reader(
    opts: &LoadOptions,
    mut reader: StreamReader<Input>,
    tx: mpsc::Sender<Msg>,
) -> std::thread::JoinHandle<()> {
    let (max_ops, max_bytes, sync) = (opts.max_txn_ops.max(1), opts.max_request_bytes, opts.mode == Mode::Sync);
    let v2 = reader.header().api == reshifter_format::Api::V2;
    std::thread::spawn(move || {
        let mut dirs = 0u64;
        let mut spool = match sync.then(tempfile::tempfile).transpose() {
            Ok(s) => s.map(|f| BufWriter::with_capacity(1 << 20, f)),
            Err(e) => {
                let _ = tx.blocking_send(Msg::End(Err(e.into())));
                return;
            }
        };
        let mut batch: Vec<super::txn::Item> = Vec::new();
        let mut bytes = 256;
        let end: Result<()> = loop {
            match reader.next_record() {
                Ok(Some(rec)) if v2 && reshifter_format::is_v2_dir(&rec) => dirs += 1,
                Ok(Some(rec)) => {
                    if let Some(s) = &mut spool
                        && let Err(e) = spool_key(s, &rec.key)
                    {
                        break Err(e.into());
                    }
                    let cost = record_cost(&rec);
                    if !batch.is_empty() && (batch.len() >= max_ops || bytes + cost > max_bytes) {
                        if tx.blocking_send(Msg::Batch(std::mem::take(&mut batch))).is_err() {
                            return;
                        }
                        bytes = 256;
                    }
                    bytes += cost;
                    batch.push(rec.into());
                }
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        // After bad input, stop: the pending batch is not written.
        if end.is_ok() && !batch.is_empty() && tx.blocking_send(Msg::Batch(batch)).is_err() {
            return;
        }
        let end = end.and_then(|()| {
            let spool = spool.map(|s| s.into_inner().map_err(|e| Error::from(e.into_error()))).transpose()?;
            Ok((reader.records_read(), dirs, spool))
        });
        let _ = tx.blocking_send(Msg::End(end));
    })
}

/// Refuse streams this load cannot apply faithfully, before anything is written.
pub(crate) fn check_header(opts: &LoadOptions, header: &Header) -> Result<()> {
    if !header.sorted {
        return Err(Error::new(
            Kind::BadInput,
            "the stream is not sorted by key (a format-1 stream, e.g. from kv-filter --rewrite-prefix), so two \
             records could name one key: sort it with kv-seal first (kv-seal < in > out), which refuses duplicates",
        ));
    }
    if opts.mode != Mode::Sync {
        return Ok(());
    }
    if header.claims_complete() {
        return Ok(());
    }
    if (header.format == 1 || header.api == reshifter_format::Api::V2) && opts.assume_complete {
        return Ok(());
    }
    let why = if header.format == 1 {
        "this is a format-1 stream: no digest covers its header, so its prefixes cannot be trusted to say what \
         the source held (--assume-complete takes them at their word)"
    } else if header.api == reshifter_format::Api::V2 {
        "it is a v2 dump, and etcd's v2 API hides nodes whose names start with _ from every listing, so it cannot \
         claim to hold every key (--assume-complete takes its prefixes at their word)"
    } else {
        "its header does not claim to hold every key under its prefixes (it was filtered, re-sealed after \
         records were removed, or comes from a foreign archive)"
    };
    Err(Error::new(
        Kind::Usage,
        format!("--mode sync deletes what the stream lacks, but {why}; use --mode overwrite, which deletes nothing"),
    ))
}
