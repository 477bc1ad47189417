//! The EncryptionConfiguration a files stream captured: the file the API server's
//! `--encryption-provider-config` names (kubeadm's static pod, rke2's), or else the one file
//! whose `kind` is EncryptionConfiguration (k3s keeps it in `server/cred`). With it, the Secrets
//! of the etcd backup taken beside the node's files can be proved readable.

use std::path::Path;

use reshifter_format::error::Result;
use reshifter_format::files::{FileKind, FilesReader};
use reshifter_format::io::open_input;

/// A configuration captured in a files stream: its path there, and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Captured {
    pub path: String,
    pub content: Vec<u8>,
}

/// The largest file read as a configuration.
const MAX_CONFIG: usize = 1 << 20;

fn yaml(content: &[u8]) -> Option<serde_yaml_ng::Value> {
    (content.len() <= MAX_CONFIG).then(|| serde_yaml_ng::from_slice(content).ok()).flatten()
}

/// The EncryptionConfiguration of the files stream at `stream`, if it holds one.
pub fn encryption_config(stream: &Path) -> Result<Option<Captured>> {
    let mut r = FilesReader::new(open_input(Some(stream))?)?;
    let (mut named, mut found): (Vec<String>, Vec<Captured>) = (Vec::new(), Vec::new());
    while let Some(e) = r.next_entry()? {
        if e.kind != FileKind::File || e.content.len() > MAX_CONFIG {
            continue;
        }
        let text = &e.content;
        let mentions = |s: &[u8]| text.windows(s.len()).any(|w| w == s);
        if mentions(b"EncryptionConfiguration")
            && let Some(doc) = yaml(text)
            && doc["kind"].as_str() == Some("EncryptionConfiguration")
        {
            found.push(Captured { path: String::from_utf8_lossy(&e.path).into_owned(), content: e.content.clone() });
        } else if mentions(b"--encryption-provider-config")
            && let Some(doc) = yaml(text)
        {
            let mut args = Vec::new();
            crate::dump::named_in_flags(
                &crate::dump::pod_args(&doc)
                    .into_iter()
                    .filter(|a| a.starts_with("--encryption-provider-config"))
                    .collect::<Vec<_>>(),
                &mut args,
            );
            named.extend(args.into_iter().map(|p| p.trim_start_matches('/').to_string()));
        }
    }
    let pick = found.iter().position(|c| named.contains(&c.path)).unwrap_or(0);
    Ok((!found.is_empty()).then(|| found.swap_remove(pick)))
}
