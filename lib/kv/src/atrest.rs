//! Encryption at rest as the stream tools meet it: the EncryptionConfiguration read as a usage
//! error, and the error of a value that does not open (its key and why, never its content).

use std::path::Path;

use reshifter_format::error::{Error, Kind, Result};
use reshifter_format::show_key;
use reshifter_k8s::atrest::{AtRest, AtRestError};

/// Read an EncryptionConfiguration, as a stream tool's usage error.
pub fn load_config(path: &Path) -> Result<AtRest> {
    AtRest::load(path).map_err(|e| Error::new(Kind::Usage, e.to_string()))
}

/// The error for a value that cannot be opened: which key, and why (never the value).
pub fn open_error(key: &[u8], e: AtRestError) -> Error {
    let kind = match e {
        AtRestError::Damaged { .. } => Kind::Integrity,
        _ => Kind::Usage,
    };
    Error::new(kind, format!("key {}: {e}", show_key(key)))
}
