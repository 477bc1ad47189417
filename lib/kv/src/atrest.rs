//! Encryption at rest as the stream tools meet it: the EncryptionConfiguration read as a usage
//! error, and the error of a value that does not open (its key and why, never its content).

use std::path::Path;

use reshifter_format::error::{Error, Kind, Result};
use reshifter_format::show_key;
use reshifter_k8s::atrest::{AtRest, AtRestError};
use reshifter_k8s::{EtcdPrefix, Roots};

/// Read an EncryptionConfiguration, as a stream tool's usage error, for an API server whose keys
/// are under `roots`.
pub fn load_config(path: &Path, roots: &Roots) -> Result<AtRest> {
    AtRest::load(path).map(|c| c.under(roots.clone())).map_err(|e| Error::new(Kind::Usage, e.to_string()))
}

/// How the API server that wrote a stream stores its keys and values: under its
/// `--etcd-prefix` (or the default roots), encrypted by its EncryptionConfiguration.
#[derive(Debug, Default)]
pub struct ApiServer {
    pub roots: Roots,
    pub at_rest: Option<AtRest>,
}

impl ApiServer {
    /// The API server a tool's `--etcd-prefix` and `--encryption-config` describe.
    pub fn load(encryption_config: Option<&Path>, prefix: &EtcdPrefix) -> Result<ApiServer> {
        let roots = prefix.roots();
        let at_rest = encryption_config.map(|p| load_config(p, &roots)).transpose()?;
        Ok(ApiServer { roots, at_rest })
    }

    /// Its EncryptionConfiguration, when one was given.
    pub fn at_rest(&self) -> Option<&AtRest> {
        self.at_rest.as_ref()
    }
}

/// The error for a value that cannot be opened: which key, and why (never the value).
pub fn open_error(key: &[u8], e: AtRestError) -> Error {
    let kind = match e {
        AtRestError::Damaged { .. } => Kind::Integrity,
        _ => Kind::Usage,
    };
    Error::new(kind, format!("key {}: {e}", show_key(key)))
}
