//! Proving that a resumed watch continues the history its segments hold.
//!
//! Segments name their cluster, and end with an anchor: a key as etcd answered it at a
//! revision (the last put written, or the first key of the range at the watch's start). Before
//! a watch continues after a segment, the etcd it talks to must be the same cluster and must
//! answer the anchor's read the same way. An etcd rebuilt with the same name, peer URL and
//! token has the same cluster id, but another history: its answer differs (or the revision does
//! not exist yet), and the watch refuses (exit 7) instead of writing deltas that apply to a
//! keyspace that never existed.

use etcd_client::{Client, GetOptions};

use crate::{self as etcd, EtcdArgs, id_hex};
use reshifter_format::error::{Error, Kind, Result};
use reshifter_format::{Anchor, Record};

/// Refuse to continue `resumed` on an etcd whose cluster id is `cluster_id`, unless the anchor
/// reads back the same. `None`: nothing to check against (a watch over an empty range with no
/// put yet).
pub async fn check(
    client: &Client,
    args: &EtcdArgs,
    cluster_id: u64,
    segments_cluster: Option<&str>,
    anchor: Option<&Anchor>,
    source: &str,
) -> Result<()> {
    let here = id_hex(cluster_id);
    if let Some(theirs) = segments_cluster
        && !theirs.eq_ignore_ascii_case(&here)
    {
        return Err(Error::new(
            Kind::Usage,
            format!(
                "the segments in {source} watch cluster {theirs}, but {} is cluster {here}: point --endpoints at \
                 the cluster they watched, or start a new chain (a new full dump, --from-rev its revision) elsewhere",
                args.endpoint_list()
            ),
        ));
    }
    let Some(a) = anchor else { return Ok(()) };
    let key =
        a.key().ok_or_else(|| Error::new(Kind::BadInput, format!("{source}: the trailer's anchor is not base64")))?;
    let rebuilt = |what: String| {
        Error::new(
            Kind::Compacted,
            format!(
                "{} is not the history the segments in {source} continue ({what}): was etcd rebuilt or restored? \
                 take a new full dump and watch from its revision, into a new directory",
                args.endpoint_list()
            ),
        )
    };
    let mut c = client.clone();
    let read = c.get(key.clone(), Some(GetOptions::new().with_revision(a.revision))).await;
    let found = match read {
        Ok(r) => r.kvs().first().map(|kv| Record {
            key: kv.key().to_vec(),
            value: kv.value().to_vec(),
            mod_revision: kv.mod_revision(),
            ..Record::default()
        }),
        Err(e) if etcd::etcd_error(&e) == Some(etcd::EtcdErr::Compacted) => {
            // History before the compaction is gone; the key unchanged since still proves it.
            let now = c.get(key.clone(), None).await.map_err(|e| args.error("cannot read the resume anchor", e))?;
            let kv = now.kvs().first();
            return match kv {
                Some(kv) if a.matches(kv.mod_revision(), kv.value()) => Ok(()),
                _ => Err(Error::new(
                    Kind::Compacted,
                    format!(
                        "cannot prove that {} continues the segments in {source}: revision {} is compacted and the \
                         anchor key changed since; take a new full dump and watch from its revision",
                        args.endpoint_list(),
                        a.revision
                    ),
                )),
            };
        }
        Err(e) if etcd::etcd_error(&e) == Some(etcd::EtcdErr::FutureRev) => {
            return Err(rebuilt(format!("its revision has not reached {} yet", a.revision)));
        }
        Err(e) => return Err(args.error("cannot read the resume anchor", e)),
    };
    match found {
        Some(r) if a.matches(r.mod_revision, &r.value) => Ok(()),
        Some(r) => Err(rebuilt(format!(
            "its key {} at revision {} was written at revision {}, not {}, or holds another value",
            reshifter_format::show_key(&key),
            a.revision,
            r.mod_revision,
            a.mod_revision
        ))),
        None => Err(rebuilt(format!("it has no key {} at revision {}", reshifter_format::show_key(&key), a.revision))),
    }
}

/// The anchor of a new watch: the first key of `range` at `revision`.
pub async fn first_anchor(
    client: &Client,
    args: &EtcdArgs,
    range: &(Vec<u8>, Vec<u8>),
    revision: i64,
) -> Result<Option<Anchor>> {
    let mut c = client.clone();
    let opts = GetOptions::new().with_range(range.1.clone()).with_revision(revision).with_limit(1);
    let r = match c.get(range.0.clone(), Some(opts)).await {
        Ok(r) => r,
        // The watch itself says so, and what to do.
        Err(e) if etcd::etcd_error(&e) == Some(etcd::EtcdErr::Compacted) => return Ok(None),
        Err(e) => return Err(args.error("cannot read the watch's first key", e)),
    };
    Ok(r.kvs().first().map(|kv| {
        let rec = Record {
            key: kv.key().to_vec(),
            value: kv.value().to_vec(),
            mod_revision: kv.mod_revision(),
            ..Record::default()
        };
        Anchor::of(&rec, revision)
    }))
}
