//! A backup's second half: the files of the control-plane node rcli or the server runs on
//! (`--node-root`), carried in the same archive as the keyspace (archive-pack --node-files), and
//! the check that the two belong together — the EncryptionConfiguration captured with the node
//! opens every value of the keyspace encrypted at rest.

use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};

use reshifter_format::error::{Error, Kind, Result};
use reshifter_format::report::Reporter;
use reshifter_kv::stats::{KeyspaceReport, StatsOptions};

use super::Temp;

/// The node's files of one backup, spooled, and the encryption config they hold.
pub(crate) struct Capture {
    pub(crate) stream: Temp,
    pub(crate) config: Option<(Temp, String)>,
}

/// Dump the control-plane files under `root` into a spool in `dir` (layouts found by looking),
/// and write the EncryptionConfiguration among them, if any, beside it (mode 0600).
pub(crate) fn capture(root: &Path, dir: &Path, report: &Reporter) -> Result<Capture> {
    let stream = Temp::new(dir, "node.ndjson")?;
    let o = reshifter_node::DumpOptions {
        root: root.to_path_buf(),
        output: Some(stream.path.clone()),
        quiet: true,
        report: report.clone(),
        ..Default::default()
    };
    reshifter_node::dump(o)
        .map_err(|e| Error::new(e.kind(), format!("--node-root {}: {}", root.display(), e.message())))?;
    let config = match reshifter_node::capture::encryption_config(&stream.path)? {
        Some(c) => {
            let t = Temp::new(dir, "encryption-config.yaml")?;
            std::fs::write(&t.path, &c.content)?;
            Some((t, c.path))
        }
        None => None,
    };
    Ok(Capture { stream, config })
}

/// A reader that hands a copy of what it reads to a checker (a pipe), until the checker stops
/// taking it (its own error then says why).
struct Tee<R: Read> {
    input: R,
    copy: Option<std::io::PipeWriter>,
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.input.read(buf)?;
        if let Some(c) = self.copy.as_mut()
            && (n == 0 || c.write_all(&buf[..n]).is_err())
        {
            self.copy = None;
        }
        Ok(n)
    }
}

/// The check running beside a backup's pipeline.
pub(crate) type Check = std::thread::JoinHandle<Result<KeyspaceReport>>;

/// `input`, read on by the archiver, is also read by a thread that opens every value encrypted
/// at rest with `config` (the captured EncryptionConfiguration).
pub(crate) fn checked(
    input: Box<dyn BufRead + Send>,
    config: PathBuf,
    etcd_prefix: reshifter_k8s::EtcdPrefix,
) -> Result<(Box<dyn BufRead + Send>, Check)> {
    let (rc, wc) = std::io::pipe()?;
    let o = StatsOptions { encryption_config: Some(config), etcd_prefix, ..StatsOptions::new(PathBuf::new()) };
    let job = std::thread::spawn(move || {
        reshifter_kv::stats::collect_from(&o, Box::new(std::io::BufReader::with_capacity(1 << 20, rc)))
    });
    let tee = Tee { input, copy: Some(wc) };
    Ok((Box::new(std::io::BufReader::with_capacity(1 << 20, tee)), job))
}

/// What the check found: an error naming the backup when a value does not open.
pub(crate) fn judge(check: Check, id: u64, config_path: &str) -> Result<()> {
    let report =
        check.join().unwrap_or_else(|_| Err(Error::new(Kind::Failure, "the encryption check of the backup failed")))?;
    match report.first_failure {
        None => Ok(()),
        Some(first) => {
            let n = report.encodings.undecryptable_keys();
            Err(Error::new(
                Kind::Integrity,
                format!(
                    "backup {id} is stored, but the EncryptionConfiguration captured with the node ({config_path}) does \
                     not open {n} encrypted values of its keyspace (the first: {first}): the node's files and the etcd \
                     keyspace do not belong together"
                ),
            ))
        }
    }
}
