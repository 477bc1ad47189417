//! etcd-load --api v2: a stream into etcd's v2 keyspace — directories (records whose key ends
//! in `/`), values and TTLs (a record's lease TTL from the header) — with the modes and the
//! dry run of the v3 load.
//!
//! The target under the stream's prefixes is read first (one recursive GET, parsed as it
//! arrives, sorted on disk) and merge-joined with the stream, so every key is known to be
//! created, updated, unchanged or kept before it is written; a create is guarded by
//! `prevExist=false`, an update by `prevIndex`. v2 has no transactions: each write is its own
//! request, and a writer that changed a key meanwhile wins a second, unguarded, write (counted
//! as updated). With `--mode sync`, what the target holds and the stream lacks is spooled and
//! deleted only after the whole stream was verified: keys first, then directories, deepest
//! first.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::time::Instant;

use super::{Node, V2, V2Error, code};
use crate::load::options::{LeaseMode, LoadOptions, Mode};
use crate::load::reader::check_header;
use crate::load::report::{LoadCounts, Loaded, failure};
use reshifter_format::error::{Error, Kind, Result};
use reshifter_format::sort::{DEFAULT_BUDGET, Merged, Sorter};
use reshifter_format::{
    Header, Record, StreamReader, encode_record, is_v2_dir, parse_record, push_bytes_field, show_key,
};

type Input = Box<dyn BufRead + Send>;

/// What the target holds of one key.
struct Held {
    dir: bool,
    value: Vec<u8>,
    modified: i64,
    ttl: bool,
}

/// The target's nodes under the stream's prefixes, in key order.
fn target_nodes(v2: &V2, header: &Header) -> Result<Merged> {
    let prefixes: Vec<String> = header.bounds();
    let dirs = super::dump::dirs(&prefixes)?;
    let mut sorter = Sorter::new(DEFAULT_BUDGET);
    let bounds = reshifter_format::Frame::of(header);
    for dir in &dirs {
        let mut visit = |n: Node| -> Result<()> {
            if n.key.is_empty() || n.key == "/" {
                return Ok(());
            }
            let (rec, _) = n.record();
            if !bounds.within(&rec.key) {
                return Ok(());
            }
            let mut line = Vec::new();
            encode_record(&mut line, &rec);
            sorter.push(rec.key, line)?;
            Ok(())
        };
        v2.walk(dir, &mut visit)?;
    }
    sorter.finish()
}

fn held(line: &[u8]) -> Result<(Vec<u8>, Held)> {
    let r = parse_record(reshifter_format::trim_newline(line))
        .map_err(|e| Error::new(Kind::Failure, format!("a sorted node is damaged (temporary file): {e}")))?;
    let h = Held { dir: is_v2_dir(&r), value: r.value, modified: r.mod_revision, ttl: r.lease != 0 };
    Ok((r.key, h))
}

/// The v2 key of a record: its key without a directory's trailing `/`.
fn v2_key(r: &Record) -> Result<String> {
    let k = std::str::from_utf8(&r.key)
        .map_err(|_| Error::new(Kind::BadInput, format!("key {} is not UTF-8: v2 keys are text", show_key(&r.key))))?;
    if !k.starts_with('/') {
        return Err(Error::new(
            Kind::BadInput,
            format!("key {} does not start with /: v2 keys are paths", show_key(&r.key)),
        ));
    }
    Ok(if is_v2_dir(r) { k.trim_end_matches('/').to_string() } else { k.to_string() })
}

/// A load into the v2 API.
struct Loader<'a> {
    v2: V2,
    opts: &'a LoadOptions,
    header: Header,
    stats: LoadCounts,
    dry: Option<std::sync::Arc<std::sync::Mutex<Box<dyn Write + Send>>>>,
    doomed: Option<BufWriter<File>>,
}

impl Loader<'_> {
    fn report(&mut self, action: &str, key: &[u8]) -> Result<()> {
        if let Some(out) = &self.dry {
            let mut line = format!("{{\"action\":\"{action}\",").into_bytes();
            push_bytes_field(&mut line, "key", key);
            line.extend_from_slice(b"}\n");
            out.lock().unwrap_or_else(|e| e.into_inner()).write_all(&line)?;
        }
        Ok(())
    }

    /// The TTL a record's key gets: `Ok(None)` for none, `Err(())` to skip it (lease expired).
    fn ttl(&self, r: &Record) -> std::result::Result<Option<i64>, ()> {
        if r.lease == 0 || self.opts.leases == LeaseMode::Drop {
            return Ok(None);
        }
        match self.header.lease_ttl(r.lease) {
            Some(t) if t > 0 => Ok(Some(t)),
            _ => Err(()),
        }
    }

    /// Write one record of the stream, the target holding `held` of its key.
    fn record(&mut self, r: &Record, held: Option<&Held>) -> Result<()> {
        let Ok(ttl) = self.ttl(r) else {
            self.stats.expired += 1;
            return Ok(());
        };
        let dir = is_v2_dir(r);
        let key = v2_key(r)?;
        let value = if dir {
            String::new()
        } else {
            String::from_utf8(r.value.clone()).map_err(|_| {
                Error::new(
                    Kind::BadInput,
                    format!("the value of key {} is not UTF-8 text: the v2 API stores strings", show_key(&r.key)),
                )
            })?
        };
        let unchanged = held.is_some_and(|h| h.dir == dir && h.value == r.value && !h.ttl && ttl.is_none());
        if dir && !(held.is_some() && self.opts.mode == Mode::CreateOnly) {
            self.stats.dirs += 1;
        }
        let all = self.opts.dry_out.all();
        let action = match held {
            None => "create",
            Some(_) if self.opts.mode == Mode::CreateOnly => {
                self.stats.kept += 1;
                if all {
                    self.report("keep", &r.key)?;
                }
                return Ok(());
            }
            Some(_) if unchanged => {
                self.stats.unchanged += 1;
                if all {
                    self.report("unchanged", &r.key)?;
                }
                return Ok(());
            }
            Some(_) => "update",
        };
        self.report(action, &r.key)?;
        if action == "create" {
            self.stats.created += 1;
        } else {
            self.stats.updated += 1;
        }
        if self.dry.is_some() {
            return Ok(());
        }
        self.stats.txns += 1;
        let mut form: Vec<(&str, String)> = Vec::new();
        if dir {
            form.push(("dir", "true".into()));
        } else {
            form.push(("value", value));
        }
        if let Some(t) = ttl {
            form.push(("ttl", t.to_string()));
        }
        let mut guarded = form.clone();
        match (held, dir) {
            (None, _) => guarded.push(("prevExist", "false".into())),
            (Some(_), true) => guarded.push(("prevExist", "true".into())),
            (Some(h), false) => guarded.push(("prevIndex", h.modified.to_string())),
        }
        let done = match self.v2.put(&key, &guarded)? {
            Ok(()) => Ok(()),
            // Someone wrote the key meanwhile: the stream's value wins, once.
            Err(e) if matches!(e.code, code::NODE_EXIST | code::COMPARE_FAILED | code::KEY_NOT_FOUND) && !dir => {
                self.v2.put(&key, &form)?
            }
            Err(e) if e.code == code::NODE_EXIST && dir => Ok(()),
            Err(e) => Err(e),
        };
        done.map_err(|e| self.refused(&key, &e))
    }

    fn refused(&self, key: &str, e: &V2Error) -> Error {
        let hint = match e.code {
            code::NOT_A_FILE => ": it is a directory in the target and a key in the stream",
            code::NOT_A_DIR => ": a key on its path is not a directory in the target (or in the stream)",
            _ => "",
        };
        let err = super::v2_error(&format!("writing {key}"), 0, e);
        Error::new(err.kind(), format!("{}{hint}", err.message()))
    }

    /// A key the target holds and the stream lacks: spooled for sync, reported when dry.
    fn missing(&mut self, key: &[u8], h: &Held) -> Result<()> {
        if let Some(spool) = &mut self.doomed {
            spool.write_all(&(key.len() as u64).to_le_bytes())?;
            spool.write_all(key)?;
            spool.write_all(&[u8::from(h.dir)])?;
            spool.write_all(&h.modified.to_le_bytes())?;
        }
        Ok(())
    }

    /// Sync, after the stream was verified and written: delete the spooled keys, then the
    /// spooled directories, deepest first.
    fn delete_missing(&mut self) -> Result<()> {
        let Some(spool) = self.doomed.take() else { return Ok(()) };
        let mut f = spool.into_inner().map_err(|e| e.into_error())?;
        f.seek(SeekFrom::Start(0))?;
        let mut r = BufReader::new(f);
        let mut dirs: Vec<Vec<u8>> = Vec::new();
        loop {
            let mut n = [0u8; 8];
            match r.read_exact(&mut n) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
                Err(e) => return Err(e.into()),
            }
            let mut key = vec![0u8; u64::from_le_bytes(n) as usize];
            r.read_exact(&mut key)?;
            let mut d = [0u8; 9];
            r.read_exact(&mut d)?;
            if d[0] == 1 {
                dirs.push(key);
                continue;
            }
            self.delete(&key, false, i64::from_le_bytes(d[1..9].try_into().expect("8 bytes")))?;
        }
        for key in dirs.iter().rev() {
            self.delete(key, true, 0)?;
        }
        Ok(())
    }

    fn delete(&mut self, key: &[u8], dir: bool, modified: i64) -> Result<()> {
        self.report("delete", key)?;
        self.stats.deleted += 1;
        if self.dry.is_some() {
            return Ok(());
        }
        self.stats.txns += 1;
        let k = String::from_utf8_lossy(key).trim_end_matches('/').to_string();
        let query = if dir { "dir=true".to_string() } else { format!("prevIndex={modified}") };
        match self.v2.delete(&k, &query)? {
            Ok(()) => Ok(()),
            // Gone already, or changed meanwhile (then deleted unguarded), or not empty: a key
            // the stream holds lies under it (it stays).
            Err(e) if e.code == code::KEY_NOT_FOUND => Ok(()),
            Err(e) if e.code == code::COMPARE_FAILED => self.v2.delete(&k, "").map(|_| ()),
            Err(e) if e.code == code::DIR_NOT_EMPTY => {
                self.stats.deleted -= 1;
                Ok(())
            }
            Err(e) => Err(self.refused(&k, &e)),
        }
    }
}

/// Run `etcd-load --api v2` on an opened stream.
pub fn run(opts: &LoadOptions, mut reader: StreamReader<Input>) -> Result<Loaded> {
    let started = Instant::now();
    let header = reader.header().clone();
    check_header(opts, &header)?;
    let v2 = V2::connect(&opts.etcd)?;
    v2.version()?;
    let mut target = target_nodes(&v2, &header)?;
    let sync = opts.mode == Mode::Sync;
    let mut l = Loader {
        v2,
        opts,
        header,
        stats: LoadCounts::default(),
        dry: opts.dry_run.then(|| opts.dry_out.writer()),
        doomed: sync.then(tempfile::tempfile).transpose()?.map(BufWriter::new),
    };
    let advance = |t: &mut Merged| -> Result<Option<(Vec<u8>, Held)>> {
        t.next().transpose()?.map(|(_, line)| held(&line)).transpose()
    };
    let mut next_target = advance(&mut target)?;
    let mut records = 0u64;
    let result = (|| -> Result<()> {
        while let Some(r) = reader.next_record()? {
            records += 1;
            while matches!(&next_target, Some((k, _)) if *k < r.key) {
                let (k, h) = next_target.take().expect("a target key");
                if sync {
                    l.missing(&k, &h)?;
                }
                next_target = advance(&mut target)?;
            }
            let here = next_target.take_if(|(k, _)| *k == r.key);
            l.record(&r, here.as_ref().map(|(_, h)| h))
                .map_err(|e| Error::with_source(e.kind(), format!("at key {}", show_key(&r.key)), e))?;
            if here.is_some() {
                next_target = advance(&mut target)?;
            }
        }
        // The stream was verified to its trailer: what the target has beyond it may go.
        while let Some((k, h)) = next_target.take() {
            if sync {
                l.missing(&k, &h)?;
            }
            next_target = advance(&mut target)?;
        }
        l.delete_missing()
    })();
    if let Some(out) = &l.dry {
        out.lock().unwrap_or_else(|e| e.into_inner()).flush()?;
    }
    match result {
        Ok(()) => Ok(Loaded { stats: l.stats, records, elapsed: started.elapsed(), v2: true, bumped: None }),
        Err(e) => Err(failure(opts, &l.stats, e)),
    }
}
