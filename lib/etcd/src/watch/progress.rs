//! How far a watch has been delivered: the *confirmed* revision, up to which every change has
//! been received.
//!
//! Events prove it: etcd sends a revision's events in one response, in revision order, so after
//! a response every change up to its last revision is in. An idle watch needs etcd's word:
//!
//! - from etcd 3.4.24 and 3.5.8 on, a progress notification (the watch's own, or an answer to a
//!   progress request) is sent only once the watch is in sync, and is trusted as it comes;
//! - before those, etcd answered a progress request with its current revision at once, possibly
//!   ahead of events still queued for the watch (etcd#15220). From such a server a notification
//!   is trusted only when a second one at least [`SETTLE`] later gives the same revision with no
//!   event received in between: the store did not move for that long, so nothing below that
//!   revision was still on its way.

use std::time::{Duration, Instant};

/// How long the revision must stay still before an old server's progress answer is trusted.
pub const SETTLE: Duration = Duration::from_secs(1);

pub struct Progress {
    confirmed: i64,
    trust_requested: bool,
    /// An old server's answer waiting for its second: revision, when, events seen then.
    tentative: Option<(i64, Instant, u64)>,
    events_seen: u64,
}

/// True for etcd versions whose answers to progress requests wait for the watch to be in
/// sync (3.4.24+, 3.5.8+, 3.6+).
pub fn trusts_progress_requests(version: &str) -> bool {
    let mut parts = version.split(|c: char| !c.is_ascii_digit()).map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor, patch) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    match (major, minor) {
        (3, 4) => patch >= 24,
        (3, 5) => patch >= 8,
        (3, m) => m >= 6,
        (m, _) => m > 3,
    }
}

impl Progress {
    /// A watch that starts after `from` on a server of `version`.
    pub fn new(from: i64, version: &str) -> Self {
        Progress {
            confirmed: from,
            trust_requested: trusts_progress_requests(version),
            tentative: None,
            events_seen: 0,
        }
    }

    pub fn confirmed(&self) -> i64 {
        self.confirmed
    }

    /// A response with `n` events, the last at revision `last`, was received.
    pub fn received(&mut self, last: i64, n: u64) {
        self.events_seen += n;
        self.confirmed = self.confirmed.max(last);
        self.tentative = None;
    }

    /// A progress notification at `revision`.
    pub fn notified(&mut self, revision: i64, now: Instant) {
        if self.trust_requested {
            self.confirmed = self.confirmed.max(revision);
            return;
        }
        match self.tentative {
            Some((r, t, seen)) if r == revision && seen == self.events_seen => {
                if now.duration_since(t) >= SETTLE {
                    self.confirmed = self.confirmed.max(revision);
                }
            }
            _ => self.tentative = Some((revision, now, self.events_seen)),
        }
    }

    /// A new watch stream: answers to the old one prove nothing about it.
    pub fn reconnected(&mut self) {
        self.tentative = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert!(!trusts_progress_requests("3.4.23"));
        assert!(trusts_progress_requests("3.4.24"));
        assert!(!trusts_progress_requests("3.5.7"));
        assert!(trusts_progress_requests("3.5.8"));
        assert!(trusts_progress_requests("3.6.0"));
        assert!(!trusts_progress_requests("3.3.27"));
        assert!(!trusts_progress_requests("garbage"));
    }

    #[test]
    fn an_old_servers_answer_needs_a_still_second() {
        let t0 = Instant::now();
        let mut p = Progress::new(10, "3.4.23");
        p.notified(20, t0);
        assert_eq!(p.confirmed(), 10);
        p.notified(20, t0 + Duration::from_millis(500));
        assert_eq!(p.confirmed(), 10, "not still for long enough");
        p.received(15, 1);
        p.notified(20, t0 + Duration::from_millis(1600));
        assert_eq!(p.confirmed(), 15, "an event in between starts over");
        p.notified(20, t0 + Duration::from_millis(2700));
        assert_eq!(p.confirmed(), 20);
        p.notified(25, t0 + Duration::from_millis(2800));
        p.notified(26, t0 + Duration::from_millis(4000));
        assert_eq!(p.confirmed(), 20, "the revision moved");
        let mut q = Progress::new(10, "3.5.9");
        q.notified(12, t0);
        assert_eq!(q.confirmed(), 12);
    }
}
