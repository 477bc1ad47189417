//! etcd-watch: every change after a revision, as delta streams (docs/FORMAT.md, "Delta
//! streams"), cut into segments by time or size.
//!
//! One etcd watch covers the requested prefixes (the smallest key range holding them all;
//! events outside them are dropped here). etcd never splits a revision's events over two watch
//! responses, so after each response every change up to its last revision has been received:
//! that revision is *confirmed*. A reconnect asks for the revision after the confirmed one, so
//! it leaves neither a gap nor a duplicate. An idle watch's end moves with etcd's progress
//! notifications ([`progress`]). A segment is closed only at a confirmed revision, and written
//! (or handed to the filter) only once closed ([`segment`]).

pub mod continuity;
pub mod progress;
pub mod segment;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use etcd_client::{Client, EventType, WatchOptions as EtcdWatchOptions, WatchResponse, WatchStream};

use crate::dump::{normalized, source_facts};
use crate::{self as etcd, EtcdArgs, id_hex, prefix_ranges};
use progress::Progress;
use reshifter_format::delta::{Event, delta_header};
use reshifter_format::error::{Error, Kind, Result};
use reshifter_format::pipeline::Run;
use reshifter_format::report::{human_bytes, secs};
use reshifter_format::units::{parse_duration, parse_size};
use reshifter_format::{Frame, Header, Record, signals};
use segment::{Resumed, Segments, Target};

/// Largest watch response accepted: etcd sends a revision's events in one response, and one
/// revision (a txn, a range delete) can hold many.
const MAX_WATCH_RESPONSE: usize = 512 << 20;

/// etcd-watch's command-line options.
#[derive(Debug, Clone, clap::Args)]
pub struct WatchOptions {
    /// Where progress, warnings and the summary go (stderr, under the tool's name, unless the
    /// caller names itself or takes the lines).
    #[arg(skip)]
    pub report: reshifter_format::report::Reporter,

    #[command(flatten)]
    pub etcd: EtcdArgs,

    /// Stream the changes after this revision: typically the `revision` of a full dump's header
    #[arg(long = "from-rev", value_name = "REVISION")]
    pub from_rev: Option<i64>,

    /// Watch only keys starting with PREFIX (repeatable; default: the whole keyspace)
    #[arg(long = "prefix", value_name = "PREFIX")]
    pub prefixes: Vec<String>,

    /// Close a segment and start the next once it is this old (needs -o or --filter)
    #[arg(long, value_name = "N")]
    pub segment_seconds: Option<u64>,

    /// Close a segment and start the next once it holds this many bytes of keys and values
    /// (KiB/MiB = 1024-based, kB/MB = 1000-based; needs -o or --filter)
    #[arg(long, value_parser = parse_size, value_name = "SIZE")]
    pub segment_bytes: Option<usize>,

    /// Write each segment into DIR, as delta-<first>-<last>.ndjson (mode 0600, renamed into
    /// place when complete)
    #[arg(short, long, value_name = "DIR", conflicts_with = "filter")]
    pub output: Option<PathBuf>,

    /// Hand each complete segment to COMMAND (run by sh, the segment on its stdin, its name
    /// delta-<first>-<last> in $FILE), as `split --filter` does; a failing filter stops the watch
    /// with its exit code
    #[arg(long, value_name = "COMMAND")]
    pub filter: Option<String>,

    /// Where --filter's segments are written before the filter reads them (default: $TMPDIR);
    /// a segment whose filter failed is kept there
    #[arg(long, value_name = "DIR", requires = "filter")]
    pub spool: Option<PathBuf>,

    /// Continue after the newest complete segment in DIR or under an S3 prefix
    /// (s3://bucket/prefix/); --from-rev counts only while there is none yet
    #[arg(long, value_name = "DIR|S3URI")]
    pub resume: Option<String>,

    /// Stop after revision R: the last segment ends exactly there
    #[arg(long = "until-rev", value_name = "R")]
    pub until_rev: Option<i64>,

    /// Stop after this long (e.g. 10m), closing the last segment at the newest confirmed revision
    #[arg(long = "for", value_parser = parse_duration, value_name = "DURATION")]
    pub duration: Option<Duration>,

    /// How often to ask etcd how far the watch has been delivered
    #[arg(long, default_value = "1s", value_parser = parse_duration, value_name = "DURATION")]
    pub progress_interval: Duration,

    /// Give up when etcd cannot be reached again for this long
    #[arg(long, default_value = "2m", value_parser = parse_duration, value_name = "DURATION")]
    pub reconnect_for: Duration,

    /// No summary on stderr
    #[arg(short, long)]
    pub quiet: bool,
}

impl WatchOptions {
    fn target(&self) -> Result<Target> {
        let segmented = self.segment_seconds.is_some() || self.segment_bytes.is_some();
        match (&self.output, &self.filter) {
            (Some(dir), _) => Ok(Target::Dir(dir.clone())),
            (None, Some(cmd)) => Ok(Target::Filter {
                command: cmd.clone(),
                spool: self.spool.clone().unwrap_or_else(std::env::temp_dir),
            }),
            (None, None) if segmented => Err(Error::new(
                Kind::Usage,
                "--segment-seconds and --segment-bytes need -o DIR or --filter COMMAND: stdout carries one stream",
            )),
            (None, None) => Ok(Target::Stdout),
        }
    }
}

/// The smallest key range `[key, range_end)` holding every prefix (`[0]` ends: the keyspace's end).
fn covering_range(prefixes: &[String]) -> (Vec<u8>, Vec<u8>) {
    let ranges = prefix_ranges(prefixes);
    let start = ranges.first().map(|r| r.0.clone()).unwrap_or_else(|| vec![0]);
    let end = ranges.last().map(|r| r.1.clone()).unwrap_or_else(|| vec![0]);
    (start, end)
}

/// Run a watch. `resumed` is the newest complete segment, when the tool found one (`--resume`):
/// the watch continues after it once the etcd proves to hold the same history.
pub fn run(opts: WatchOptions, resumed: Option<Resumed>) -> Result<()> {
    let target = opts.target()?;
    let from = match (resumed.as_ref().map(|r| r.end), opts.from_rev) {
        (Some(r), _) => r,
        (None, Some(r)) if r > 0 => r,
        (None, Some(_)) => return Err(Error::new(Kind::Usage, "--from-rev must be positive")),
        (None, None) if opts.resume.is_some() => {
            return Err(Error::new(
                Kind::Usage,
                "--resume found no complete segment to continue after: start with --from-rev R",
            ));
        }
        (None, None) => {
            return Err(Error::new(
                Kind::Usage,
                "say where to start: --from-rev R (the revision of a full dump), or --resume DIR",
            ));
        }
    };
    if let Some(u) = opts.until_rev
        && u < from
    {
        return Err(Error::new(Kind::Usage, format!("--until-rev {u} is before the start revision {from}")));
    }
    opts.etcd.check()?;
    signals::set_graceful();
    let rt = reshifter_format::parallel::runtime(1)?;
    let mut run = Run::new(&opts.report.or_name("etcd-watch"), opts.quiet);
    let outcome = rt.block_on(watch(&opts, target, from, resumed.as_ref(), &mut run))?;
    let stopped = signals::stop_requested().map_or(String::new(), |s| format!("stopped by signal {s}: "));
    run.done(|t| {
        format!(
            "{stopped}{} events ({}) in {} segments, revisions {}..{} in {}",
            outcome.events,
            human_bytes(outcome.bytes),
            outcome.segments,
            from + 1,
            outcome.end,
            secs(t.elapsed)
        )
    });
    Ok(())
}

/// What a watch did.
struct Outcome {
    events: u64,
    bytes: u64,
    segments: u64,
    end: i64,
}

/// The state of one watch.
struct Watcher<'a> {
    opts: &'a WatchOptions,
    client: Client,
    frame: Frame,
    range: (Vec<u8>, Vec<u8>),
    progress: Progress,
    segments: Segments,
    /// A response held events beyond --until-rev: everything up to it has been received.
    passed_until: bool,
}

async fn watch(
    opts: &WatchOptions,
    target: Target,
    from: i64,
    resumed: Option<&Resumed>,
    run: &mut Run,
) -> Result<Outcome> {
    let mut client = opts.etcd.connect().await?;
    let src = source_facts(&mut client, &opts.etcd).await?;
    if let Some(r) = resumed {
        let theirs = r.header.cluster_id.as_deref();
        continuity::check(&client, &opts.etcd, src.cluster_id, theirs, r.anchor.as_ref(), &r.source).await?;
    }
    if from > src.revision {
        return Err(Error::new(
            Kind::Usage,
            format!("--from-rev {from} is in the future: the current revision is {}", src.revision),
        ));
    }
    let prefixes = if opts.prefixes.is_empty() { vec![String::new()] } else { normalized(&opts.prefixes) };
    let mut template: Header = delta_header(&format!("etcd-watch {}", env!("CARGO_PKG_VERSION")), from, prefixes);
    template.endpoints = opts.etcd.endpoints.iter().map(|e| reshifter_format::redact::urls(e).into_owned()).collect();
    template.cluster_id = Some(id_hex(src.cluster_id));
    template.member_id = Some(id_hex(src.member_id));
    template.etcd_version = Some(src.version.clone());
    // Every change under the prefixes between the two revisions: what kv-apply relies on.
    template.complete = true;
    let range = covering_range(&template.prefixes);
    let frame = Frame::of(&template);
    let anchor = match resumed {
        Some(r) => r.anchor.clone(),
        None => continuity::first_anchor(&client, &opts.etcd, &range, from).await?,
    };
    let seconds = opts.segment_seconds.map(Duration::from_secs);
    let segments = Segments::new(target, template, seconds, opts.segment_bytes, anchor)?;
    let mut w = Watcher {
        opts,
        client,
        frame,
        range,
        progress: Progress::new(from, &src.version),
        segments,
        passed_until: false,
    };
    w.segments.open(from)?;
    let result = w.run_loop(run).await;
    let end = w.progress.confirmed();
    match result {
        Ok(()) => {
            let end = opts.until_rev.map_or(end, |u| u.min(end));
            w.segments.finish(end, &w.client).await?;
            let s = w.segments.stats();
            Ok(Outcome { events: s.events, bytes: s.bytes, segments: s.closed, end })
        }
        Err(e) => {
            // Segments closed so far are complete; the open one is dropped (its temp file goes).
            if let Err(f) = w.segments.abandon().await {
                opts.report.or_name("etcd-watch").say(f);
            }
            Err(e)
        }
    }
}

impl Watcher<'_> {
    async fn open_stream(&self, start: i64) -> std::result::Result<WatchStream, etcd_client::Error> {
        let wo =
            EtcdWatchOptions::new().with_range(self.range.1.clone()).with_start_revision(start).with_progress_notify();
        let mut wc = self.client.watch_client().max_decoding_message_size(MAX_WATCH_RESPONSE);
        wc.watch(self.range.0.clone(), Some(wo)).await
    }

    /// Open the watch again after the confirmed revision, retrying while etcd is away for up to
    /// --reconnect-for; `None` when asked to stop meanwhile.
    async fn reconnect(&mut self, why: String) -> Result<Option<WatchStream>> {
        let cancel = signals::cancelled();
        let deadline = Instant::now() + self.opts.reconnect_for;
        let mut delays = etcd::delays();
        let mut last = why;
        loop {
            let pause = delays.next().unwrap_or(Duration::from_secs(5));
            if Instant::now() + pause > deadline {
                return Err(Error::new(
                    Kind::Unavailable,
                    format!(
                        "lost the watch at {} and could not watch again for {}: {last}; every segment closed so \
                         far is complete (up to revision {}); --resume continues after the newest",
                        self.opts.etcd.endpoint_list(),
                        humantime::format_duration(self.opts.reconnect_for),
                        self.segments.stats().end
                    ),
                ));
            }
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = cancel.cancelled() => return Ok(None),
            }
            self.progress.reconnected();
            match self.open_stream(self.progress.confirmed() + 1).await {
                Ok(s) => return Ok(Some(s)),
                Err(e) if etcd::is_transient(&e) => last = etcd::describe(&e),
                Err(e) => return Err(self.opts.etcd.error("cannot watch etcd", e)),
            }
        }
    }

    async fn run_loop(&mut self, run: &mut Run) -> Result<()> {
        let started = Instant::now();
        let cancel = signals::cancelled();
        let first = match self.open_stream(self.progress.confirmed() + 1).await {
            Ok(s) => Some(s),
            Err(e) if etcd::is_transient(&e) => self.reconnect(etcd::describe(&e)).await?,
            Err(e) => return Err(self.opts.etcd.error("cannot watch etcd", e)),
        };
        let Some(mut stream) = first else { return Ok(()) };
        let mut ticker = tokio::time::interval(self.opts.progress_interval.max(Duration::from_millis(10)));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                msg = stream.message() => {
                    let lost = match msg {
                        Ok(Some(resp)) => {
                            self.handle(resp).await?;
                            None
                        }
                        Ok(None) => Some("etcd ended the watch stream".to_string()),
                        // etcd refuses a watch with a cancelled response (compaction, permission):
                        // an error of the stream itself is the connection, to be made again, unless
                        // it is about the credentials.
                        Err(e) if etcd::classify(&e) != Kind::Auth => Some(etcd::describe(&e)),
                        Err(e) => return Err(self.opts.etcd.error("the watch failed", e)),
                    };
                    if let Some(why) = lost {
                        match self.reconnect(why).await? {
                            Some(s) => stream = s,
                            None => return Ok(()),
                        }
                    }
                },
                _ = ticker.tick() => {
                    // A failed request shows as a broken stream on the next message.
                    let _ = stream.request_progress().await;
                }
                // SIGTERM/SIGINT: stop here; the open segment is closed at the confirmed revision.
                _ = cancel.cancelled() => return Ok(()),
            }
            let confirmed = self.progress.confirmed();
            self.segments.maybe_close(confirmed, &self.client).await?;
            let s = self.segments.stats();
            run.progress(|| format!("{} events, revision {confirmed}, {} segments", s.events, s.closed));
            if self.opts.until_rev.is_some_and(|u| confirmed >= u || self.passed_until) {
                return Ok(());
            }
            if self.opts.duration.is_some_and(|d| started.elapsed() >= d) {
                return Ok(());
            }
        }
    }

    async fn handle(&mut self, resp: WatchResponse) -> Result<()> {
        if resp.canceled() {
            if resp.compact_revision() > 0 {
                return Err(Error::new(
                    Kind::Compacted,
                    format!(
                        "revision {} was compacted (etcd keeps history from revision {} on): the changes in \
                         between are gone; take a new full dump (etcd-dump) and watch from its revision",
                        self.progress.confirmed() + 1,
                        resp.compact_revision()
                    ),
                ));
            }
            let reason = resp.cancel_reason();
            let kind = if reason.contains("permission denied") { Kind::Auth } else { Kind::Failure };
            return Err(Error::new(
                kind,
                format!("etcd cancelled the watch: {}", if reason.is_empty() { "no reason given" } else { reason }),
            ));
        }
        let events = resp.events();
        if events.is_empty() {
            if !resp.created() {
                let rev = resp.header().map_or(0, |h| h.revision());
                self.progress.notified(rev, Instant::now());
            }
            return Ok(());
        }
        let confirmed = self.progress.confirmed();
        let mut last = confirmed;
        for ev in events {
            let Some(kv) = ev.kv() else {
                return Err(Error::new(Kind::Failure, "etcd sent a watch event without its key"));
            };
            let rev = kv.mod_revision();
            if rev <= confirmed || rev < last {
                return Err(Error::new(
                    Kind::Failure,
                    format!(
                        "etcd sent a change at revision {rev} after it had reported every change up to {confirmed} \
                         delivered: refusing to go on with a stream that may have a gap (segments closed so far \
                         are complete; --resume continues)"
                    ),
                ));
            }
            if rev > last && last > confirmed {
                // Revision `last` is whole (etcd never splits one): a full segment may end there.
                self.segments.close_if_full(last, &self.client).await?;
            }
            last = rev;
            if self.opts.until_rev.is_some_and(|u| rev > u) {
                self.passed_until = true;
                continue;
            }
            if !self.frame.within(kv.key()) {
                continue;
            }
            let e = match ev.event_type() {
                EventType::Put => Event::put(Record {
                    key: kv.key().to_vec(),
                    value: kv.value().to_vec(),
                    create_revision: kv.create_revision(),
                    mod_revision: rev,
                    version: kv.version(),
                    lease: kv.lease(),
                }),
                EventType::Delete => Event::delete(kv.key().to_vec(), rev),
            };
            self.segments.write(&e)?;
        }
        self.progress.received(last, events.len() as u64);
        Ok(())
    }
}
