//! reshifter: every tool of the toolkit in one executable (as busybox and uutils/coreutils do).
//!
//! Called through a link named after a tool (`etcd-dump`, `kv-filter`, ...), it is that tool;
//! called as `reshifter TOOL ARGS...`, likewise. `reshifter --install-links DIR` makes the links.
//! One executable instead of one per tool (24): a fraction of the installed size and one link
//! step instead of 24 in every build (figures in docs/BENCHMARKS.md, "Packaging").

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

type Main = fn(Vec<OsString>) -> ExitCode;

/// Every tool: its name, its `main`, and what it does.
const TOOLS: &[(&str, Main, &str)] = &[
    ("etcd-dump", etcd_dump::main, "etcd → stream, at one revision"),
    ("etcd-load", etcd_load::main, "stream → etcd, in guarded transactions"),
    ("etcd-watch", etcd_watch::main, "etcd changes after a revision → delta streams, in segments"),
    ("etcd-explore", etcd_explore::main, "what an etcd is: version, members, sizes, Kubernetes"),
    ("archive-pack", archive_pack::main, "stream → ZIP archive, optionally age-encrypted"),
    ("archive-unpack", archive_unpack::main, "ZIP archive → verified stream"),
    ("s3-push", s3_push::main, "stdin → S3 object with its SHA-256"),
    ("s3-pull", s3_pull::main, "S3 object → stdout, verified"),
    ("s3-ls", s3_ls::main, "list the backups under an S3 prefix"),
    ("s3-prune", s3_prune::main, "delete old backups by retention policy"),
    ("kv-filter", kv_filter::main, "select and rewrite records of a stream"),
    ("kv-seal", kv_seal::main, "re-seal a stream edited with jq"),
    ("kv-decode", kv_decode::main, "Kubernetes objects in the stream as JSON, for jq"),
    ("kv-encode", kv_encode::main, "objects edited after kv-decode, back into their values"),
    ("kv-rekey", kv_rekey::main, "re-encrypt values encrypted at rest for another EncryptionConfiguration"),
    ("kv-apply", kv_apply::main, "a base dump and its deltas → the keyspace at any revision"),
    ("kv-diff", kv_diff::main, "what differs between two keyspaces (exit 1 when they do)"),
    ("kv-stats", kv_stats::main, "keys and bytes by resource and namespace"),
    ("kv-gen", kv_gen::main, "a synthetic Kubernetes keyspace"),
    ("node-dump", node_dump::main, "a control-plane node's files (CAs, keys, configs) → files stream"),
    ("node-load", node_load::main, "files stream → a directory, planned and verified first"),
    ("node-stats", node_stats::main, "certificates, keys and kubeconfigs of a files stream"),
    ("reshifter-server", reshifter_server::main, "ReShifter's HTTP API and web UI, with scheduled backups"),
    ("rcli", rcli::main, "ReShifter's command line: backup create/list, restore, explore, stats"),
];

fn tool(name: &str) -> Option<Main> {
    TOOLS.iter().find(|(n, _, _)| *n == name).map(|(_, m, _)| *m)
}

fn usage() -> String {
    let mut s = format!(
        "reshifter {}: back up and restore etcd as NDJSON streams, ZIP archives and S3 objects\n\n\
         Usage: reshifter TOOL [ARGS...]       (or call TOOL through a link to this executable)\n       \
         reshifter --list                  the tools, one per line\n       \
         reshifter --install-links DIR     make a link per tool in DIR (replacing old links)\n\nTools:\n",
        env!("CARGO_PKG_VERSION")
    );
    for (name, _, what) in TOOLS {
        s.push_str(&format!("  {name:<16}{what}\n"));
    }
    s.push_str("\n`TOOL --help` shows a tool's options and examples.\n");
    s
}

/// Link every tool name in `dir` to this executable: a relative link when the executable is in
/// `dir`, an absolute one otherwise. Existing links are replaced; other files are left alone.
fn install_links(dir: &Path) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this executable: {e}"))?;
    let exe = exe.canonicalize().unwrap_or(exe);
    let dir_c = dir.canonicalize().map_err(|e| format!("{}: {e}", dir.display()))?;
    let target: PathBuf =
        if exe.parent() == Some(dir_c.as_path()) { PathBuf::from(exe.file_name().unwrap_or_default()) } else { exe };
    for (name, _, _) in TOOLS {
        let link = dir.join(name);
        match std::fs::symlink_metadata(&link) {
            Ok(m) if m.file_type().is_symlink() => {
                if std::fs::read_link(&link).is_ok_and(|t| t == target) {
                    continue;
                }
                std::fs::remove_file(&link).map_err(|e| format!("{}: {e}", link.display()))?;
            }
            Ok(_) => return Err(format!("{} exists and is not a link: remove it first", link.display())),
            Err(_) => {}
        }
        // A link made under a temporary name and renamed: concurrent callers never see a gap.
        let tmp = dir.join(format!(".{name}.link-{}", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(&target, &tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, &link).map_err(|e| format!("{}: {e}", link.display()))?;
    }
    Ok(())
}

fn say(text: &str) -> ExitCode {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    }
}

fn main() -> ExitCode {
    let mut args: Vec<OsString> = std::env::args_os().collect();
    let called = args.first().map(Path::new).and_then(Path::file_name).and_then(|n| n.to_str()).unwrap_or("");
    if let Some(main) = tool(called) {
        args[0] = called.into();
        return main(args);
    }
    let first = args.get(1).and_then(|a| a.to_str()).map(str::to_string);
    match first.as_deref() {
        Some(name) if tool(name).is_some() => {
            args.remove(0);
            tool(name).expect("checked")(args)
        }
        Some("--list") => say(&TOOLS.iter().map(|(n, _, _)| format!("{n}\n")).collect::<String>()),
        Some("--install-links") => match args.get(2) {
            Some(dir) => match install_links(Path::new(dir)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    reshifter_format::report::stderr_line(format_args!("reshifter: {e}"));
                    ExitCode::FAILURE
                }
            },
            None => {
                reshifter_format::report::stderr_line(format_args!("reshifter: --install-links needs a directory"));
                ExitCode::from(2)
            }
        },
        Some("--version" | "-V") => say(&format!("reshifter {}\n", env!("CARGO_PKG_VERSION"))),
        Some("--help" | "-h") | None => say(&usage()),
        Some(other) => {
            reshifter_format::report::stderr_line(format_args!(
                "reshifter: no tool named {other:?}; `reshifter --list` names them"
            ));
            ExitCode::from(2)
        }
    }
}
