//! kv-encode's output. Its header says whether kv-encode edited the stream, which is known once
//! an edited object is met, or at the end. Until then the output — the header of an unchanged
//! stream, then records — is held in memory, up to [`HOLD`]: an edit met by then gives the output
//! its header and the rest goes straight on, written once. Past [`HOLD`] with nothing edited, the
//! output goes on under the unchanged header, in place when it is a file and to a spool when it
//! is a pipe; an edit after that is paid for at the end, when it is all written again behind the
//! other header (the in-kernel copy). Memory stays flat.

use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

use reshifter_format::error::{Error, Kind, Result};
use reshifter_format::io::Output;

/// How much output is held before it goes on under the unchanged header.
const HOLD: usize = 16 << 20;

enum State {
    Held {
        buf: Vec<u8>,
        out: Output,
    },
    /// The header of an edited stream was written: the rest follows it.
    Edited(Output),
    /// Under the unchanged header, in the output file.
    InPlace(Output),
    /// Under the unchanged header, in an unnamed temporary file (the output is a pipe).
    Spool {
        spool: BufWriter<File>,
        out: Output,
    },
    Failed,
}

/// The output, its header chosen as late as it must be.
pub(crate) struct Encoded {
    state: State,
    /// The header lines (without newlines) of the stream unchanged and edited.
    unchanged: Vec<u8>,
    edited: Vec<u8>,
}

fn write_edited(out: &mut Output, header: &[u8], body: &[u8]) -> std::io::Result<()> {
    out.write_all(header)?;
    out.write_all(b"\n")?;
    out.write_all(body)
}

impl Encoded {
    pub(crate) fn new(out: Output, unchanged: Vec<u8>, edited: Vec<u8>) -> Self {
        Encoded { state: State::Held { buf: Vec::with_capacity(1 << 20), out }, unchanged, edited }
    }

    /// An edited object was met: the header is the edited stream's.
    pub(crate) fn edited(&mut self) -> std::io::Result<()> {
        if let State::Held { .. } = self.state {
            self.spill(true)?;
        }
        Ok(())
    }

    /// What is held goes on: behind the edited header, or as it is.
    fn spill(&mut self, edited: bool) -> std::io::Result<()> {
        let State::Held { buf, mut out } = std::mem::replace(&mut self.state, State::Failed) else {
            return Ok(());
        };
        // What is held starts with the unchanged header's line (the writer writes it first).
        self.state = if edited {
            write_edited(&mut out, &self.edited, &buf[self.unchanged.len() + 1..])?;
            State::Edited(out)
        } else if let Output::File(_) = out {
            out.write_all(&buf)?;
            State::InPlace(out)
        } else {
            let mut spool = BufWriter::with_capacity(1 << 20, tempfile::tempfile()?);
            spool.write_all(&buf)?;
            State::Spool { spool, out }
        };
        Ok(())
    }

    /// End the output (`edited`: whether anything was): renamed into place when it is a file.
    pub(crate) fn finish(mut self, edited: bool, path: Option<&Path>) -> Result<()> {
        if let State::Held { .. } = self.state {
            self.spill(edited)?;
        }
        match std::mem::replace(&mut self.state, State::Failed) {
            State::Edited(out) => out.finish(),
            State::InPlace(out) if !edited => out.finish(),
            State::InPlace(out) => {
                let Output::File(written) = out else { unreachable!("in place is a file") };
                let mut first = written.into_inner().map_err(|e| Error::from(e.into_error()))?;
                self.again(first.file(), true, path)
                // The first temporary file goes when dropped.
            }
            State::Spool { spool, out } => {
                drop(out);
                let mut spool = spool.into_inner().map_err(|e| Error::from(e.into_error()))?;
                self.again(&mut spool, edited, path)
            }
            State::Held { .. } | State::Failed => {
                Err(Error::new(Kind::Failure, "the output was lost after an error writing it"))
            }
        }
    }

    /// The header (the edited one or the unchanged), then what `from` holds after the unchanged
    /// one, into a new output.
    fn again(&self, from: &mut (impl Read + Seek), edited: bool, path: Option<&Path>) -> Result<()> {
        let mut out = Output::create(path)?;
        out.write_all(if edited { &self.edited } else { &self.unchanged })?;
        out.write_all(b"\n")?;
        from.seek(SeekFrom::Start(self.unchanged.len() as u64 + 1))?;
        std::io::copy(from, &mut out)?;
        out.finish()
    }
}

impl Write for Encoded {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        match &mut self.state {
            State::Held { buf, .. } => {
                buf.extend_from_slice(b);
                if buf.len() >= HOLD {
                    self.spill(false)?;
                }
            }
            State::Edited(out) | State::InPlace(out) => out.write_all(b)?,
            State::Spool { spool, .. } => spool.write_all(b)?,
            State::Failed => return Err(std::io::Error::other("the output was lost after an error writing it")),
        }
        Ok(b.len())
    }

    /// Held output stays held; the rest is flushed when it is finished.
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
