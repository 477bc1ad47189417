//! Archives written by other tools (ReShifter's layout), read with random access.

use std::fs::File;
use std::io::BufReader;

use sha2::{Digest, Sha256};

use crate::path::reshifter_key;
use crate::{HEADER_ENTRY, MANIFEST_ENTRY};
use reshifter_format::error::{Error, Kind, Result};
use reshifter_format::io::Output;
use reshifter_format::pipeline::Run;
use reshifter_format::{Header, MAX_VALUE, Record, show_key};

use super::entry::{entry_error, read_entry_data};
use super::options::UnpackOptions;
use super::target::{Target, progress_line};

/// Most entries a foreign archive may hold (they are sorted in memory).
pub(super) const MAX_FOREIGN_ENTRIES: usize = 5_000_000;

/// The latest time a ReShifter backup id (Unix seconds) can name: 9999-12-31T23:59:59Z.
pub(super) const MAX_BACKUP_ID: u64 = 253_402_300_799;

/// An archive in ReShifter's layout: `<backup id>/<key path>/content`, no metadata. It claims no
/// coverage: it may hold part of a keyspace.
pub(super) fn foreign(file: File, o: &UnpackOptions, run: &mut Run, into: Option<Output>) -> Result<Target> {
    let mut za = zip::ZipArchive::new(BufReader::new(file))
        .map_err(|e| Error::new(Kind::BadInput, format!("not a readable ZIP archive: {e}")))?;
    if za.has_duplicate_names() {
        // A ZIP reader's index keeps one of them (the last): two values for one key.
        return Err(Error::new(
            Kind::BadInput,
            "the archive's central directory names an entry twice: two values for one key, and nothing says \
             which is right",
        ));
    }
    let (entries, backup_ids) = foreign_entries(&mut za)?;
    let h = foreign_header(backup_ids);
    let header_line = serde_json::to_vec(&h).map_err(std::io::Error::other)?;
    let mut target = Target::new(o, &header_line, &h, into)?;
    for (key, i, name) in entries {
        let mut f = za.by_index(i).map_err(|e| entry_error(&name, e))?;
        let size = f.size();
        let value = read_entry_data(&mut f, &name, size, MAX_VALUE)?;
        let sha: [u8; 32] = Sha256::digest(&value).into();
        let r = Record { key, value, create_revision: 0, mod_revision: 0, version: 0, lease: 0 };
        target.put(&r, &name, &sha)?;
        run.record(r.value.len() as u64, progress_line);
    }
    Ok(target)
}

/// A foreign archive's entries as (key, index, name), sorted by key, and its backup ids; unsafe
/// paths, our own entries out of place, unknown layouts and duplicate keys refused.
#[allow(clippy::type_complexity)]
pub(super) fn foreign_entries(
    za: &mut zip::ZipArchive<BufReader<File>>,
) -> Result<(Vec<(Vec<u8>, usize, String)>, std::collections::BTreeSet<String>)> {
    if za.len() > MAX_FOREIGN_ENTRIES {
        return Err(Error::new(
            Kind::BadInput,
            format!("the archive holds {} entries, more than the {MAX_FOREIGN_ENTRIES} allowed", za.len()),
        ));
    }
    let mut entries: Vec<(Vec<u8>, usize, String)> = Vec::with_capacity(za.len());
    let mut backup_ids = std::collections::BTreeSet::new();
    for i in 0..za.len() {
        let f = za.by_index_raw(i).map_err(|e| Error::new(Kind::BadInput, format!("entry #{i}: {e}")))?;
        if f.is_dir() {
            continue;
        }
        let name = String::from_utf8_lossy(f.name_raw()).into_owned();
        let key = foreign_key(&name)?;
        backup_ids.insert(name.split('/').next().unwrap_or("").to_string());
        entries.push((key, i, name));
    }
    entries.sort();
    if let Some(w) = entries.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(Error::new(
            Kind::BadInput,
            format!("entries {} and {} hold the same key {}", w[0].2, w[1].2, show_key(&w[0].0)),
        ));
    }
    Ok((entries, backup_ids))
}

/// The key of a foreign archive's entry.
pub(super) fn foreign_key(name: &str) -> Result<Vec<u8>> {
    if name == HEADER_ENTRY || name == MANIFEST_ENTRY {
        return Err(Error::new(
            Kind::BadInput,
            format!(
                "this reshifter archive was rewritten by another tool ({HEADER_ENTRY} is not its first entry): pack it again"
            ),
        ));
    }
    if name.starts_with('/') || name.split(['/', '\\']).any(|seg| seg == "..") {
        return Err(Error::new(
            Kind::BadInput,
            format!("entry {name:?} has an unsafe path (absolute or with ..): refusing the archive"),
        ));
    }
    reshifter_key(name).ok_or_else(|| {
        Error::new(
            Kind::BadInput,
            format!("entry {name} is in neither reshifter's layout nor ReShifter's (<backup id>/<key path>/content)"),
        )
    })
}

/// The header of a foreign archive's stream: every key starts with "/", nothing says the archive
/// holds all of them; ReShifter's backup ids are the Unix time of the backup.
pub(super) fn foreign_header(backup_ids: std::collections::BTreeSet<String>) -> Header {
    let mut h = Header::new(&format!("archive-unpack {}", env!("CARGO_PKG_VERSION")));
    h.prefixes = vec!["/".into()];
    h.complete = false;
    if let Some(secs) = backup_ids.iter().next().and_then(|id| id.parse::<u64>().ok()).filter(|s| *s <= MAX_BACKUP_ID) {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
        h.time = humantime::format_rfc3339_seconds(t).to_string();
    }
    h.extra.insert(
        "source_archive".into(),
        serde_json::json!({"layout": "reshifter", "backup_ids": backup_ids.into_iter().collect::<Vec<_>>()}),
    );
    h
}
