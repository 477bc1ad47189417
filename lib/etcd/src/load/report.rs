//! What a load did: its counts, its summary, and the error of one that failed midway (exactly
//! what was written, and how to resume).

use std::time::Duration;

use reshifter_format::error::{Error, Kind};
use reshifter_format::report::secs;

use super::bump;
use super::options::{LoadOptions, Mode};

/// What a load did (or, dry, would do).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LoadCounts {
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// Existing keys left alone by `create-only`.
    pub kept: u64,
    pub deleted: u64,
    /// Keys not written because their lease had expired: before the dump finished (not in the
    /// header), or during the restore.
    pub expired: u64,
    /// v2 directories: left out by a load into v3 (which has none); created, updated or
    /// unchanged (and counted there too) by a load into v2.
    pub dirs: u64,
    pub txns: u64,
}

impl LoadCounts {
    pub(super) fn add(&mut self, o: &LoadCounts) {
        self.created += o.created;
        self.updated += o.updated;
        self.unchanged += o.unchanged;
        self.kept += o.kept;
        self.deleted += o.deleted;
        self.expired += o.expired;
        self.dirs += o.dirs;
        self.txns += o.txns;
    }

    /// Keys whose state in etcd this load changed.
    pub fn written(&self) -> u64 {
        self.created + self.updated + self.deleted
    }
}

/// What a load did.
#[derive(Debug, Clone, Copy)]
pub struct Loaded {
    pub stats: LoadCounts,
    /// Records read from the stream.
    pub records: u64,
    pub elapsed: Duration,
    /// True when it wrote with the v2 API.
    pub v2: bool,
    /// What --bump-revision did.
    pub bumped: Option<bump::Bumped>,
}

impl Loaded {
    /// The summary line etcd-load prints.
    /// What the load did, in words, without a tool's name (a caller's report says whose).
    pub fn describe(&self, dry: bool) -> String {
        describe(&self.stats, self.records, dry, self.elapsed, self.v2)
    }

    /// Keys (not directories) the target now holds as the stream does.
    pub fn keys_restored(&self) -> u64 {
        let s = &self.stats;
        (s.created + s.updated + s.unchanged).saturating_sub(if self.v2 { s.dirs } else { 0 })
    }
}

/// The error of a failed load: exactly what was written, and how to resume.
pub(crate) fn failure(opts: &LoadOptions, stats: &LoadCounts, err: Error) -> Error {
    let sync_note = if opts.mode == Mode::Sync && stats.deleted == 0 { "; no key was deleted" } else { "" };
    let msg = if opts.dry_run {
        format!("{err} (dry run: nothing was written)")
    } else if stats.written() > 0 {
        format!(
            "the restore is INCOMPLETE: {} keys were written ({} created, {} updated, {} deleted){sync_note} before it \
             failed; run the same command again to resume (keys already written are left unchanged): {err}",
            stats.written(),
            stats.created,
            stats.updated,
            stats.deleted
        )
    } else {
        format!("nothing was written: {err}")
    };
    let kind = if !opts.dry_run && stats.written() > 0 { Kind::Partial } else { err.kind() };
    Error::with_source(kind, msg, err)
}

fn describe(s: &LoadCounts, records: u64, dry: bool, elapsed: Duration, v2: bool) -> String {
    let rate = records as f64 / elapsed.as_secs_f64().max(1e-9);
    let mut text = if dry {
        format!(
            "dry run, nothing written: {records} keys read: would create {}, update {}, delete {}; {} unchanged",
            s.created, s.updated, s.deleted, s.unchanged
        )
    } else {
        format!(
            "{records} keys read: {} created, {} updated, {} deleted, {} unchanged",
            s.created, s.updated, s.deleted, s.unchanged
        )
    };
    if s.kept > 0 {
        text.push_str(&format!(", {} existing kept", s.kept));
    }
    if s.expired > 0 {
        text.push_str(&format!(", {} skipped (lease expired)", s.expired));
    }
    if s.dirs > 0 && !v2 {
        text.push_str(&format!(", {} v2 directories left out (v3 has none)", s.dirs));
    }
    if !dry {
        let unit = if v2 { "requests" } else { "txns" };
        text.push_str(&format!("; {} {unit} in {} ({:.0} keys/s)", s.txns, secs(elapsed), rate));
    }
    text
}
