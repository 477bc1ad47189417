//! How a tool is composed: a source of records (a stream reader, the parallel reader, an archive
//! reader, a dump) feeds a [`Sink`] (a stream writer, an archive writer, a loader, statistics),
//! and a [`Run`] watches them. The run owns the progress line and the one way a tool ends:
//! the sink writes what closes it (trailer, manifest) and commits it (rename into place, flush),
//! then the progress line goes, then the summary is printed — never a summary for an output
//! that was not committed, never a committed output without its trailer.

use std::time::{Duration, Instant};

use crate::error::Result;
use crate::io::Output;
use crate::report::{Progress, Reporter};
use crate::{Header, Record, StreamWriter, Trailer};

/// Records from anywhere — a stream read, an archive unpacked — with the header of the stream
/// they make. The iterator ends with `None` only once its source was verified to its end (a
/// stream's trailer, an archive's manifest and central directory); a failure is its last item.
pub struct Source {
    pub header: Header,
    pub records: Box<dyn Iterator<Item = Result<Record>> + Send>,
}

/// A files stream's entries (node-dump) from anywhere, as [`Source`] is a keyspace's records.
pub struct FilesSource {
    pub header: Header,
    pub entries: Box<dyn Iterator<Item = Result<crate::files::FileEntry>> + Send>,
}

/// Where a tool's records go. `close` writes what ends the output and commits it.
pub trait Sink {
    /// What closing tells (the trailer written, counts).
    type Closed;
    fn close(self) -> Result<Self::Closed>;
}

/// A stream on an [`Output`]: the trailer, then the output committed (a file renamed into
/// place, stdout flushed).
impl Sink for StreamWriter<Output> {
    type Closed = Trailer;
    fn close(self) -> Result<Trailer> {
        let (out, trailer) = self.finish()?;
        out.finish()?;
        Ok(trailer)
    }
}

/// Keys and bytes seen so far, and the time since the run started.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tally {
    pub keys: u64,
    pub bytes: u64,
    pub elapsed: Duration,
}

/// One tool's run: progress on stderr while it works, then [`Run::end`].
pub struct Run {
    progress: Progress,
    started: Instant,
    quiet: bool,
    report: Reporter,
    keys: u64,
    bytes: u64,
}

impl Run {
    /// `quiet` drops the summary (the progress line only shows on a terminal anyway).
    pub fn new(report: &Reporter, quiet: bool) -> Self {
        Run { progress: report.progress(), started: Instant::now(), quiet, report: report.clone(), keys: 0, bytes: 0 }
    }

    /// Say a line (a warning) under the run's name, unless quiet.
    pub fn say(&self, line: impl std::fmt::Display) {
        if !self.quiet {
            self.report.say(line);
        }
    }

    /// Count one record of `bytes` (key and value); the line is redrawn every 4,096 records
    /// with `line` of the tally.
    pub fn record(&mut self, bytes: u64, line: impl FnOnce(&Tally) -> String) {
        self.keys += 1;
        self.bytes += bytes;
        if self.keys.is_multiple_of(4096) {
            let t = self.tally();
            self.progress.update(|| line(&t));
        }
    }

    /// Redraw the progress line now (rate-limited) for work that is not counted in records.
    pub fn progress(&mut self, line: impl FnOnce() -> String) {
        self.progress.update(line);
    }

    pub fn tally(&self) -> Tally {
        Tally { keys: self.keys, bytes: self.bytes, elapsed: self.started.elapsed() }
    }

    /// The end of every tool: close the sink (trailer, commit), clear the progress line, and
    /// print `tool: <summary>` unless quiet. A sink that fails to close prints no summary.
    pub fn end<S: Sink>(mut self, sink: S, summary: impl FnOnce(&S::Closed, &Tally) -> String) -> Result<S::Closed> {
        let closed = sink.close()?;
        self.progress.clear();
        if !self.quiet {
            self.report.say(summary(&closed, &self.tally()));
        }
        Ok(closed)
    }

    /// The end of a tool whose output was committed by other means (a load, an upload).
    pub fn done(mut self, summary: impl FnOnce(&Tally) -> String) {
        self.progress.clear();
        if !self.quiet {
            self.report.say(summary(&self.tally()));
        }
    }
}
