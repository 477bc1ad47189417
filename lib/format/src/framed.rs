//! The framing both stream kinds share: a header line, body lines, a trailer line that closes
//! them. One reader ([`Framed`]) and one writer core ([`FrameWriter`]) carry the framing —
//! capped lines, line numbers, truncation, data after the trailer, a failure that ends the
//! reading — and a [`Body`] says what the body lines are: keyspace records ([`Keyspace`],
//! read as [`crate::StreamReader`]) or delta events ([`crate::delta::Delta`], read as
//! [`crate::delta::DeltaReader`]).

use std::io::{BufRead, Write};

use crate::error::{Error, Kind, Result};
use crate::read::{Special, parse_special};
use crate::{MAX_LINE, Trailer, read_line_capped, trim_newline};

/// A body line: an item, or the trailer that ends the body.
pub enum BodyLine<T> {
    Item(T),
    Trailer(Box<Trailer>),
}

/// One body line judged as every stream kind judges it: an empty or overlong line refused; an
/// item (`parse`) only when the line ended with a newline; else the trailer, a second header or
/// an unknown `type` named; a line that is none of them, cut short or wrong (`parse`'s message).
#[inline]
pub(crate) fn body_line<T>(
    line: &[u8],
    line_no: u64,
    complete: bool,
    parse: impl FnOnce(&[u8]) -> std::result::Result<T, String>,
) -> Result<BodyLine<T>> {
    if line.is_empty() {
        return Err(Error::bad_line(line_no, "empty line"));
    }
    if line.len() > MAX_LINE {
        return Err(Error::bad_line(line_no, format!("the line is longer than {} MiB", MAX_LINE >> 20)));
    }
    let cut = || {
        Error::new(
            Kind::Truncated,
            format!("line {line_no}: stream ends in the middle of a line: the input is truncated"),
        )
    };
    match parse(line) {
        Ok(item) if complete => Ok(BodyLine::Item(item)),
        Ok(_) => Err(cut()),
        Err(item_err) => match parse_special(line) {
            Some(Ok(Special::Trailer(t))) => Ok(BodyLine::Trailer(t)),
            Some(Ok(Special::Header(_))) => {
                Err(Error::bad_line(line_no, "a second header: streams cannot be concatenated"))
            }
            Some(Err(e)) => Err(Error::bad_line(line_no, e)),
            None if !complete => Err(cut()),
            None => Err(Error::bad_line(line_no, item_err)),
        },
    }
}

/// What the lines between a stream's header and its trailer are, and how they are checked.
pub trait Body {
    /// One body line's content.
    type Item;
    /// What checks the items in order, then the trailer against them.
    type Checker;
    /// Parse a body line (without its newline; `complete` says whether it had one).
    fn parse(line: &[u8], line_no: u64, complete: bool) -> Result<BodyLine<Self::Item>>;
    /// Check `item`, read at `line_no`; the SHA-256 of its value (zero when it has none).
    fn check(c: &mut Self::Checker, line_no: u64, item: &Self::Item) -> Result<[u8; 32]>;
    /// Check the trailer against what was read.
    fn check_trailer(c: &Self::Checker, t: &Trailer, line_no: u64) -> Result<()>;
    /// The error for input that ended before its trailer.
    fn truncated(c: &Self::Checker) -> Error;
}

/// Reads and validates a stream of body `B`: yields its items; a truncated, malformed or
/// altered stream yields an error instead of its end (and nothing after it). Holds one line at
/// a time.
pub struct Framed<R: BufRead, B: Body> {
    input: R,
    line_no: u64,
    buf: Vec<u8>,
    header: crate::Header,
    header_line: Vec<u8>,
    pub(crate) checker: B::Checker,
    trailer: Option<Trailer>,
    failed: bool,
}

impl<R: BufRead, B: Body> Framed<R, B> {
    /// A reader after the header line (`header_line`, parsed as `header`) was read and judged.
    pub(crate) fn after(input: R, header_line: Vec<u8>, header: crate::Header, checker: B::Checker) -> Self {
        Framed {
            input,
            line_no: 1,
            buf: Vec::with_capacity(64 * 1024),
            header,
            header_line,
            checker,
            trailer: None,
            failed: false,
        }
    }

    pub fn header(&self) -> &crate::Header {
        &self.header
    }

    /// The header line exactly as read (without its newline).
    pub fn header_line(&self) -> &[u8] {
        &self.header_line
    }

    /// The trailer, once the stream has been read to its end.
    pub fn trailer(&self) -> Option<&Trailer> {
        self.trailer.as_ref()
    }

    /// The last body line exactly as read (without its newline).
    pub fn last_line(&self) -> &[u8] {
        trim_newline(&self.buf)
    }

    /// Line number of the last line read.
    pub fn line(&self) -> u64 {
        self.line_no
    }

    /// The next item with the SHA-256 of its value; `Ok(None)` after a valid trailer, and
    /// after a failure.
    pub fn next_hashed(&mut self) -> Result<Option<(B::Item, [u8; 32])>> {
        if self.trailer.is_some() || self.failed {
            return Ok(None);
        }
        let r = self.read_line();
        if r.is_err() {
            self.failed = true;
        }
        r
    }

    /// The next item; `Ok(None)` after a valid trailer.
    pub fn next_item(&mut self) -> Result<Option<B::Item>> {
        Ok(self.next_hashed()?.map(|(item, _)| item))
    }

    fn read_line(&mut self) -> Result<Option<(B::Item, [u8; 32])>> {
        self.buf.clear();
        if read_line_capped(&mut self.input, &mut self.buf, MAX_LINE)? == 0 {
            return Err(B::truncated(&self.checker));
        }
        self.line_no += 1;
        let complete = self.buf.last() == Some(&b'\n');
        match B::parse(trim_newline(&self.buf), self.line_no, complete)? {
            BodyLine::Item(item) => {
                let h = B::check(&mut self.checker, self.line_no, &item)?;
                Ok(Some((item, h)))
            }
            BodyLine::Trailer(t) => {
                B::check_trailer(&self.checker, &t, self.line_no)?;
                self.trailer = Some(*t);
                self.buf.clear();
                if read_line_capped(&mut self.input, &mut self.buf, MAX_LINE)? != 0 {
                    return Err(Error::bad_line(self.line_no + 1, "data after the trailer"));
                }
                Ok(None)
            }
        }
    }
}

impl<R: BufRead, B: Body> Iterator for Framed<R, B> {
    type Item = Result<B::Item>;
    fn next(&mut self) -> Option<Self::Item> {
        self.next_item().transpose()
    }
}

/// The writing side of the framing: the header line first, body lines through a 64 KiB
/// buffer, the trailer line last. The body's checks are the writer's (a writer never makes a
/// stream its readers refuse).
pub struct FrameWriter<W: Write> {
    out: W,
    buf: Vec<u8>,
}

impl<W: Write> FrameWriter<W> {
    /// Start with `header` (serialized).
    pub fn new(out: W, header: &crate::Header) -> std::io::Result<Self> {
        let line = serde_json::to_vec(header).map_err(std::io::Error::other)?;
        Self::with_header_line(out, &line)
    }

    /// Start with a header line given verbatim (without its newline).
    pub fn with_header_line(mut out: W, line: &[u8]) -> std::io::Result<Self> {
        out.write_all(line)?;
        out.write_all(b"\n")?;
        Ok(FrameWriter { out, buf: Vec::with_capacity(64 * 1024) })
    }

    /// The output (what was passed on so far is in it; the buffer is not).
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.out
    }

    /// The buffer body lines are encoded into; [`FrameWriter::wrote`] after each.
    pub fn buf(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// A body line (without its newline) as it is.
    pub fn line(&mut self, line: &[u8]) -> std::io::Result<()> {
        self.buf.extend_from_slice(line);
        self.buf.push(b'\n');
        self.wrote()
    }

    /// Pass the buffer on once it is large.
    pub fn wrote(&mut self) -> std::io::Result<()> {
        if self.buf.len() >= 64 * 1024 {
            self.out.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    /// Write what is buffered and flush the output.
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.out.write_all(&self.buf)?;
        self.buf.clear();
        self.out.flush()
    }

    /// Write the trailer, flush, and hand back the output.
    pub fn finish(self, trailer: &Trailer) -> std::io::Result<W> {
        let line = serde_json::to_vec(trailer).map_err(std::io::Error::other)?;
        self.finish_with_line(&line)
    }

    /// Write a trailer line given verbatim (without its newline), flush, and hand back the output.
    pub fn finish_with_line(mut self, line: &[u8]) -> std::io::Result<W> {
        self.out.write_all(&self.buf)?;
        self.out.write_all(line)?;
        self.out.write_all(b"\n")?;
        self.out.flush()?;
        Ok(self.out)
    }
}
