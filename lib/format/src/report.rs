//! What tools tell the person at the terminal: a progress line while they work, and the sizes
//! and times of their summaries.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// A progress line on stderr, shown only when stderr is a terminal (or RESHIFTER_PROGRESS=1).
pub struct Progress {
    tool: &'static str,
    enabled: bool,
    start: Instant,
    last: Instant,
    shown: bool,
}

impl Progress {
    pub fn new(tool: &'static str) -> Self {
        let enabled = match std::env::var("RESHIFTER_PROGRESS").as_deref() {
            Ok("1") => true,
            Ok("0") => false,
            _ => std::io::stderr().is_terminal(),
        };
        let now = Instant::now();
        Progress { tool, enabled, start: now, last: now, shown: false }
    }

    /// Redraw the line at most five times a second.
    pub fn update(&mut self, line: impl FnOnce() -> String) {
        if !self.enabled || self.last.elapsed() < Duration::from_millis(200) {
            return;
        }
        self.last = Instant::now();
        eprint!("\r\x1b[K{}: {}", self.tool, line());
        self.shown = true;
    }

    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// Remove the line.
    pub fn clear(&mut self) {
        if self.shown {
            eprint!("\r\x1b[K");
            self.shown = false;
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.clear();
    }
}

/// `1234567` → `1.2 MB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1000.0 && i < UNITS.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    if i == 0 { format!("{n} B") } else { format!("{v:.1} {}", UNITS[i]) }
}

/// Seconds with one decimal.
pub fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    #[test]
    fn human() {
        assert_eq!(super::human_bytes(999), "999 B");
        assert_eq!(super::human_bytes(601_234_567), "601.2 MB");
    }
}
