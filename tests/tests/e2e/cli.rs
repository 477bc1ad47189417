//! Every tool: --help with examples, a version, the generated docs up to date, usage errors.

use reshifter_e2e::{bin_dir, sh};

/// The tools, as the multi-call executable lists them; every crate under tools/ (but the
/// multi-call one) is among them.
fn tools() -> Vec<String> {
    let list = sh("reshifter --list");
    list.ok();
    let mut v: Vec<String> = list.stdout_str().lines().map(String::from).collect();
    v.sort();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools");
    let mut dirs: Vec<String> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|d| d != "reshifter")
        .collect();
    dirs.sort();
    assert_eq!(v, dirs, "reshifter --list and the crates under tools/ differ");
    v
}

#[test]
fn the_multi_call_executable_is_every_tool() {
    let v = sh("reshifter kv-seal --version");
    v.ok();
    assert_eq!(v.stdout_str(), format!("kv-seal {}\n", env!("CARGO_PKG_VERSION")));
    let help = sh("reshifter kv-filter --help");
    assert!(help.stdout_str().contains("Usage: kv-filter"), "{}", help.stdout_str());
    let bad = sh("reshifter no-such-tool");
    assert_eq!(bad.code, 2);
    assert_eq!(bad.stderr, "reshifter: no tool named \"no-such-tool\"; `reshifter --list` names them\n");
    let dir = reshifter_e2e::tmp();
    let d = dir.path().display();
    sh(&format!("reshifter --install-links {d} && reshifter --install-links {d}")).ok();
    let o = sh(&format!("{d}/etcd-dump --version && ls {d} | wc -l"));
    o.ok();
    assert_eq!(o.stdout_str(), format!("etcd-dump {}\n24\n", env!("CARGO_PKG_VERSION")));
    std::fs::remove_file(dir.path().join("kv-gen")).unwrap();
    std::fs::write(dir.path().join("kv-gen"), b"mine").unwrap();
    let o = sh(&format!("reshifter --install-links {d}"));
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("kv-gen exists and is not a link: remove it first"), "{}", o.stderr);
}

#[test]
fn every_tool_has_help_with_examples_and_a_version() {
    assert!(tools().len() >= 21);
    for t in tools() {
        assert!(bin_dir().join(&t).exists(), "{t} is built");
        let help = sh(&format!("{t} --help"));
        help.ok();
        assert!(help.stdout_str().contains("Examples:\n"), "{t} --help has examples");
        assert!(help.stdout_str().contains(&format!("Usage: {t}")), "{t} --help has usage");
        let v = sh(&format!("{t} --version"));
        v.ok();
        assert_eq!(v.stdout_str(), format!("{t} {}\n", env!("CARGO_PKG_VERSION")));
        let bad = sh(&format!("{t} --no-such-flag"));
        assert_eq!(bad.code, 2, "{t}: usage errors exit 2");
        assert_eq!(bad.stdout, b"", "{t}: errors never go to stdout");
    }
}

#[test]
fn generated_man_pages_and_completions_are_current() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for t in tools() {
        let man = sh(&format!("{t} --generate-man"));
        man.ok();
        assert!(man.stdout_str().starts_with(".ie \\n(.g .ds Aq \\(aq"), "{t}: roff");
        let committed = std::fs::read(root.join(format!("docs/man/{t}.1"))).unwrap_or_default();
        assert!(committed == man.stdout, "docs/man/{t}.1 is stale: run scripts/gen-docs.sh");
        let bash = sh(&format!("{t} --generate-completions bash"));
        bash.ok();
        let committed = std::fs::read(root.join(format!("completions/bash/{t}"))).unwrap_or_default();
        assert!(committed == bash.stdout, "completions/bash/{t} is stale: run scripts/gen-docs.sh");
    }
}

#[test]
fn install_into_a_prefix_and_uninstall() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let prefix = reshifter_e2e::tmp();
    let p = prefix.path().display();
    let script = format!("cd {} && PREFIX={p} scripts/install.sh --no-build", root.display());
    let o = sh(&script);
    o.ok();
    assert!(o.stdout_str().starts_with(&format!("install: reshifter and 24 tools in {p}/bin (")), "{}", o.stdout_str());
    // The installed tools run from the prefix alone, and the shell finds their completions.
    let o = sh(&format!(
        "env -i PATH={p}/bin:/usr/bin:/bin bash -c 'kv-seal --version && command -v etcd-load' && \
         bash -c 'source {p}/share/bash-completion/completions/kv-filter && complete -p kv-filter' && \
         ls {p}/share/man/man1 | wc -l && test -s {p}/share/zsh/site-functions/_etcd-dump && \
         test -s {p}/share/fish/vendor_completions.d/s3-push.fish && readlink {p}/bin/etcd-dump"
    ));
    o.ok();
    let lines: Vec<String> = o.stdout_str().lines().map(String::from).collect();
    assert_eq!(lines[0], format!("kv-seal {}", env!("CARGO_PKG_VERSION")));
    assert_eq!(lines[1], format!("{p}/bin/etcd-load"));
    assert_eq!(lines[2], "complete -o bashdefault -o default -o nosort -F _kv__filter kv-filter");
    assert_eq!(lines[3], "24");
    assert_eq!(lines[4], "reshifter", "links are relative, so the prefix can move");
    // A file of a tool's name that is not our link survives the uninstall.
    std::fs::remove_file(prefix.path().join("bin/kv-gen")).unwrap();
    std::fs::write(prefix.path().join("bin/kv-gen"), b"someone else's").unwrap();
    let o = sh(&format!("cd {} && PREFIX={p} scripts/install.sh --uninstall", root.display()));
    o.ok();
    let left = sh(&format!("cd {p} && find . -type f -o -type l"));
    assert_eq!(left.stdout_str(), "./bin/kv-gen\n", "uninstall removes all of ours and only ours");
}

/// A closed stderr (`tool 2>&1 >/dev/null | head -1`, once head has its line) costs the
/// diagnostics, never the work: the tool finishes with its own exit code instead of a panic (101).
#[test]
fn a_closed_stderr_does_not_stop_a_tool() {
    let d = reshifter_e2e::tmp();
    let out = d.path().join("o.ndjson");
    let o =
        sh(&format!("kv-gen --objects 50 | {{ sleep 0.3; kv-decode -o {}; }} 2>&1 >/dev/null | true", out.display()));
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 52, "header, 50 records, trailer");
    let o = sh("{ sleep 0.3; kv-stats /nonexistent; } 2>&1 | true; exit ${PIPESTATUS[0]}");
    assert_eq!(o.code, 2, "{}", o.stderr);
}

#[test]
fn pipes_between_the_tools_are_widened_to_a_mebibyte() {
    // Linux's 64 KiB pipe made every buffered write of a stream a ping-pong of wake-ups between
    // the two sides: `archive-unpack | kv-filter` took 3.1 s instead of 1.8-2.0 s. Each end is
    // read from the other side of the pipe, after the tool has opened it.
    let size = "import fcntl, sys, time; time.sleep(1); print(fcntl.fcntl(0 if sys.argv[1] == 'in' else 1, 1032), \
                file=sys.stderr); sys.stdout.buffer.write(sys.stdin.buffer.read()) if sys.argv[1] == 'in' else None";
    let out = sh(&format!("kv-gen --objects 3 --seed 1 | python3 -c \"{size}\" in 2>&1 >/dev/null"));
    out.ok();
    assert_eq!(out.stdout_str(), "1048576\n");
    let inp = sh(&format!("{{ python3 -c \"{size}\" out 2>&3 | kv-filter -q >/dev/null 2>&1; }} 3>&1"));
    assert_eq!(inp.stdout_str(), "1048576\n");
    // A pipe of anyone else is left as it is.
    let other = sh(&format!("cat /dev/null | python3 -c \"{size}\" in 2>&1 >/dev/null"));
    assert_eq!(other.stdout_str(), "65536\n");
}
