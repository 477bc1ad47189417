//! archive-pack: a reshifter stream in, a ZIP archive out.

use std::process::ExitCode;

use clap::Parser;
use reshifter_archive::pack::{self, PackOptions};
use reshifter_cli as cli;

const EXAMPLES: &str = "\
Examples:
  etcd-dump | archive-pack > backup.zip
  etcd-dump | archive-pack -o backup.zip            # 0600, renamed into place when complete
  unzip -l backup.zip                                # one entry per key: kv/<key path>/content
  etcd-dump | archive-pack --compression zstd --level 3 -o backup.zip
  etcd-dump | archive-pack --recipient age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p -o backup.zip.age
  RESHIFTER_PASSPHRASE=... etcd-dump | archive-pack --encrypt -o backup.zip.age
  archive-unpack backup.zip | archive-pack --layout reshifter -o for-reshifter.zip

A stream that ends without its trailer is a truncated backup: archive-pack exits non-zero,
writes no manifest and no central directory (unzip -t fails), and renames no file.
Encryption is age (https://age-encryption.org): open by hand with
  age -d -i key.txt backup.zip.age > backup.zip     (or: age -d backup.zip.age, for a passphrase)";

/// Pack a reshifter stream into a ZIP archive, one entry per key, with a manifest.
#[derive(Parser, Debug)]
#[command(name = "archive-pack", version, after_help = EXAMPLES)]
struct Args {
    #[command(flatten)]
    opts: PackOptions,
}

/// The tool's `main`, given its command line (argument 0 is the tool's name).
pub fn main(args: Vec<std::ffi::OsString>) -> ExitCode {
    cli::main("archive-pack", args, |a: Args| pack::pack(a.opts))
}
