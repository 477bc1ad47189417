//! What the libraries tell the person who called them — a progress line while they work,
//! warnings, summaries — through a [`Reporter`] the caller supplies; and the sizes and times of
//! those summaries.

use std::borrow::Cow;
use std::fmt;
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where a library's lines go, and the name they carry. The default writes `<name>: <line>` on
/// stderr, the name being the library's own tool (`kv-decode`) unless the caller gave one; a
/// caller that is not that tool (rcli, the server) names itself and may take the lines (a
/// job's log). Progress lines are drawn only on a terminal and only by the stderr reporter.
#[derive(Clone, Default)]
pub struct Reporter {
    name: Option<Cow<'static, str>>,
    sink: Option<LineSink>,
}

/// Where a caller takes a reporter's lines.
type LineSink = Arc<dyn Fn(&str) + Send + Sync>;

impl fmt::Debug for Reporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reporter").field("name", &self.name).field("sink", &self.sink.is_some()).finish()
    }
}

impl Reporter {
    /// Lines on stderr under `name`.
    pub fn named(name: impl Into<Cow<'static, str>>) -> Self {
        Reporter { name: Some(name.into()), sink: None }
    }

    /// Lines (`<name>: <line>`, no newline) handed to `sink`.
    pub fn to(name: impl Into<Cow<'static, str>>, sink: impl Fn(&str) + Send + Sync + 'static) -> Self {
        Reporter { name: Some(name.into()), sink: Some(Arc::new(sink)) }
    }

    /// This reporter, named `tool` unless its caller named it.
    pub fn or_name(&self, tool: &'static str) -> Self {
        Reporter { name: Some(self.name.clone().unwrap_or(Cow::Borrowed(tool))), sink: self.sink.clone() }
    }

    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or("reshifter")
    }

    /// Say `line` under the reporter's name.
    pub fn say(&self, line: impl fmt::Display) {
        let line = format!("{}: {line}", self.name());
        match &self.sink {
            Some(sink) => sink(&line),
            None => stderr_line(line),
        }
    }

    /// A progress line for this reporter (drawn on a terminal, by the stderr reporter only).
    pub fn progress(&self) -> Progress {
        Progress::new(self.name().to_string(), self.sink.is_none())
    }
}

/// A progress line on stderr, shown only when stderr is a terminal (or RESHIFTER_PROGRESS=1).
pub struct Progress {
    tool: String,
    enabled: bool,
    start: Instant,
    last: Instant,
    shown: bool,
}

impl Progress {
    fn new(tool: String, on_stderr: bool) -> Self {
        let enabled = on_stderr
            && match std::env::var("RESHIFTER_PROGRESS").as_deref() {
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
        stderr_text(format_args!("\r\x1b[K{}: {}", self.tool, line()));
        self.shown = true;
    }

    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// Remove the line.
    pub fn clear(&mut self) {
        if self.shown {
            stderr_text("\r\x1b[K");
            self.shown = false;
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.clear();
    }
}

/// Write one line of diagnostics to stderr. Unlike `eprintln!`, a closed stderr
/// (`tool 2>&1 >/dev/null | head -1`) does not stop the tool with a panic: the diagnostics are
/// lost, never the work.
pub fn stderr_line(line: impl fmt::Display) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// Write text to stderr without a newline (a progress line), as [`stderr_line`] does.
pub fn stderr_text(text: impl fmt::Display) {
    use std::io::Write;
    let _ = write!(std::io::stderr().lock(), "{text}");
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
    use std::sync::{Arc, Mutex};

    use super::Reporter;

    #[test]
    fn a_library_says_its_lines_under_the_callers_name_into_the_callers_sink() {
        let lines = Arc::new(Mutex::new(Vec::<String>::new()));
        let l = lines.clone();
        let job = Reporter::to("job 7 (backup)", move |line| l.lock().unwrap().push(line.to_string()));
        // The library's default name gives way to the caller's.
        let lib = job.or_name("etcd-dump");
        lib.say("warning: 3 v2 nodes left out");
        let run = crate::pipeline::Run::new(&lib, false);
        run.done(|t| format!("{} keys", t.keys));
        crate::pipeline::Run::new(&lib, true).done(|_| "quiet: not said".into());
        assert_eq!(*lines.lock().unwrap(), ["job 7 (backup): warning: 3 v2 nodes left out", "job 7 (backup): 0 keys"]);
        // No progress line is drawn for a reporter that is not stderr.
        let mut p = lib.progress();
        assert!(!p.enabled);
        p.update(|| unreachable!());
        assert_eq!(Reporter::default().or_name("kv-decode").name(), "kv-decode");
        assert_eq!(Reporter::named("rcli").or_name("kv-decode").name(), "rcli");
    }

    #[test]
    fn human() {
        assert_eq!(super::human_bytes(999), "999 B");
        assert_eq!(super::human_bytes(601_234_567), "601.2 MB");
    }
}
