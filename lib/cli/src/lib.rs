//! The edge every binary shares: running `main`, printing errors as `tool: message: cause`,
//! exiting with the code from the one table, treating a closed downstream pipe as success,
//! `--generate-man`/`--generate-completions`, and the value parsers of sizes and durations.
//! anyhow is used here and in the tools, nowhere else.

use std::process::ExitCode;

use reshifter_format::signals;

mod exit;
pub use exit::{exit_code_of, is_broken_pipe};

/// A tool's whole `main`, given its command line (argument 0 is the tool's name):
/// `--generate-man`/`--generate-completions` ([`docs`]), then the arguments, then `body(args)`
/// through [`run`].
pub fn main<A: clap::Parser, E: Into<anyhow::Error>>(
    tool: &str,
    args: Vec<std::ffi::OsString>,
    body: impl FnOnce(A) -> Result<(), E>,
) -> ExitCode {
    if let Some(code) = docs::<A>(&args) {
        return code;
    }
    let parsed = A::parse_from(args);
    signals::install(tool);
    run(tool, || body(parsed).map_err(Into::into))
}

/// [`main`] for a tool whose success has more than one exit code (kv-diff: 0 when its inputs
/// are equal, 1 when they differ): the body's `Ok(code)` is the exit code, and `on_error` maps
/// the code of an error out of their way.
pub fn main_status<A: clap::Parser, E: Into<anyhow::Error>>(
    tool: &str,
    args: Vec<std::ffi::OsString>,
    body: impl FnOnce(A) -> Result<u8, E>,
    on_error: fn(u8) -> u8,
) -> ExitCode {
    if let Some(code) = docs::<A>(&args) {
        return code;
    }
    let parsed = A::parse_from(args);
    signals::install(tool);
    run_status(tool, || body(parsed).map_err(Into::into), on_error)
}

/// Run a tool's body and turn its result into the process exit code.
pub fn run(tool: &str, body: impl FnOnce() -> anyhow::Result<()>) -> ExitCode {
    run_status(tool, || body().map(|()| 0), |code| code)
}

/// [`run`] for a body that chooses its exit code.
pub fn run_status(tool: &str, body: impl FnOnce() -> anyhow::Result<u8>, on_error: fn(u8) -> u8) -> ExitCode {
    match body() {
        Ok(code) => ExitCode::from(code),
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(_) if signals::received().is_some() => {
            let sig = signals::received().unwrap_or(15);
            signals::announce(sig);
            ExitCode::from((128 + sig) as u8)
        }
        Err(e) => {
            eprintln!("{tool}: {}", error_text(&e));
            ExitCode::from(on_error(exit_code_of(&e)))
        }
    }
}

/// The error and its causes on one line, each cause once.
pub fn error_text(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        let s = cause.to_string();
        if s.is_empty() || parts.iter().any(|p| p.contains(&s)) {
            continue;
        }
        parts.push(s);
    }
    // Credentials in URLs (http://user:password@host) never reach a terminal or a log.
    reshifter_format::redact::urls(&parts.join(": ")).into_owned()
}

/// Every tool answers `--generate-man` (roff on stdout) and `--generate-completions SHELL` (bash,
/// zsh, fish, elvish, powershell) from its clap definition, before any other argument is looked
/// at; scripts/gen-docs.sh writes docs/man/ and completions/ with them. `Some(exit code)` when
/// it did.
pub fn docs<C: clap::CommandFactory>(args: &[std::ffi::OsString]) -> Option<ExitCode> {
    use std::io::Write;
    let args: Vec<String> = args.iter().skip(1).map(|a| a.to_string_lossy().into_owned()).collect();
    if !matches!(args.first().map(String::as_str), Some("--generate-man" | "--generate-completions")) {
        return None;
    }
    let mut cmd = C::command();
    let name = cmd.get_name().to_string();
    let mut out = Vec::new();
    match args.first().map(String::as_str) {
        Some("--generate-man") => {
            if clap_mangen::Man::new(cmd).render(&mut out).is_err() {
                return Some(ExitCode::FAILURE);
            }
        }
        Some("--generate-completions") => {
            let shell: clap_complete::Shell = match args.get(1).and_then(|s| s.parse().ok()) {
                Some(s) => s,
                None => {
                    eprintln!("{name}: --generate-completions needs a shell: bash, zsh, fish, elvish or powershell");
                    return Some(ExitCode::from(2));
                }
            };
            clap_complete::generate(shell, &mut cmd, name, &mut out);
        }
        _ => return None,
    }
    let ok = std::io::stdout().write_all(&out).and_then(|()| std::io::stdout().flush()).is_ok();
    Some(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Parse `5s`, `1m30s`, `500ms` (humantime), or a plain number of seconds.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    if let Ok(n) = s.parse::<u64>() {
        return Ok(std::time::Duration::from_secs(n));
    }
    humantime::parse_duration(s).map_err(|e| format!("{e} (expected e.g. 5s, 1m, 500ms)"))
}

/// What `--help` says of sizes.
pub const SIZE_UNITS: &str = "KiB/MiB/GiB/TiB = 1024^n bytes, kB/MB/GB/TB = 1000^n";

/// Parse a size exactly: `1572864`, `64KiB`, `1.5MiB`, `4MB`, `1TiB`. Binary units (KiB, MiB,
/// GiB, TiB) are powers of 1024, decimal ones (kB, MB, GB, TB) powers of 1000; bare `K`, `M`,
/// `G`, `T` are refused as ambiguous, and so is a fraction that is not a whole number of bytes.
pub fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let bad = || format!("{s:?} is not a size (e.g. 1572864, 64KiB, 1.5MiB, 4MB)");
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    if int.is_empty() && frac.is_empty() || frac.contains('.') || frac.len() > 12 {
        return Err(bad());
    }
    let int: u128 = if int.is_empty() { 0 } else { int.parse().map_err(|_| bad())? };
    let mult: u128 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        u @ ("k" | "m" | "g" | "t") => {
            let u = u.to_ascii_uppercase();
            return Err(format!("{s:?}: {u} is ambiguous: say {u}iB (1024-based) or {u}B (1000-based)"));
        }
        _ => return Err(format!("{s:?}: unknown size unit {unit:?} ({SIZE_UNITS})")),
    };
    let scale = 10u128.pow(frac.len() as u32);
    let frac_n: u128 = if frac.is_empty() { 0 } else { frac.parse().map_err(|_| bad())? };
    let total = int.checked_mul(mult).ok_or_else(bad)?;
    let part = frac_n * mult;
    if !part.is_multiple_of(scale) {
        return Err(format!("{s:?} is not a whole number of bytes"));
    }
    usize::try_from(total + part / scale).map_err(|_| format!("{s:?} is too large"))
}

#[cfg(test)]
mod size_tests {
    #[test]
    fn sizes() {
        assert_eq!(super::parse_size("1.5MiB"), Ok(1572864));
        assert_eq!(super::parse_size("4MB"), Ok(4_000_000));
        assert_eq!(super::parse_size("10"), Ok(10));
        assert_eq!(super::parse_size("5MiB"), Ok(5 << 20));
        assert_eq!(super::parse_size("5 MB"), Ok(5_000_000));
        assert_eq!(super::parse_size("1TB"), Ok(1_000_000_000_000));
        assert_eq!(super::parse_size("1tib"), Ok(1 << 40));
        assert_eq!(super::parse_size("64kB"), Ok(64_000));
        assert_eq!(super::parse_size("0.5KiB"), Ok(512));
        assert_eq!(
            super::parse_size("5M"),
            Err("\"5M\": M is ambiguous: say MiB (1024-based) or MB (1000-based)".into())
        );
        assert!(super::parse_size("0.3KiB").is_err());
        assert!(super::parse_size("1.2.3MB").is_err());
        assert!(super::parse_size("99999999999999999999TiB").is_err());
        assert!(super::parse_size("x").is_err());
        assert!(super::parse_size("").is_err());
        assert!(super::parse_size(".").is_err());
    }
}
