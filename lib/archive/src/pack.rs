//! archive-pack: a stream in, a ZIP archive out, compressed on every core, in bounded memory.
//!
//! A reader thread parses the stream into batches; worker threads compress the batches; this
//! thread writes the entries in stream order. If the stream turns out to be truncated or corrupt,
//! the archive is left without its manifest and central directory, and a file output is never
//! renamed into place.

use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

use super::crypt::{ArchiveOut, KeyArgs};
use super::path::{LEAF, is_hashed, path_of, reshifter_path};
use super::zipw::{Entry, Method, ZipStreamWriter};
use super::{CHUNK, HEADER_ENTRY, MANIFEST_ENTRY, encode_meta};
use reshifter_format::error::{Error, Kind, Result};
use reshifter_format::framed::{Body, Framed};
use reshifter_format::io::Output;
use reshifter_format::parallel::{Opened, ParReader};
use reshifter_format::pipeline::{self, Run};
use reshifter_format::report::{human_bytes, secs};
use reshifter_format::{Record, RecordMeta, Trailer, Verify, push_bytes_field, show_key};

/// How entries are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Store,
    Deflate(u32),
    Zstd(i32),
}

/// Which entry layout to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Layout {
    /// This toolkit's layout: header, one entry per key with metadata, manifest (docs/FORMAT.md).
    #[default]
    Native,
    /// ReShifter's (the Go tool's) layout: `<backup id>/<key path>/content`, no metadata.
    #[value(name = "reshifter", aliases = ["reshifter-go", "reshifter-v1"])]
    Reshifter,
}

/// archive-pack's command-line options (`Default`: stdin to stdout, deflate, the native
/// layout, no encryption, a summary).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct PackOptions {
    /// Where progress, warnings and the summary go (stderr, under the tool's name, unless the
    /// caller names itself or takes the lines).
    #[arg(skip)]
    pub report: reshifter_format::report::Reporter,

    /// Stream to read (default: stdin)
    #[arg(value_name = "INPUT")]
    pub input: Option<PathBuf>,

    /// Write to FILE (mode 0600, renamed into place when complete) instead of stdout
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Compression of each entry
    #[arg(long = "compression", value_enum, default_value = "deflate", value_name = "COMPRESSION")]
    pub method: Codec,

    /// Compression level (deflate 0-9, default 1; zstd 1-22, default 3)
    #[arg(long, value_name = "N")]
    pub level: Option<i32>,

    /// Entry layout: native (with metadata and manifest: restores exactly) or reshifter (the
    /// layout of ReShifter, the Go tool: keys and values only)
    #[arg(long, value_enum, default_value = "native")]
    pub layout: Layout,

    /// Compression threads (default: the number of cores)
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,

    /// Also carry the node's files: a files stream (node-dump) written into the archive after
    /// the keyspace, so that one backup of a cluster holds both (archive-unpack --node-files
    /// gives it back)
    #[arg(long, value_name = "FILE")]
    pub node_files: Option<PathBuf>,

    #[command(flatten)]
    pub crypt: EncryptArgs,

    /// No summary on stderr
    #[arg(short, long)]
    pub quiet: bool,
}

impl PackOptions {
    /// The compression asked for, with its level (deflate 0-9, default 1; zstd default 3).
    pub fn compression(&self) -> Compression {
        match self.method {
            Codec::Deflate => Compression::Deflate(self.level.unwrap_or(1).clamp(0, 9) as u32),
            Codec::Zstd => Compression::Zstd(self.level.unwrap_or(3)),
            Codec::Store => Compression::Store,
        }
    }
}

/// How entries are compressed, as `--compression` names it.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Codec {
    /// Deflate: any unzip opens it
    #[default]
    Deflate,
    /// Zstandard (ZIP method 93): faster and smaller, needs a recent unzip/7z
    Zstd,
    /// No compression
    Store,
}

/// Encryption flags of archive-pack.
#[derive(clap::Args, Debug, Clone, Default)]
#[command(next_help_heading = "Encryption (age)")]
pub struct EncryptArgs {
    /// Encrypt with the passphrase in RESHIFTER_PASSPHRASE
    #[arg(long)]
    pub encrypt: bool,

    /// Encrypt with the passphrase in FILE (first line)
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,

    /// Encrypt to this age public key (repeatable)
    #[arg(long, value_name = "AGE1...")]
    pub recipient: Vec<String>,

    /// Encrypt to the age public keys in FILE (repeatable)
    #[arg(long, value_name = "FILE")]
    pub recipients_file: Vec<PathBuf>,
}

impl EncryptArgs {
    pub fn keys(&self) -> KeyArgs {
        KeyArgs {
            passphrase_file: self.passphrase_file.clone(),
            recipients: self.recipient.clone(),
            recipients_files: self.recipients_file.clone(),
            identity_files: Vec::new(),
            passphrase_env: self.encrypt,
        }
    }
}

/// A record, compressed and ready to write.
struct Prepared {
    /// For a key too long for an entry path: the `kv-long/<sha>/key` entry holding it.
    key_entry: Option<Entry>,
    entry: Entry,
    manifest_line: Vec<u8>,
}

thread_local! {
    /// Each worker thread's compressor, kept between records.
    static COMPRESSOR: std::cell::RefCell<Option<(Compression, Compressor)>> = const { std::cell::RefCell::new(None) };
}

/// Compression state kept by a worker between entries.
enum Compressor {
    Store,
    /// libdeflate compresses whole buffers, much faster than a streaming deflater; the output
    /// buffer is kept between entries.
    Deflate(Box<libdeflater::Compressor>, Vec<u8>),
    Zstd(Box<zstd::bulk::Compressor<'static>>),
}

impl Compressor {
    fn new(c: Compression) -> Result<Self> {
        Ok(match c {
            Compression::Store => Compressor::Store,
            Compression::Deflate(level) => {
                let lvl = libdeflater::CompressionLvl::new(level as i32)
                    .map_err(|_| Error::new(Kind::Usage, format!("deflate level {level} is out of range (0-9)")))?;
                Compressor::Deflate(Box::new(libdeflater::Compressor::new(lvl)), Vec::new())
            }
            Compression::Zstd(level) => Compressor::Zstd(Box::new(
                zstd::bulk::Compressor::new(level).map_err(|e| Error::with_source(Kind::Usage, "bad zstd level", e))?,
            )),
        })
    }

    /// Compress `data`; stored when compression does not make it smaller.
    fn compress(&mut self, data: &[u8]) -> Result<(Method, Vec<u8>)> {
        let out = match self {
            Compressor::Store => None,
            Compressor::Deflate(c, buf) => {
                let bound = c.deflate_compress_bound(data.len());
                if buf.len() < bound {
                    buf.resize(bound, 0);
                }
                let n = c
                    .deflate_compress(data, buf)
                    .map_err(|e| Error::new(Kind::Failure, format!("deflate failed: {e:?}")))?;
                (n < data.len()).then(|| (Method::Deflate, buf[..n].to_vec()))
            }
            Compressor::Zstd(c) => {
                let out = c.compress(data).map_err(|e| Error::with_source(Kind::Failure, "zstd failed", e))?;
                Some((Method::Zstd, out))
            }
        };
        Ok(match out {
            Some((m, o)) if o.len() < data.len() => (m, o),
            _ => (Method::Stored, data.to_vec()),
        })
    }
}

fn prepare(c: &mut Compressor, r: &Record, sha: &[u8; 32], layout: Layout, backup_id: &str) -> Result<Prepared> {
    let name = match layout {
        Layout::Native => path_of(&r.key),
        Layout::Reshifter => reshifter_path(backup_id, &r.key).map_err(|why| {
            Error::new(
                Kind::BadInput,
                format!(
                    "key {} cannot be written in ReShifter's layout: {why}; leave it out with kv-filter \
                     --exclude-prefix, or use the native layout, which holds any key",
                    show_key(&r.key)
                ),
            )
        })?,
    };
    let extra = match layout {
        Layout::Native => encode_meta(r, sha),
        Layout::Reshifter => Vec::new(),
    };
    // A key too long for an entry path comes in an entry of its own, just before its value.
    let key_entry = is_hashed(&name).then(|| -> Result<Entry> {
        let (method, data) = c.compress(&r.key)?;
        let key_name = name.strip_suffix(LEAF).map(|d| format!("{d}key")).unwrap_or_default();
        Ok(Entry {
            name: key_name,
            method,
            crc32: crc32fast::hash(&r.key),
            size: r.key.len() as u64,
            data,
            extra: Vec::new(),
        })
    });
    let key_entry = key_entry.transpose()?;
    let (method, data) = c.compress(&r.value)?;
    let mut line = Vec::with_capacity(name.len() * 2 + 200);
    line.push(b'{');
    push_bytes_field(&mut line, "key", &r.key);
    line.extend_from_slice(b",\"path\":");
    reshifter_format::push_json_str(&mut line, name.as_bytes());
    let _ = write!(
        line,
        ",\"size\":{},\"sha256\":\"{}\",\"create_revision\":{},\"mod_revision\":{},\"version\":{}",
        r.value.len(),
        hex::encode(sha),
        r.create_revision,
        r.mod_revision,
        r.version
    );
    if r.lease != 0 {
        let _ = write!(line, ",\"lease\":\"{}\"", reshifter_format::lease_hex(r.lease));
    }
    line.extend_from_slice(b"}\n");
    let entry = Entry { name, method, crc32: crc32fast::hash(&r.value), size: r.value.len() as u64, data, extra };
    Ok(Prepared { key_entry, entry, manifest_line: line })
}

/// An entry holding `data` whole, compressed by `c` (stored when that is smaller), no metadata.
fn whole_entry(name: String, data: &[u8], c: &mut Compressor) -> Result<Entry> {
    let (method, compressed) = c.compress(data)?;
    Ok(Entry {
        name,
        method,
        crc32: crc32fast::hash(data),
        size: data.len() as u64,
        data: compressed,
        extra: Vec::new(),
    })
}

/// Unix seconds of an RFC 3339 time, or now.
fn unix_time(rfc3339: &str) -> u64 {
    let t = humantime::parse_rfc3339_weak(rfc3339).unwrap_or_else(|_| std::time::SystemTime::now());
    t.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Compress a whole file as one deflate entry's data, streaming; returns (crc, size, compressed file).
fn deflate_file(mut src: File) -> Result<(u32, u64, File, u64)> {
    src.seek(SeekFrom::Start(0))?;
    let dst = tempfile::tempfile()?;
    let mut enc = flate2::write::DeflateEncoder::new(BufWriter::new(dst), flate2::Compression::new(1));
    let mut crc = crc32fast::Hasher::new();
    let mut size = 0u64;
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = src.read(&mut buf)?;
        if n == 0 {
            break;
        }
        crc.update(&buf[..n]);
        enc.write_all(&buf[..n])?;
        size += n as u64;
    }
    let mut dst = enc.finish()?.into_inner().map_err(|e| e.into_error())?;
    let csize = dst.stream_position()?;
    dst.seek(SeekFrom::Start(0))?;
    Ok((crc.finalize(), size, dst, csize))
}

/// The archive being written: its entries, and the manifest spooled beside them until the
/// stream has proved complete.
struct ArchiveWriter {
    zip: ZipStreamWriter<ArchiveOut<Output>>,
    manifest: BufWriter<File>,
    layout: Layout,
    /// The verified stream's trailer, set once the reader has finished.
    trailer: Option<Trailer>,
    /// Bytes of keys and values in.
    bytes: u64,
    /// The node's files to carry after the keyspace, and how to compress their chunks.
    node: Option<PathBuf>,
    compression: Compression,
}

impl ArchiveWriter {
    fn create(o: &PackOptions, header_line: &[u8], time: u64) -> Result<Self> {
        let out = Output::create(o.output.as_deref())?;
        // Encrypted output into a pipe ends with an end record: age alone cannot show, without
        // the key, that it is whole, and s3-push must know before it uploads.
        let end_record = o.output.is_none() && !reshifter_format::io::stdout_is_file();
        let mut zip = ZipStreamWriter::new(ArchiveOut::new(out, &o.crypt.keys(), end_record)?, time)?;
        if o.layout == Layout::Native {
            let mut c = Compressor::new(Compression::Deflate(6))?;
            zip.add(&whole_entry(HEADER_ENTRY.into(), header_line, &mut c)?)?;
        }
        let mut manifest = BufWriter::new(tempfile::tempfile()?);
        manifest.write_all(header_line)?;
        manifest.write_all(b"\n")?;
        Ok(ArchiveWriter {
            zip,
            manifest,
            layout: o.layout,
            trailer: None,
            bytes: 0,
            node: o.node_files.clone(),
            compression: o.compression(),
        })
    }

    fn add(&mut self, p: &Prepared) -> Result<()> {
        if let Some(k) = &p.key_entry {
            self.zip.add(k)?;
        }
        self.zip.add(&p.entry)?;
        self.manifest.write_all(&p.manifest_line)?;
        self.bytes += p.entry.size;
        Ok(())
    }
}

impl ArchiveWriter {
    /// One chunk of a delta or files stream's body lines; its manifest line.
    fn add_chunk(&mut self, name: String, chunk: &[u8], c: &mut Compressor) -> Result<String> {
        let size = chunk.len() as u64;
        self.zip.add(&whole_entry(name.clone(), chunk, c)?)?;
        let sha = hex::encode(reshifter_format::value_sha256(chunk));
        self.bytes += size;
        Ok(format!("{{\"path\":\"{name}\",\"size\":{size},\"sha256\":\"{sha}\"}}\n"))
    }

    /// The chunks of a line-framed stream read from `d` (named `<dir>/<n>.ndjson`); their
    /// manifest lines.
    fn add_lines<B: Body>(
        &mut self,
        d: &mut Framed<Box<dyn std::io::BufRead + Send>, B>,
        dir: &str,
        run: &mut Run,
    ) -> Result<Vec<u8>> {
        let what = crate::lines::items(d.header().kind);
        let mut c = Compressor::new(self.compression)?;
        let mut chunk: Vec<u8> = Vec::with_capacity(CHUNK + (64 << 10));
        let (mut n, mut lines) = (0u64, Vec::new());
        while d.next_item()?.is_some() {
            chunk.extend_from_slice(d.last_line());
            chunk.push(b'\n');
            run.record(d.last_line().len() as u64 + 1, |t| format!("{} {what}", t.keys));
            if chunk.len() >= CHUNK {
                lines.extend(self.add_chunk(format!("{dir}/{n:08}.ndjson"), &chunk, &mut c)?.into_bytes());
                n += 1;
                chunk.clear();
            }
        }
        if !chunk.is_empty() {
            lines.extend(self.add_chunk(format!("{dir}/{n:08}.ndjson"), &chunk, &mut c)?.into_bytes());
        }
        Ok(lines)
    }

    /// The node's files after the keyspace's manifest: their header entry, chunks and manifest,
    /// read (and checked) again from the file.
    fn add_node(&mut self, path: &std::path::Path) -> Result<()> {
        let mut r = node_reader(path)?;
        let header_line = r.header_line().to_vec();
        let mut c = Compressor::new(Compression::Deflate(6))?;
        self.zip.add(&whole_entry(crate::NODE_HEADER_ENTRY.into(), &header_line, &mut c)?)?;
        let mut quiet = Run::new(&reshifter_format::report::Reporter::default(), true);
        let lines = self.add_lines(&mut r, crate::NODE_CHUNKS, &mut quiet)?;
        let mut manifest = header_line;
        manifest.push(b'\n');
        manifest.extend(lines);
        let trailer = r.trailer().ok_or_else(|| Error::new(Kind::Failure, "the node files ended without a trailer"))?;
        manifest.extend(serde_json::to_vec(trailer)?);
        manifest.push(b'\n');
        self.zip.add(&whole_entry(crate::NODE_MANIFEST_ENTRY.into(), &manifest, &mut c)?)?;
        Ok(())
    }
}

/// A delta stream (etcd-watch) or a files stream (node-dump) as an archive: its body lines,
/// verbatim, in chunks of about [`CHUNK`] bytes (docs/FORMAT.md, "Archives of delta and files
/// streams"), each line checked as the stream's reader checks it.
fn pack_lines<B: Body>(
    o: &PackOptions,
    mut d: Framed<Box<dyn std::io::BufRead + Send>, B>,
    mut run: Run,
) -> Result<()> {
    let kind = d.header().kind;
    let what = crate::lines::items(kind);
    if o.layout == Layout::Reshifter {
        return Err(Error::new(
            Kind::Usage,
            format!("ReShifter's layout holds a keyspace, not {what}: pack this stream in the native layout"),
        ));
    }
    let header_line = d.header_line().to_vec();
    let mut archive = ArchiveWriter::create(o, &header_line, unix_time(&d.header().time))?;
    let dir = if kind == reshifter_format::StreamKind::Files { "reshifter/files" } else { "reshifter/delta" };
    let lines = archive.add_lines(&mut d, dir, &mut run)?;
    archive.manifest.write_all(&lines)?;
    archive.trailer = d.trailer().cloned();
    run.end(archive, |&(bytes, written), t| {
        format!("{} {what}, {} -> {} in {}", t.keys, human_bytes(bytes), human_bytes(written), secs(t.elapsed))
    })?;
    Ok(())
}

impl pipeline::Sink for ArchiveWriter {
    /// Bytes in, bytes written.
    type Closed = (u64, u64);

    /// The stream was complete and verified: the manifest (header, keys, trailer), the central
    /// directory, the encryption's end, and the output committed.
    fn close(mut self) -> Result<(u64, u64)> {
        if self.layout == Layout::Native {
            let trailer = self
                .trailer
                .take()
                .ok_or_else(|| Error::new(Kind::Failure, "archive closed before its stream ended"))?;
            let mut line = serde_json::to_vec(&trailer)?;
            line.push(b'\n');
            self.manifest.write_all(&line)?;
            let manifest = std::mem::replace(&mut self.manifest, BufWriter::new(tempfile::tempfile()?));
            let spool = manifest.into_inner().map_err(|e| e.into_error())?;
            let (crc, size, mut data, csize) = deflate_file(spool)?;
            self.zip.add_stream(MANIFEST_ENTRY, Method::Deflate, crc, size, csize, &mut data)?;
            if let Some(node) = self.node.take() {
                self.add_node(&node)?;
            }
        }
        let written = self.zip.offset();
        self.zip.finish()?.finish()?.finish()?;
        Ok((self.bytes, written))
    }
}

/// The node's files named by --node-files, opened as a files stream.
fn node_reader(
    path: &std::path::Path,
) -> Result<Framed<Box<dyn std::io::BufRead + Send>, reshifter_format::files::Files>> {
    let input = reshifter_format::io::open_input(Some(path))?;
    reshifter_format::files::FilesReader::new(input)
        .map_err(|e| Error::new(e.kind(), format!("--node-files {}: {}", path.display(), e.message())))
}

/// --node-files is a files stream, read through and checked before the keyspace is packed.
fn check_node_files(o: &PackOptions) -> Result<()> {
    let Some(path) = &o.node_files else { return Ok(()) };
    if o.layout == Layout::Reshifter {
        return Err(Error::new(Kind::Usage, "--node-files needs the native layout (ReShifter's holds keys only)"));
    }
    let mut r = node_reader(path)?;
    while r
        .next_item()
        .map_err(|e| Error::new(e.kind(), format!("--node-files {}: {}", path.display(), e.message())))?
        .is_some()
    {}
    Ok(())
}

/// Run archive-pack.
pub fn pack(o: PackOptions) -> Result<()> {
    let run = Run::new(&o.report.or_name("archive-pack"), o.quiet);
    check_node_files(&o)?;
    let reader = match ParReader::open_any(o.input.as_deref(), Verify::Full)? {
        Opened::Keyspace(r) => r,
        _ if o.node_files.is_some() => {
            return Err(Error::new(Kind::Usage, "--node-files goes with a keyspace stream (etcd-dump), not this one"));
        }
        Opened::Delta(d) => return pack_lines(&o, d, run),
        Opened::Files(d) => return pack_lines(&o, d, run),
    };
    pack_keyspace(o, reader, run).map(|_| ())
}

/// archive-pack of a keyspace stream from an opened input (a library pipeline's stage): the
/// stream's trailer, once the archive is committed.
pub fn pack_from(o: PackOptions, input: Box<dyn std::io::BufRead + Send>) -> Result<Trailer> {
    let run = Run::new(&o.report.or_name("archive-pack"), o.quiet);
    check_node_files(&o)?;
    pack_keyspace(o, ParReader::new(input, Verify::Full)?, run)
}

fn pack_keyspace(o: PackOptions, reader: ParReader, mut run: Run) -> Result<Trailer> {
    let time = unix_time(&reader.header().time);
    let backup_id = time.to_string();
    let mut archive = ArchiveWriter::create(&o, reader.header_line(), time)?;

    // Workers parse, hash and compress; this thread writes the entries in stream order.
    let (comp, layout) = (o.compression(), o.layout);
    let map = |r: Record, v: &RecordMeta, _: &[u8]| -> Result<Prepared> {
        COMPRESSOR.with(|cell| {
            let mut slot = cell.borrow_mut();
            if slot.as_ref().map(|(c, _)| *c) != Some(comp) {
                *slot = Some((comp, Compressor::new(comp)?));
            }
            let (_, c) = slot.as_mut().expect("set above");
            prepare(c, &r, &v.sha256, layout, &backup_id)
        })
    };
    let sink = |p: Prepared| -> Result<()> {
        archive.add(&p)?;
        run.record(p.entry.size, |t| format!("{} keys, {} in", t.keys, human_bytes(t.bytes)));
        Ok(())
    };
    let threads = o.threads.unwrap_or_else(reshifter_format::parallel::cores);
    let trailer = reader.run(threads, map, sink)?;
    archive.trailer = Some(trailer.clone());
    run.end(archive, |&(bytes, written), t| {
        let pct = if bytes > 0 { 100.0 * written as f64 / bytes as f64 } else { 0.0 };
        format!(
            "{} keys, {} -> {} ({pct:.1}%) in {}",
            t.keys,
            human_bytes(bytes),
            human_bytes(written),
            secs(t.elapsed)
        )
    })?;
    Ok(trailer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Pack {
        #[command(flatten)]
        o: PackOptions,
    }

    /// `PackOptions::default()` is what the tool's command line means by default.
    #[test]
    fn the_default_is_the_tools() {
        assert_eq!(format!("{:?}", PackOptions::default()), format!("{:?}", Pack::parse_from(["t"]).o));
    }
}
