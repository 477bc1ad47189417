//! Every tool: --help with examples, a version, the generated docs up to date, usage errors.

use reshifter_e2e::{bin_dir, sh};

fn tools() -> Vec<String> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools");
    let mut v: Vec<String> =
        std::fs::read_dir(root).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

#[test]
fn every_tool_has_help_with_examples_and_a_version() {
    assert!(tools().len() >= 13);
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
