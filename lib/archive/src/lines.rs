//! Archives of the line-framed stream kinds (delta streams from etcd-watch, files streams from
//! node-dump): header, the body lines verbatim in chunk entries, manifest — unpacked back into
//! the very stream, every line checked as its kind's reader checks it, the trailer written only
//! after the manifest and the central directory checked out.

use std::io::BufRead;

use super::cdir::EntryLog;
use super::unpack::entry::{entry_error, read_entry_data};
use super::unpack::options::UnpackOptions;
use super::{CHUNK, MANIFEST_ENTRY, chunk_name};
use reshifter_format::error::{Error, Kind, Result};
use reshifter_format::framed::{Body, BodyLine, FrameWriter};
use reshifter_format::io::Output;
use reshifter_format::pipeline::{self, Run};
use reshifter_format::{Header, MAX_LINE, StreamKind, Trailer, trim_newline, value_sha256};

/// Where an unpacked stream of lines goes (nothing for --verify), and its trailer once checked.
pub(crate) struct LinesTarget {
    writer: Option<FrameWriter<Output>>,
    trailer: Trailer,
    kind: StreamKind,
}

impl LinesTarget {
    /// What its lines are, for the summary.
    pub(crate) fn items(&self) -> &'static str {
        items(self.kind)
    }
}

impl pipeline::Sink for LinesTarget {
    type Closed = ();

    fn close(self) -> Result<()> {
        if let Some(w) = self.writer {
            w.finish(&self.trailer)?.finish()?;
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

/// What a line-framed kind's items are called in messages.
pub(crate) fn items(kind: StreamKind) -> &'static str {
    match kind {
        StreamKind::Files => "files",
        _ => "events",
    }
}

/// Read the chunk entries and the manifest of an archive of a line-framed stream (its header
/// entry read), checking every line as `B`'s reader does.
#[allow(clippy::too_many_arguments)]
pub(crate) fn unpack_lines<R: BufRead, B: Body>(
    rd: &mut R,
    o: &UnpackOptions,
    run: &mut Run,
    into: Option<Output>,
    header_line: &[u8],
    header: &Header,
    mut checker: B::Checker,
    log: &mut EntryLog,
) -> Result<LinesTarget> {
    let what = items(header.kind);
    if !o.prefixes.is_empty() || o.list {
        return Err(Error::new(
            Kind::Usage,
            format!("this archive holds {what}, not a keyspace: --prefix and --list apply to keyspace archives"),
        ));
    }
    let mut writer = match (o.verify, into) {
        (true, _) => None,
        (false, Some(out)) => Some(FrameWriter::with_header_line(out, header_line)?),
        (false, None) => Some(FrameWriter::with_header_line(Output::create(o.output.as_deref())?, header_line)?),
    };
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
            B::check_trailer(&checker, &trailer, line_no + 1)?;
            return Ok(LinesTarget { writer, trailer, kind: header.kind });
        }
        let expected = chunk_name(header.kind, chunks.len() as u64);
        if name != expected {
            return Err(Error::new(Kind::BadInput, format!("entry {name} is not chunk {expected} of the archive")));
        }
        let size = f.size();
        let data = read_entry_data(&mut f, &name, size, CHUNK + MAX_LINE)?;
        if data.last() != Some(&b'\n') {
            return Err(Error::new(Kind::BadInput, format!("entry {name} does not end at the end of a line")));
        }
        for line in data.split_inclusive(|&b| b == b'\n') {
            line_no += 1;
            let item = match B::parse(trim_newline(line), line_no, true)? {
                BodyLine::Item(item) => item,
                BodyLine::Trailer(_) => {
                    return Err(Error::new(Kind::BadInput, format!("entry {name} holds a trailer line")));
                }
            };
            B::check(&mut checker, line_no, &item)?;
            if let Some(w) = writer.as_mut() {
                w.line(trim_newline(line))?;
            }
            run.record(line.len() as u64, |t| format!("{} {what}", t.keys));
        }
        chunks.push((name.clone(), size, hex::encode(value_sha256(&data))));
        last = name;
    }
}

/// The manifest of a chunked archive: the header line, one line per chunk (path, size, SHA-256),
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
