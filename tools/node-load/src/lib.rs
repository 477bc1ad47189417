//! node-load: a files stream written into a directory, planned and verified first.

use std::process::ExitCode;

use clap::Parser;
use reshifter_cli as cli;
use reshifter_node::load::{self, LoadOptions};

const EXAMPLES: &str = "\
Examples:
  archive-unpack -i key.txt node-cp1.zip.age | node-load --root / --plan
  archive-unpack -i key.txt node-cp1.zip.age | node-load --root /
  node-load --root /tmp/restored cp1.files.ndjson && diff -r /tmp/restored/etc/kubernetes /etc/kubernetes

The stream is read and verified whole before anything is written. Files whose content differs
from the stream's are not overwritten without --force; --plan prints one line per path:
  create|change|meta|same KIND PATH [what changes]
Files and links are written by temporary name and rename, directories get their modes last,
and nothing is written through a symlink. Owners are restored (by name where the target has
the name, else by number) when run as root.

Disaster recovery order: node-load the files first, then etcd-load the keyspace
(--bump-revision), then start the API servers.";

/// Write a files stream (node-dump) into a directory.
#[derive(Parser, Debug)]
#[command(name = "node-load", version, after_help = EXAMPLES)]
struct Args {
    #[command(flatten)]
    opts: LoadOptions,
}

/// The tool's `main`, given its command line (argument 0 is the tool's name).
pub fn main(args: Vec<std::ffi::OsString>) -> ExitCode {
    cli::main("node-load", args, |a: Args| {
        let mut out = reshifter_format::io::stdout();
        load::load(a.opts, &mut out).map(|_| ())
    })
}
