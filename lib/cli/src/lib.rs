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
            reshifter_format::report::stderr_line(format_args!("{tool}: {}", error_text(&e)));
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
                    reshifter_format::report::stderr_line(format_args!(
                        "{name}: --generate-completions needs a shell: bash, zsh, fish, elvish or powershell"
                    ));
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

/// Sizes and durations as every tool spells them (kept with the stream crate, which the
/// libraries share; here for the tools).
pub use reshifter_format::units::{SIZE_UNITS, parse_duration, parse_size};
