//! archive-pack: a reshifter stream in, a ZIP archive out.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use reshifter::archive::crypt::KeyArgs;
use reshifter::archive::pack::{self, Compression, Layout, PackOptions};
use reshifter::cli;

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

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Method {
    /// Deflate: any unzip opens it
    Deflate,
    /// Zstandard (ZIP method 93): faster and smaller, needs a recent unzip/7z
    Zstd,
    /// No compression
    Store,
}

/// Pack a reshifter stream into a ZIP archive, one entry per key, with a manifest.
#[derive(Parser, Debug)]
#[command(name = "archive-pack", version, after_help = EXAMPLES)]
struct Args {
    /// Stream to read (default: stdin)
    #[arg(value_name = "INPUT")]
    input: Option<PathBuf>,

    /// Write to FILE (mode 0600, renamed into place when complete) instead of stdout
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,

    /// Compression of each entry
    #[arg(long, value_enum, default_value = "deflate")]
    compression: Method,

    /// Compression level (deflate 0-9, default 1; zstd 1-22, default 3)
    #[arg(long, value_name = "N")]
    level: Option<i32>,

    /// Entry layout: native (with metadata and manifest: restores exactly) or reshifter (the
    /// layout of ReShifter, the Go tool: keys and values only)
    #[arg(long, value_enum, default_value = "native")]
    layout: Layout,

    /// Compression threads (default: the number of cores)
    #[arg(long, value_name = "N")]
    threads: Option<usize>,

    #[command(flatten)]
    crypt: CryptArgs,

    /// No summary on stderr
    #[arg(short, long)]
    quiet: bool,
}

#[derive(clap::Args, Debug)]
#[command(next_help_heading = "Encryption (age)")]
struct CryptArgs {
    /// Encrypt with the passphrase in RESHIFTER_PASSPHRASE
    #[arg(long)]
    encrypt: bool,

    /// Encrypt with the passphrase in FILE (first line)
    #[arg(long, value_name = "FILE")]
    passphrase_file: Option<PathBuf>,

    /// Encrypt to this age public key (repeatable)
    #[arg(long, value_name = "AGE1...")]
    recipient: Vec<String>,

    /// Encrypt to the age public keys in FILE (repeatable)
    #[arg(long, value_name = "FILE")]
    recipients_file: Vec<PathBuf>,
}

/// The tool's `main`, given its command line (argument 0 is the tool's name).
pub fn main(args: Vec<std::ffi::OsString>) -> ExitCode {
    cli::main("archive-pack", args, |a: Args| {
        let compression = match a.compression {
            Method::Deflate => Compression::Deflate(a.level.unwrap_or(1).clamp(0, 9) as u32),
            Method::Zstd => Compression::Zstd(a.level.unwrap_or(3)),
            Method::Store => Compression::Store,
        };
        let keys = KeyArgs {
            passphrase_file: a.crypt.passphrase_file,
            recipients: a.crypt.recipient,
            recipients_files: a.crypt.recipients_file,
            identity_files: Vec::new(),
            passphrase_env: a.crypt.encrypt,
        };
        let threads = a.threads.unwrap_or_else(reshifter::par::cores);
        pack::pack(PackOptions {
            input: a.input,
            output: a.output,
            compression,
            layout: a.layout,
            keys,
            threads,
            quiet: a.quiet,
        })
    })
}
