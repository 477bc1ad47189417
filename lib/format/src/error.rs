//! Typed errors of the library and the one table of exit codes every tool uses.
//!
//! Each error carries a [`Kind`]; the kind decides the process exit code (see [`EXIT_CODES`]),
//! the message is what the user reads after `tool: `.

use std::fmt;

/// What went wrong, coarsely: this decides the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Anything not covered below.
    Failure,
    /// Bad command-line arguments or configuration.
    Usage,
    /// Malformed input: a bad stream line, a bad archive entry.
    BadInput,
    /// Input ended before it was complete (no trailer, truncated archive).
    Truncated,
    /// A digest or checksum did not match, or a decryption key is wrong.
    Integrity,
    /// A server (etcd, S3) could not be reached or stopped answering.
    Unavailable,
    /// The etcd revision asked for has been compacted.
    Compacted,
    /// A restore wrote some keys and then failed: the target is partially written.
    Partial,
    /// Authentication or permission failure.
    Auth,
    /// A command the tool ran failed (etcd-watch --filter): the tool exits with its code.
    Child(u8),
}

/// One row of the exit-code table.
pub struct ExitCode {
    pub code: u8,
    pub name: &'static str,
    pub meaning: &'static str,
}

/// The exit codes of every reshifter tool. README.md reproduces this table.
pub const EXIT_CODES: &[ExitCode] = &[
    ExitCode { code: 0, name: "ok", meaning: "success (also: the downstream pipe was closed early)" },
    ExitCode { code: 1, name: "failure", meaning: "an error not listed below" },
    ExitCode { code: 2, name: "usage", meaning: "bad arguments or configuration" },
    ExitCode { code: 3, name: "bad-input", meaning: "malformed input: a bad stream line or archive entry" },
    ExitCode { code: 4, name: "truncated", meaning: "input ended early: stream without trailer, truncated archive" },
    ExitCode { code: 5, name: "integrity", meaning: "digest or checksum mismatch, or wrong decryption key" },
    ExitCode { code: 6, name: "unavailable", meaning: "etcd or S3 could not be reached or stopped answering" },
    ExitCode { code: 7, name: "compacted", meaning: "the etcd revision was compacted before the dump finished" },
    ExitCode {
        code: 8,
        name: "partial",
        meaning: "etcd-load wrote some keys and then failed: the restore is incomplete",
    },
    ExitCode { code: 9, name: "auth", meaning: "authentication failed or permission denied" },
    ExitCode {
        code: 10,
        name: "diff-error",
        meaning: "kv-diff only: an error not listed above (kv-diff exits 1 when its inputs differ, as diff(1) does)",
    },
    ExitCode {
        code: 130,
        name: "interrupted",
        meaning: "stopped by SIGINT (143: SIGTERM, 129: SIGHUP); temporary files were removed, nothing looks complete",
    },
];

impl Kind {
    pub fn exit_code(self) -> u8 {
        match self {
            Kind::Failure => 1,
            Kind::Usage => 2,
            Kind::BadInput => 3,
            Kind::Truncated => 4,
            Kind::Integrity => 5,
            Kind::Unavailable => 6,
            Kind::Compacted => 7,
            Kind::Partial => 8,
            Kind::Auth => 9,
            Kind::Child(code) => code,
        }
    }
}

type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The library's error: a kind, a message for humans, and an optional cause.
#[derive(Debug, thiserror::Error)]
pub struct Error {
    kind: Kind,
    msg: String,
    #[source]
    source: Option<Source>,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: Kind, msg: impl Into<String>) -> Self {
        Error { kind, msg: msg.into(), source: None }
    }

    pub fn with_source(kind: Kind, msg: impl Into<String>, source: impl Into<Source>) -> Self {
        Error { kind, msg: msg.into(), source: Some(source.into()) }
    }

    /// A malformed line of a stream: renders as `line N: msg`.
    pub fn bad_line(line: u64, msg: impl fmt::Display) -> Self {
        Error::new(Kind::BadInput, format!("line {line}: {msg}"))
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    pub fn message(&self) -> &str {
        &self.msg
    }

    /// The I/O error this one was made from, if any.
    pub fn io(&self) -> Option<&std::io::Error> {
        self.source.as_ref().and_then(|s| s.downcast_ref::<std::io::Error>())
    }
}

impl From<std::io::Error> for Error {
    /// An I/O error; one that carries a library error (from a reader that decrypts or checks
    /// as it reads) keeps that error's kind and message.
    fn from(e: std::io::Error) -> Self {
        if let Some(inner) = e.get_ref().and_then(|i| i.downcast_ref::<Error>()) {
            return Error::new(inner.kind, inner.msg.clone());
        }
        let msg = e.to_string();
        Error { kind: Kind::Failure, msg, source: Some(Box::new(e)) }
    }
}

impl From<serde_json::Error> for Error {
    /// Encoding JSON output failed (a write error is kept as its I/O error).
    fn from(e: serde_json::Error) -> Self {
        match e.io_error_kind() {
            Some(_) => Error::from(std::io::Error::from(e)),
            None => Error::with_source(Kind::Failure, "cannot encode JSON", e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readme_lists_every_exit_code() {
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
        for c in EXIT_CODES {
            let row = format!("| {:<4} | {:<11} | {} |", c.code, c.name, c.meaning);
            assert!(readme.contains(&row), "README.md lacks the row: {row}");
        }
        let kinds = [
            Kind::Failure,
            Kind::Usage,
            Kind::BadInput,
            Kind::Truncated,
            Kind::Integrity,
            Kind::Unavailable,
            Kind::Compacted,
            Kind::Partial,
            Kind::Auth,
        ];
        for k in kinds {
            assert!(EXIT_CODES.iter().any(|c| c.code == k.exit_code()));
        }
    }
}
