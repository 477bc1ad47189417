//! What archive-unpack is asked to do: its options, and what it produces.

use std::path::PathBuf;

use crate::crypt::KeyArgs;

/// What archive-unpack produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The stream.
    Stream,
    /// One NDJSON line per key: key, path, size, sha256, revisions, lease (no values).
    List,
    /// Nothing: check everything, report on stderr.
    Verify,
}

/// archive-unpack's command-line options.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct UnpackOptions {
    /// Where progress, warnings and the summary go (stderr, under the tool's name, unless the
    /// caller names itself or takes the lines).
    #[arg(skip)]
    pub report: reshifter_format::report::Reporter,

    /// Archive to read (default: stdin)
    #[arg(value_name = "INPUT")]
    pub input: Option<PathBuf>,

    /// Write to FILE (renamed into place when complete) instead of stdout
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// List keys, paths, sizes, checksums and revisions as NDJSON, without values
    #[arg(long, conflicts_with = "verify")]
    pub list: bool,

    /// Check everything and output nothing
    #[arg(long)]
    pub verify: bool,

    /// Only keys starting with PREFIX (repeatable); the whole archive is still verified
    #[arg(long = "prefix", value_name = "PREFIX")]
    pub prefixes: Vec<String>,

    /// Passphrase of an encrypted archive, in FILE (or set RESHIFTER_PASSPHRASE)
    #[arg(long, value_name = "FILE", help_heading = "Decryption (age)")]
    pub passphrase_file: Option<PathBuf>,

    /// age identity (private key) file for an encrypted archive (or set RESHIFTER_IDENTITY_FILE)
    #[arg(long, value_name = "FILE", help_heading = "Decryption (age)")]
    pub identity_file: Vec<PathBuf>,

    /// With --verify: the API server's EncryptionConfiguration; every value encrypted at rest is
    /// decrypted, the count per key is reported, and any that does not decrypt fails (exit 5)
    #[arg(long, value_name = "FILE", requires = "verify")]
    pub encryption_config: Option<PathBuf>,

    /// Write the node's files the archive carries (archive-pack --node-files) as a files stream
    /// for node-load, instead of the keyspace (which is verified all the same)
    #[arg(long, conflicts_with_all = ["list", "prefixes"])]
    pub node_files: bool,

    #[command(flatten)]
    pub etcd_prefix: reshifter_k8s::EtcdPrefix,

    /// No summary on stderr
    #[arg(short, long)]
    pub quiet: bool,
}

impl UnpackOptions {
    pub fn mode(&self) -> Mode {
        if self.list {
            Mode::List
        } else if self.verify {
            Mode::Verify
        } else {
            Mode::Stream
        }
    }

    pub fn keys(&self) -> KeyArgs {
        KeyArgs {
            passphrase_file: self.passphrase_file.clone(),
            identity_files: self.identity_file.clone(),
            ..Default::default()
        }
    }
}
