//! Archives of the line-framed stream kinds (delta streams from etcd-watch, files streams from
//! node-dump): header, the body lines verbatim in chunk entries, manifest — unpacked back into
//! the very stream, every line checked as its kind's reader checks it, the trailer written only
//! after the manifest and the central directory checked out.

use std::io::BufRead;

use super::cdir::EntryLog;
use super::unpack::entry::{entry_error, read_entry_data};
use super::unpack::options::UnpackOptions;
use super::{CHUNK, MANIFEST_ENTRY};
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

/// The body of a line-framed stream in an archive, read entry by entry: chunk entries named
/// `<chunks>/<n>.ndjson` (`reshifter/delta`, `reshifter/files`, `reshifter/node/files`), then its
/// manifest. Every line is checked as `B`'s reader checks it, and written when there is a
/// writer.
pub(crate) struct LinesPart<B: Body> {
    checker: B::Checker,
    writer: Option<FrameWriter<Output>>,
    header_line: Vec<u8>,
    kind: StreamKind,
    chunks_dir: &'static str,
    chunks: Vec<(String, u64, String)>,
    line_no: u64,
}

impl<B: Body> LinesPart<B> {
    pub(crate) fn new(
        header_line: &[u8],
        header: &Header,
        checker: B::Checker,
        chunks_dir: &'static str,
        out: Option<Output>,
    ) -> Result<Self> {
        let writer = match out {
            Some(out) => Some(FrameWriter::with_header_line(out, header_line)?),
            None => None,
        };
        Ok(LinesPart {
            checker,
            writer,
            header_line: header_line.to_vec(),
            kind: header.kind,
            chunks_dir,
            chunks: Vec::new(),
            line_no: 1,
        })
    }

    /// One chunk entry, which must be the next one.
    pub(crate) fn chunk<R: std::io::Read>(
        &mut self,
        f: &mut zip::read::ZipFile<'_, R>,
        name: &str,
        run: &mut Run,
    ) -> Result<()> {
        let what = items(self.kind);
        let expected = format!("{}/{:08}.ndjson", self.chunks_dir, self.chunks.len());
        if name != expected {
            return Err(Error::new(Kind::BadInput, format!("entry {name} is not chunk {expected} of the archive")));
        }
        let size = f.size();
        let data = read_entry_data(f, name, size, CHUNK + MAX_LINE)?;
        if data.last() != Some(&b'\n') {
            return Err(Error::new(Kind::BadInput, format!("entry {name} does not end at the end of a line")));
        }
        for line in data.split_inclusive(|&b| b == b'\n') {
            self.line_no += 1;
            let item = match B::parse(trim_newline(line), self.line_no, true)? {
                BodyLine::Item(item) => item,
                BodyLine::Trailer(_) => {
                    return Err(Error::new(Kind::BadInput, format!("entry {name} holds a trailer line")));
                }
            };
            B::check(&mut self.checker, self.line_no, &item)?;
            if let Some(w) = self.writer.as_mut() {
                w.line(trim_newline(line))?;
            }
            run.record(line.len() as u64, |t| format!("{} {what}", t.keys));
        }
        self.chunks.push((name.to_string(), size, hex::encode(value_sha256(&data))));
        Ok(())
    }

    /// The manifest entry: checked against the chunks read and the lines' digests.
    pub(crate) fn manifest<R: std::io::Read>(
        self,
        f: &mut zip::read::ZipFile<'_, R>,
        name: &str,
    ) -> Result<LinesTarget> {
        let (size, cap) = (f.size(), 2 * MAX_LINE + self.chunks.len() * 256);
        let text = read_entry_data(f, name, size, cap)?;
        let trailer = check_manifest(&text, name, &self.header_line, &self.chunks)?;
        B::check_trailer(&self.checker, &trailer, self.line_no + 1)?;
        Ok(LinesTarget { writer: self.writer, trailer, kind: self.kind })
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
    checker: B::Checker,
    log: &mut EntryLog,
) -> Result<LinesTarget> {
    let what = items(header.kind);
    if !o.prefixes.is_empty() || o.list || o.node_files {
        return Err(Error::new(
            Kind::Usage,
            format!(
                "this archive holds {what}, not a keyspace: --prefix, --list and --node-files apply to keyspace archives"
            ),
        ));
    }
    let out = match (o.verify, into) {
        (true, _) => None,
        (false, Some(out)) => Some(out),
        (false, None) => Some(Output::create(o.output.as_deref())?),
    };
    let dir = if header.kind == StreamKind::Files { "reshifter/files" } else { "reshifter/delta" };
    let mut part = LinesPart::<B>::new(header_line, header, checker, dir, out)?;
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
            return part.manifest(&mut f, MANIFEST_ENTRY);
        }
        part.chunk(&mut f, &name, run)?;
        last = name;
    }
}

/// The manifest of a chunked archive: the header line, one line per chunk (path, size, SHA-256),
/// the trailer line.
fn check_manifest(text: &[u8], entry: &str, header_line: &[u8], chunks: &[(String, u64, String)]) -> Result<Trailer> {
    let bad = |m: &str| Error::new(Kind::Integrity, format!("{entry}: {m}: the archive was altered"));
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
