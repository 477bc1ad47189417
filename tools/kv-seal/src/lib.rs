//! kv-seal: recompute a stream's trailer after its records were edited (by jq).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use reshifter_cli as cli;

const EXAMPLES: &str = "\
Examples:
  etcd-dump | jq -c 'select(.type or (.key // \"\" | startswith(\"/registry/configmaps/\")))' | kv-seal | etcd-load
  jq -c 'if .key == \"/registry/x\" then .value = \"new\" else . end' b.ndjson | kv-seal > edited.ndjson

kv-seal refuses input whose original trailer line is missing: keep header and trailer in
your jq filter (select(.type or ...)), so that a producer that died mid-stream is still caught.";

/// Re-seal a reshifter stream edited by another tool: check the frame, recompute the trailer.
#[derive(Parser, Debug)]
#[command(name = "kv-seal", version, after_help = EXAMPLES)]
struct Args {
    /// Stream to read (default: stdin)
    #[arg(value_name = "INPUT")]
    input: Option<PathBuf>,

    /// Write to FILE (renamed into place when complete) instead of stdout
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,

    /// No summary on stderr
    #[arg(short, long)]
    quiet: bool,
}

/// The tool's `main`, given its command line (argument 0 is the tool's name).
pub fn main(args: Vec<std::ffi::OsString>) -> ExitCode {
    cli::main("kv-seal", args, |a: Args| reshifter_kv::filter::seal(a.input, a.output, a.quiet))
}
