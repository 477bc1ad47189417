//! Interruption: SIGINT, SIGTERM and SIGHUP end a tool cleanly. The temporary files it was
//! writing are removed (so nothing half-written remains, under any name), work that must be
//! undone elsewhere (a multipart upload to abort) is told through a cancellation token, and the
//! process exits with 128 + the signal number. What was written to a pipe stays without its
//! trailer, so downstream tools see an incomplete stream.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};
use std::sync::{Mutex, Once, OnceLock};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

static TEMPS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
static SIGNAL: AtomicI32 = AtomicI32::new(0);
static BUSY: AtomicUsize = AtomicUsize::new(0);
static GRACEFUL: AtomicBool = AtomicBool::new(false);
static STOPPING: AtomicI32 = AtomicI32::new(0);

/// How long a tool that stops gracefully may take to finish before it is ended like the others.
const GRACE_STOP: Duration = Duration::from_secs(30);
static INSTALL: Once = Once::new();

/// How long a tool may take, after a signal, to undo what it must (abort an upload).
const GRACE: Duration = Duration::from_secs(10);

fn token() -> &'static CancellationToken {
    static TOKEN: OnceLock<CancellationToken> = OnceLock::new();
    TOKEN.get_or_init(CancellationToken::new)
}

/// A token cancelled when a signal arrives.
pub fn cancelled() -> CancellationToken {
    token().clone()
}

/// The signal that interrupted this process, if any.
pub fn received() -> Option<i32> {
    match SIGNAL.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

/// Make the first signal a request to stop (for a tool that runs until stopped: etcd-watch):
/// the token from [`cancelled`] is cancelled and the tool finishes what it has — closes its
/// segment at a revision it has whole — and exits 0. A second signal, or [`GRACE_STOP`] without
/// finishing, ends it as any tool is ended (temporary files removed, exit 128 + signal).
pub fn set_graceful() {
    GRACEFUL.store(true, Ordering::SeqCst);
}

/// The signal that asked a graceful tool to stop, if one did.
pub fn stop_requested() -> Option<i32> {
    match STOPPING.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

/// Remember a temporary file to remove if the process is interrupted.
pub fn register_temp(p: &Path) {
    TEMPS.lock().unwrap_or_else(|e| e.into_inner()).push(p.to_path_buf());
}

pub fn unregister_temp(p: &Path) {
    TEMPS.lock().unwrap_or_else(|e| e.into_inner()).retain(|t| t != p);
}

/// While held, a signal waits (up to a grace period) for the holder to finish undoing its work.
pub struct Busy(());

impl Busy {
    pub fn new() -> Self {
        BUSY.fetch_add(1, Ordering::SeqCst);
        Busy(())
    }
}

impl Default for Busy {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        BUSY.fetch_sub(1, Ordering::SeqCst);
    }
}

static TOOL: OnceLock<String> = OnceLock::new();
static ANNOUNCED: Once = Once::new();

/// Say once, on stderr, that `tool` was interrupted (by the signal thread or by `main`,
/// whichever gets there first).
pub fn announce(sig: i32) {
    ANNOUNCED.call_once(|| {
        let tool = TOOL.get().map_or("reshifter", String::as_str);
        crate::report::stderr_line(format_args!("{tool}: interrupted by signal {sig}: temporary files removed"));
    });
}

/// Start listening for SIGINT, SIGTERM and SIGHUP (once per process) on behalf of `tool`.
pub fn install(tool: &str) {
    let _ = TOOL.set(tool.to_string());
    INSTALL.call_once(|| {
        let _ = std::thread::Builder::new().name("signals".into()).spawn(listen);
    });
}

fn listen() {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_io().enable_time().build() else { return };
    let sig = rt.block_on(async {
        let (Ok(mut int), Ok(mut term), Ok(mut hup)) =
            (signal(SignalKind::interrupt()), signal(SignalKind::terminate()), signal(SignalKind::hangup()))
        else {
            return None;
        };
        let first = tokio::select! {
            _ = int.recv() => 2,
            _ = term.recv() => 15,
            _ = hup.recv() => 1,
        };
        if !GRACEFUL.load(Ordering::SeqCst) {
            return Some(first);
        }
        // A graceful stop: the tool finishes and exits by itself, unless told again or too slow.
        STOPPING.store(first, Ordering::SeqCst);
        token().cancel();
        tokio::select! {
            _ = int.recv() => Some(2),
            _ = term.recv() => Some(15),
            _ = hup.recv() => Some(1),
            _ = tokio::time::sleep(GRACE_STOP) => Some(first),
        }
    });
    let Some(sig) = sig else { return };
    SIGNAL.store(sig, Ordering::SeqCst);
    for t in TEMPS.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
        let _ = std::fs::remove_file(t);
    }
    token().cancel();
    let deadline = Instant::now() + GRACE;
    while BUSY.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    // Files made while we waited go too.
    for t in TEMPS.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
        let _ = std::fs::remove_file(t);
    }
    announce(sig);
    std::process::exit(128 + sig);
}
