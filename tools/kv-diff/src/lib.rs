//! kv-diff: what differs between two keyspaces (streams or archives).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use reshifter_archive::crypt::KeyArgs;
use reshifter_archive::unpack::{Items, open_any};
use reshifter_cli as cli;
use reshifter_kv::diff::{self, DiffOptions};

const EXAMPLES: &str = "\
Examples:
  kv-diff yesterday.zip today.zip                        # one NDJSON line per added, removed, changed key
  etcd-dump | kv-diff backup.zip -                       # drift of the live cluster from a backup
  kv-diff --stat a.ndjson b.ndjson                       # counts per resource
  kv-diff a.zip b.zip | jq -r 'select(.change == \"removed\") | .key'
  kv-diff -q a.zip b.zip && echo same
  kv-diff --node-files monday.zip today.zip              # the node's files two backups carry
  node-dump | kv-diff cp1-files.ndjson -                 # drift of a node from its captured files

Keys and values are compared (as the trailer's sha256 is); --meta compares revisions, versions
and leases too. A line: {\"change\":\"changed\",\"key\":...,\"a\":{revisions, size, sha256},
\"b\":{...}}; --values adds the values. Exit status as diff(1): 0 when the inputs are equal, 1
when they differ, 2 and more on trouble (bad arguments 2, malformed input 3, truncated 4,
digest mismatch 5; any other error 10). Both inputs are verified to their end.

Files streams (node-dump) compare by path: kind, content or link target, mode and owner;
--meta adds modification times and owner names. A line: {\"change\":...,\"path\":...,\"a\":{kind,
mode, uid, gid, mtime, size, sha256 or target},\"b\":{...}}; contents only with --values.";

/// Compare two keyspaces: the keys added, removed and changed from A to B.
#[derive(Parser, Debug)]
#[command(name = "kv-diff", version, after_help = EXAMPLES)]
struct Args {
    /// The first stream or archive ("-": stdin)
    #[arg(value_name = "A")]
    a: PathBuf,

    /// The second stream or archive ("-": stdin)
    #[arg(value_name = "B")]
    b: PathBuf,

    #[command(flatten)]
    opts: DiffOptions,

    /// age identity (private key) file for encrypted archives (or set RESHIFTER_IDENTITY_FILE)
    #[arg(long, value_name = "FILE", help_heading = "Decryption (age)")]
    identity_file: Vec<PathBuf>,

    /// Passphrase of encrypted archives, in FILE (or set RESHIFTER_PASSPHRASE)
    #[arg(long, value_name = "FILE", help_heading = "Decryption (age)")]
    passphrase_file: Option<PathBuf>,
}

/// The tool's `main`, given its command line (argument 0 is the tool's name).
pub fn main(args: Vec<std::ffi::OsString>) -> ExitCode {
    cli::main_status(
        "kv-diff",
        args,
        |a: Args| {
            if a.a.as_os_str() == "-" && a.b.as_os_str() == "-" {
                return Err(reshifter_format::Error::new(
                    reshifter_format::Kind::Usage,
                    "A and B cannot both be stdin (-)",
                ));
            }
            let keys = KeyArgs {
                identity_files: a.identity_file.clone(),
                passphrase_file: a.passphrase_file.clone(),
                ..Default::default()
            };
            let node = a.opts.node_files;
            let counts = match (open_any(Some(&a.a), keys.clone(), node)?, open_any(Some(&a.b), keys, node)?) {
                (Items::Records(l), Items::Records(r)) => diff::run(a.opts, l, r)?,
                (Items::Files(l), Items::Files(r)) => diff::run_files(a.opts, l, r)?,
                _ => {
                    return Err(reshifter_format::Error::new(
                        reshifter_format::Kind::Usage,
                        "A and B are not of one kind: one is a keyspace, the other a node's files (node-dump)",
                    ));
                }
            };
            Ok::<u8, reshifter_format::Error>(u8::from(counts.differ()))
        },
        |code| if code == 1 { 10 } else { code },
    )
}
