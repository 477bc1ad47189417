//! etcd-dump --api v2: a v2 keyspace as a stream, read at one etcd index.
//!
//! Each prefix (a directory) is read with one recursive GET, which etcd answers from one state
//! of its store, at the index it reports (X-Etcd-Index). With several prefixes the GETs must
//! all report the same index — nothing was written in between — or the whole read is done
//! again (up to [`ATTEMPTS`] times, then refused): the stream is always one point in time.
//! Nodes are parsed as they arrive and sorted by key on disk (v2's own order, depth first, is
//! not byte order), so memory stays bounded whatever the size of the tree.

use std::collections::BTreeMap;

use super::{Node, V2};
use crate::dump::options::DumpOptions;
use reshifter_format::error::{Error, Kind, Result};
use reshifter_format::io::Output;
use reshifter_format::pipeline::Run;
use reshifter_format::report::{human_bytes, secs};
use reshifter_format::sort::{DEFAULT_BUDGET, Sorter};
use reshifter_format::{Api, Header, Lease, Record, StreamWriter, encode_record, parse_record};

/// How many times a read of several prefixes is made again when the keyspace changed under it.
pub const ATTEMPTS: usize = 5;

/// The directories to read: `/` for the whole keyspace, else each prefix without its trailing
/// `/`. A v2 prefix names a directory.
pub fn dirs(prefixes: &[String]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for p in prefixes {
        let d = p.trim_end_matches('/');
        if d.is_empty() {
            return Ok(vec!["/".into()]);
        }
        if !d.starts_with('/') {
            return Err(Error::new(Kind::Usage, format!("--prefix {p}: v2 keys are paths that start with /")));
        }
        out.push(d.to_string());
    }
    if out.is_empty() {
        out.push("/".into());
    }
    out.sort();
    out.dedup();
    // A directory inside another is read with it.
    let mut kept: Vec<String> = Vec::new();
    for d in out {
        if !kept.iter().any(|k| d.starts_with(&format!("{k}/"))) {
            kept.push(d);
        }
    }
    Ok(kept)
}

/// The stream prefixes of these directories: `/` (every v2 key), or each directory with `/`.
pub fn stream_prefixes(dirs: &[String]) -> Vec<String> {
    dirs.iter().map(|d| if d == "/" { "/".to_string() } else { format!("{d}/") }).collect()
}

/// What one read of every prefix gave.
struct Read {
    sorter: Sorter,
    index: i64,
    cluster_id: Option<String>,
    leases: BTreeMap<i64, Lease>,
    nodes: u64,
}

/// Read every directory (and each hidden node named) once; `Ok(None)` when the GETs reported
/// different indexes.
fn read_once(v2: &V2, dirs: &[String], hidden: &[String]) -> Result<Option<Read>> {
    let mut r =
        Read { sorter: Sorter::new(DEFAULT_BUDGET), index: 0, cluster_id: None, leases: BTreeMap::new(), nodes: 0 };
    let mut indexes: Vec<i64> = Vec::new();
    let paths = dirs.iter().map(|d| (d, false)).chain(hidden.iter().map(|h| (h, true)));
    for (dir, is_hidden) in paths {
        let mut visit = |n: Node| -> Result<()> {
            // The root itself is not a node of the keyspace.
            if n.key.is_empty() || n.key == "/" {
                return Ok(());
            }
            if !n.dir && &n.key == dir && !is_hidden {
                return Err(Error::new(Kind::Usage, format!("--prefix {dir} names a key, not a directory")));
            }
            let (rec, lease) = n.record();
            if let Some(l) = lease {
                r.leases.entry(rec.lease).or_insert(l);
            }
            let mut line = Vec::with_capacity(rec.key.len() + rec.value.len() + 100);
            encode_record(&mut line, &rec);
            r.sorter.push(rec.key, line)?;
            r.nodes += 1;
            Ok(())
        };
        match v2.walk(dir, &mut visit)? {
            Some((index, cluster)) => {
                indexes.push(index);
                r.cluster_id = r.cluster_id.or(cluster);
            }
            // An absent directory holds nothing; its index is asked for with the next read.
            None => indexes.push(-1),
        }
    }
    let known: Vec<i64> = indexes.iter().copied().filter(|i| *i >= 0).collect();
    if known.windows(2).any(|w| w[0] != w[1]) {
        return Ok(None);
    }
    r.index = known.first().copied().unwrap_or(0);
    Ok(Some(r))
}

/// Run `etcd-dump --api v2`.
pub fn run(opts: &DumpOptions, mut run: Run, out: Output) -> Result<()> {
    if opts.revision.is_some() {
        return Err(Error::new(Kind::Usage, "--rev is for the v3 API: etcd's v2 API cannot read the past"));
    }
    let v2 = V2::connect(&opts.etcd)?;
    let (server, _) = v2.version()?;
    let dirs = dirs(&opts.prefixes)?;
    let hidden = hidden_paths(&opts.v2_hidden, &dirs)?;
    let mut read = None;
    let mut seen: Vec<i64> = Vec::new();
    for _ in 0..ATTEMPTS {
        match read_once(&v2, &dirs, &hidden)? {
            Some(r) => {
                read = Some(r);
                break;
            }
            None => seen.push(0),
        }
    }
    let Some(read) = read else {
        return Err(Error::new(
            Kind::Unavailable,
            format!(
                "the v2 keyspace changed while its {} prefixes were read, {ATTEMPTS} times in a row: no consistent \
                 dump; dump them one at a time (each is read at one index), or when writes are fewer",
                dirs.len()
            ),
        ));
    };
    let mut h = Header::new(&format!("etcd-dump {}", env!("CARGO_PKG_VERSION")));
    h.api = Api::V2;
    h.endpoints = opts.etcd.endpoints.iter().map(|e| reshifter_format::redact::urls(e).into_owned()).collect();
    h.cluster_id = read.cluster_id.clone().filter(|c| reshifter_format::parse_lease(c).is_some());
    h.etcd_version = Some(server);
    h.revision = read.index;
    h.prefixes = stream_prefixes(&dirs);
    // Every node listed under the directories at that index — but etcd's v2 API never lists
    // hidden nodes (names starting with _), and nothing tells whether there are any: the dump
    // does not claim to hold every key (etcd-load --mode sync asks for --assume-complete).
    h.complete = false;
    h.leases = read.leases.into_values().collect();
    let mut w = StreamWriter::new(out, &h)?;
    for item in read.sorter.finish()? {
        let (_, line) = item?;
        let rec: Record = parse_record(reshifter_format::trim_newline(&line))
            .map_err(|e| Error::new(Kind::Failure, format!("a sorted node is damaged (temporary file): {e}")))?;
        w.write(&rec)?;
        run.record((rec.key.len() + rec.value.len()) as u64, |t| format!("{} nodes", t.keys));
    }
    let index = h.revision;
    let named = if hidden.is_empty() { String::new() } else { format!(", {} hidden paths named", hidden.len()) };
    run.end(w, |t, r| {
        format!(
            "{} nodes (v2{named}), {} at index {index} in {}; not claimed complete: etcd's v2 API hides nodes whose \
             names start with _ (name them with --v2-hidden)",
            t.count,
            human_bytes(t.bytes),
            secs(r.elapsed)
        )
    })?;
    Ok(())
}

/// The hidden paths named: each under one of the directories read, with a component that
/// starts with `_` (others are listed anyway).
fn hidden_paths(named: &[String], dirs: &[String]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for h in named {
        let p = h.trim_end_matches('/');
        let inside = dirs.iter().any(|d| d == "/" || p.starts_with(&format!("{d}/")));
        if !p.starts_with('/') || !inside {
            return Err(Error::new(Kind::Usage, format!("--v2-hidden {h}: not a path under the prefixes dumped")));
        }
        if !p.split('/').any(|c| c.starts_with('_')) {
            return Err(Error::new(
                Kind::Usage,
                format!("--v2-hidden {h}: no part of it starts with _, so it is not hidden (it is dumped anyway)"),
            ));
        }
        out.push(p.to_string());
    }
    out.sort();
    out.dedup();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_directories() {
        let v = |x: &[&str]| x.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(dirs(&v(&[])).unwrap(), v(&["/"]));
        assert_eq!(dirs(&v(&["/a/", "/a/b", "/c"])).unwrap(), v(&["/a", "/c"]));
        assert_eq!(dirs(&v(&["/a", ""])).unwrap(), v(&["/"]));
        assert!(dirs(&v(&["a"])).is_err());
        assert_eq!(stream_prefixes(&v(&["/a", "/c"])), v(&["/a/", "/c/"]));
        assert_eq!(stream_prefixes(&v(&["/"])), v(&["/"]));
    }
}
