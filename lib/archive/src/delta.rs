//! Archives of delta streams: header, event lines in chunk entries, manifest — unpacked back
//! into the very stream, every line checked as for a delta stream, the trailer written only
//! after the manifest and the central directory checked out.

use std::io::BufRead;

use super::cdir::EntryLog;
use super::unpack::entry::{entry_error, read_entry_data};
use super::unpack::options::UnpackOptions;
use super::{DELTA_CHUNK, MANIFEST_ENTRY, delta_chunk_name};
use reshifter_format::delta::{DeltaChecker, DeltaLine, DeltaWriter, Op, parse_delta_line};
use reshifter_format::error::{Error, Kind, Result};
use reshifter_format::io::Output;
use reshifter_format::pipeline::{self, Run};
use reshifter_format::{Header, MAX_LINE, Trailer, trim_newline, value_sha256};

/// Where an unpacked delta stream goes (nothing for --verify).
pub(crate) struct DeltaTarget {
    writer: Option<DeltaWriter<Output>>,
    trailer: Trailer,
}

impl pipeline::Sink for DeltaTarget {
    type Closed = ();

    fn close(self) -> Result<()> {
        if let Some(w) = self.writer {
            let t = self.trailer;
            let (out, _) = w.finish(t.end_revision.unwrap_or(0), t.leases, t.anchor)?;
            out.finish()?;
        }
        Ok(())
    }
}

#[derive(serde::Deserialize)]
struct ChunkLine {
    path: String,
    size: u64,
    sha256: String,
}

/// Read the chunk entries and the manifest of a delta archive (its header entry read).
pub(crate) fn unpack_delta<R: BufRead>(
    rd: &mut R,
    o: &UnpackOptions,
    run: &mut Run,
    into: Option<Output>,
    header_line: &[u8],
    header: &Header,
    log: &mut EntryLog,
) -> Result<DeltaTarget> {
    if !o.prefixes.is_empty() || o.list {
        return Err(Error::new(
            Kind::Usage,
            "this archive holds a delta stream (etcd-watch): --prefix and --list apply to keyspace archives",
        ));
    }
    let mut writer = match (o.verify, into) {
        (true, _) => None,
        (false, Some(out)) => Some(DeltaWriter::with_header_line(out, header_line, header)?),
        (false, None) => {
            Some(DeltaWriter::with_header_line(Output::create(o.output.as_deref())?, header_line, header)?)
        }
    };
    let mut checker = DeltaChecker::new(header);
    let mut chunks: Vec<(String, u64, String)> = Vec::new();
    let mut line_no = 1u64;
    let mut last = super::HEADER_ENTRY.to_string();
    loop {
        let next = zip::read::read_zipfile_from_stream(&mut *rd).map_err(|e| entry_error(&last, e))?;
        let Some(mut f) = next else {
            return Err(Error::new(
                Kind::Truncated,
                format!("the archive has no manifest ({MANIFEST_ENTRY}) after entry {last}: it is incomplete"),
            ));
        };
        log.log(&f);
        let name = String::from_utf8_lossy(f.name_raw()).into_owned();
        if name == MANIFEST_ENTRY {
            let (size, cap) = (f.size(), 2 * MAX_LINE + chunks.len() * 256);
            let text = read_entry_data(&mut f, MANIFEST_ENTRY, size, cap)?;
            let trailer = check_manifest(&text, header_line, &chunks)?;
            checker.trailer(&trailer, line_no + 1)?;
            return Ok(DeltaTarget { writer, trailer });
        }
        if name != delta_chunk_name(chunks.len() as u64) {
            return Err(Error::new(
                Kind::BadInput,
                format!("entry {name} is not chunk {} of a delta archive", delta_chunk_name(chunks.len() as u64)),
            ));
        }
        let size = f.size();
        let data = read_entry_data(&mut f, &name, size, DELTA_CHUNK + MAX_LINE)?;
        if data.last() != Some(&b'\n') {
            return Err(Error::new(Kind::BadInput, format!("entry {name} does not end at the end of a line")));
        }
        for line in data.split_inclusive(|&b| b == b'\n') {
            line_no += 1;
            let e = match parse_delta_line(trim_newline(line), line_no, true)? {
                DeltaLine::Event(e) => e,
                DeltaLine::Trailer(_) => {
                    return Err(Error::new(Kind::BadInput, format!("entry {name} holds a trailer line")));
                }
            };
            let h = if e.op == Op::Put { value_sha256(&e.record.value) } else { [0; 32] };
            checker.event(line_no, &e, &h)?;
            if let Some(w) = writer.as_mut() {
                w.write_line(trim_newline(line), &e, &h)?;
            }
            run.record((e.record.key.len() + e.record.value.len()) as u64, |t| format!("{} events", t.keys));
        }
        chunks.push((name.clone(), size, hex::encode(value_sha256(&data))));
        last = name;
    }
}

/// The manifest of a delta archive: the header line, one line per chunk (path, size, SHA-256),
/// the trailer line.
fn check_manifest(text: &[u8], header_line: &[u8], chunks: &[(String, u64, String)]) -> Result<Trailer> {
    let bad = |m: &str| Error::new(Kind::Integrity, format!("{MANIFEST_ENTRY}: {m}: the archive was altered"));
    let mut lines = text.split(|&b| b == b'\n').filter(|l| !l.is_empty());
    if lines.next().map(trim_newline) != Some(header_line) {
        return Err(bad("its first line is not the header"));
    }
    for (name, size, sha) in chunks {
        let l = lines.next().ok_or_else(|| bad("it lists fewer chunks than the archive holds"))?;
        let c: ChunkLine = serde_json::from_slice(l).map_err(|_| bad("a chunk line is not one"))?;
        if &c.path != name || c.size != *size || &c.sha256 != sha {
            return Err(bad(&format!("it does not describe {name} as the archive holds it")));
        }
    }
    let last = lines.next().ok_or_else(|| bad("it has no trailer"))?;
    let trailer: Trailer =
        serde_json::from_slice(trim_newline(last)).map_err(|_| bad("its last line is not the trailer"))?;
    if lines.next().is_some() {
        return Err(bad("it lists more chunks than the archive holds"));
    }
    Ok(trailer)
}
