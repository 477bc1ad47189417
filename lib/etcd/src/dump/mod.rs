//! etcd-dump: read a keyspace at one revision, page by page, and write it as a stream.
//!
//! The revision is fixed before the first page; every page of every prefix is read at it, so the
//! stream is one point in time. Pages are bounded by key count and by bytes (adapted to the sizes
//! seen), fetched ahead by one task while the caller's thread encodes and writes: memory holds a
//! few pages whatever the size of the keyspace.

use etcd_client::{Client, GetOptions, KeyValue};
use futures::StreamExt;
use tokio::sync::mpsc;

use crate::{self as etcd, EtcdArgs, MAX_DECODE_BYTES, id_hex, prefix_ranges};
use reshifter_format::error::{Error, Kind, Result};
use reshifter_format::io::Output;
use reshifter_format::pipeline::Run;
use reshifter_format::report::{human_bytes, secs};
use reshifter_format::{Header, Lease, StreamWriter, lease_hex};

pub(crate) mod options;
pub use options::*;

/// For `--api auto`: true when the endpoint should be read with the v2 API — it serves v2
/// keys under the prefixes and holds no v3 key there.
/// `--api auto`: v2 when the prefixes hold v2 nodes and no v3 keys; else v3, with the number of
/// v2 nodes that a v3 dump leaves out (an etcd holding both: said, never silently dropped).
fn prefers_v2(opts: &DumpOptions, rt: &tokio::runtime::Runtime) -> Result<(bool, u64)> {
    let v3_keys = rt.block_on(async {
        let client = opts.etcd.connect().await?;
        let mut n = 0i64;
        for (start, end) in
            prefix_ranges(&if opts.prefixes.is_empty() { vec![String::new()] } else { normalized(&opts.prefixes) })
        {
            let r = etcd::retried(etcd::MAX_RETRIES, || {
                let mut c = client.clone();
                let (s, e) = (start.clone(), end.clone());
                async move { c.get(s, Some(GetOptions::new().with_range(e).with_count_only())).await }
            })
            .await
            .map_err(|e| opts.etcd.error("cannot count the v3 keys", e))?;
            n += r.count();
        }
        Ok::<_, Error>(n)
    })?;
    let v2 = crate::v2::V2::connect(&opts.etcd)?;
    let dirs = crate::v2::dump::dirs(&opts.prefixes)?;
    if v3_keys == 0 {
        for dir in &dirs {
            if v2.has_nodes(dir)? {
                return Ok((true, 0));
            }
        }
        return Ok((false, 0));
    }
    // v3 it is; count what v2 holds beside it (an etcd without the v2 API holds nothing there).
    let mut left_out = 0u64;
    for dir in &dirs {
        if v2.has_nodes(dir).unwrap_or(false) {
            let mut count = |n: crate::v2::Node| -> Result<()> {
                left_out += u64::from(!n.key.is_empty() && n.key != "/");
                Ok(())
            };
            v2.walk(dir, &mut count)?;
        }
    }
    Ok((false, left_out))
}

/// Facts about the cluster, for the stream header.
pub(crate) struct ClusterFacts {
    pub(crate) cluster_id: u64,
    pub(crate) member_id: u64,
    pub(crate) version: String,
    pub(crate) revision: i64,
}

pub(crate) async fn source_facts(client: &mut Client, args: &EtcdArgs) -> Result<ClusterFacts> {
    let status = etcd::retried(args.endpoints.len(), || {
        let mut c = client.clone();
        async move { c.status().await }
    })
    .await
    .map_err(|e| args.error("cannot read the status of etcd", e))?;
    let header = status.header().ok_or_else(|| Error::new(Kind::Failure, "etcd sent a status without header"))?;
    let (cluster_id, member_id) = (header.cluster_id(), header.member_id());
    // A linearizable read fixes the current revision (status is answered by one member alone).
    let resp = etcd::retried(etcd::MAX_RETRIES, || {
        let mut c = client.clone();
        async move { c.get(vec![0], Some(GetOptions::new().with_from_key().with_limit(1).with_keys_only())).await }
    })
    .await
    .map_err(|e| args.error("cannot read from etcd", e))?;
    let revision = resp.header().map(|h| h.revision()).unwrap_or(0);
    Ok(ClusterFacts { cluster_id, member_id, version: status.version().to_string(), revision })
}

/// Leases alive now with their remaining TTL, sorted by id.
async fn leases(client: &Client, args: &EtcdArgs) -> Result<Vec<Lease>> {
    let list = etcd::retried(etcd::MAX_RETRIES, || {
        let mut c = client.clone();
        async move { c.leases().await }
    })
    .await
    .map_err(|e| args.error("cannot list leases", e))?;
    let ids: Vec<i64> = list.leases().iter().map(|l| l.id()).collect();
    let mut out: Vec<Lease> = futures::stream::iter(ids)
        .map(|id| {
            let c = client.clone();
            async move {
                let r = etcd::retried(etcd::MAX_RETRIES, || {
                    let mut c = c.clone();
                    async move { c.lease_time_to_live(id, None).await }
                })
                .await?;
                Ok::<_, etcd_client::Error>(Lease { id: lease_hex(id), ttl: r.ttl(), granted_ttl: r.granted_ttl() })
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| args.error("cannot read lease TTLs", e))?
        .into_iter()
        .filter(|l| l.ttl > 0)
        .collect();
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

type Page = Result<Vec<KeyValue>>;

/// Fetch every page of every range at `revision` and send them in key order.
async fn fetch_pages(
    client: Client,
    args: EtcdArgs,
    ranges: Vec<(Vec<u8>, Vec<u8>)>,
    revision: i64,
    page_keys: usize,
    page_bytes: usize,
    tx: mpsc::Sender<Page>,
) {
    // A page larger than `soft` is refused and asked for again with half the keys, so that a
    // jump in value sizes (many tiny keys, then big ones) cannot make one page of tens of MiB.
    // Only a single key larger than `soft` is read under the hard limit.
    let soft = (page_bytes.saturating_mul(4)).clamp(16 << 20, MAX_DECODE_BYTES);
    let mut kv_soft = client.kv_client().max_decoding_message_size(soft);
    let mut kv_hard = client.kv_client().max_decoding_message_size(MAX_DECODE_BYTES);
    let mut limit = page_keys.clamp(1, 64);
    let mut fetched: u64 = 0;
    for (start, end) in ranges {
        let mut from = start;
        loop {
            let mut transient = etcd::delays();
            let mut hard = false;
            let resp = loop {
                let opts = GetOptions::new()
                    .with_range(end.clone())
                    .with_revision(revision)
                    .with_limit(limit as i64)
                    .with_serializable();
                let kv = if hard { &mut kv_hard } else { &mut kv_soft };
                match kv.get(from.clone(), Some(opts)).await {
                    Ok(r) => break r,
                    Err(e) if etcd::is_too_large_response(&e) && limit > 1 => {
                        limit = (limit / 2).max(1);
                    }
                    Err(e) if etcd::is_too_large_response(&e) && !hard => hard = true,
                    // Also a member behind the dump's revision: it catches up.
                    Err(e) if etcd::is_transient(&e) && etcd::pause(&mut transient).await => {}
                    Err(e) => {
                        let err = match etcd::classify(&e) {
                            Kind::Compacted => Error::new(
                                Kind::Compacted,
                                format!(
                                    "revision {revision} was compacted while dumping (after {fetched} keys): \
                                     etcd's compaction overtook the dump; run it again, or raise etcd's --auto-compaction-retention"
                                ),
                            ),
                            _ => args.error(&format!("reading keys failed after {fetched} keys"), e),
                        };
                        let _ = tx.send(Err(err)).await;
                        return;
                    }
                }
            };
            let mut resp = resp;
            let more = resp.more();
            let kvs = resp.take_kvs();
            let bytes: usize = kvs.iter().map(|kv| kv.key().len() + kv.value().len()).sum();
            // Size the next page from what this one weighed.
            if !kvs.is_empty() {
                // Grow by at most 4× a page: a run of tiny keys says little about what follows.
                let per_key = (bytes / kvs.len()).max(1);
                limit = (page_bytes / per_key).clamp(1, page_keys).min(limit.saturating_mul(4));
            }
            fetched += kvs.len() as u64;
            let next_from = kvs.last().map(|kv| {
                let mut k = kv.key().to_vec();
                k.push(0);
                k
            });
            if !kvs.is_empty() && tx.send(Ok(kvs)).await.is_err() {
                return; // the writer has stopped
            }
            match (more, next_from) {
                (true, Some(k)) => from = k,
                _ => break,
            }
        }
    }
}

/// Run a dump: connect, fix the revision, write the header, stream every page, write the trailer.
pub fn run(opts: DumpOptions) -> Result<()> {
    let out = Output::create(opts.output.as_deref())?;
    run_into(opts, out)
}

/// etcd-dump into an opened output (a library pipeline's stage; `opts.output` is not used).
pub fn run_into(opts: DumpOptions, out: Output) -> Result<()> {
    let rt = reshifter_format::parallel::runtime(1)?;
    let run = Run::new(&opts.report.or_name("etcd-dump"), opts.quiet);
    let (v2, left_out) = match opts.api {
        DumpApi::V3 => (false, 0),
        DumpApi::V2 => (true, 0),
        DumpApi::Auto => prefers_v2(&opts, &rt)?,
    };
    if v2 {
        return crate::v2::dump::run(&opts, run, out);
    }
    if left_out > 0 {
        // Not a summary: said even with -q.
        opts.report.or_name("etcd-dump").say(format_args!(
            "warning: {left_out} v2 nodes under the prefixes are left out: --api auto dumps v3, which holds keys \
             there too; dump them with --api v2"
        ));
    }
    dump_v3(opts, rt, run, out, left_out)
}

fn dump_v3(opts: DumpOptions, rt: tokio::runtime::Runtime, mut run: Run, out: Output, left_out: u64) -> Result<()> {
    let (client, header) = rt.block_on(async {
        let mut client = opts.etcd.connect().await?;
        let src = source_facts(&mut client, &opts.etcd).await?;
        let revision = match opts.revision {
            Some(r) if r > src.revision => {
                return Err(Error::new(
                    Kind::Usage,
                    format!("--rev {r} is in the future: the current revision is {}", src.revision),
                ));
            }
            Some(r) if r <= 0 => return Err(Error::new(Kind::Usage, "--rev must be positive")),
            Some(r) => r,
            None => src.revision,
        };
        let leases = leases(&client, &opts.etcd).await?;
        let mut h = Header::new(&format!("etcd-dump {}", env!("CARGO_PKG_VERSION")));
        h.endpoints = opts.etcd.endpoints.iter().map(|e| reshifter_format::redact::urls(e).into_owned()).collect();
        h.cluster_id = Some(id_hex(src.cluster_id));
        h.member_id = Some(id_hex(src.member_id));
        h.etcd_version = Some(src.version);
        h.revision = revision;
        h.prefixes = if opts.prefixes.is_empty() { vec![String::new()] } else { normalized(&opts.prefixes) };
        h.sorted = true;
        // Every key under the prefixes at this revision: what --mode sync needs to know.
        h.complete = true;
        h.leases = leases;
        if left_out > 0 {
            h.extra.insert("v2_nodes_left_out".into(), left_out.into());
        }
        Ok::<_, Error>((client, h))
    })?;

    let ranges = prefix_ranges(&header.prefixes);
    let (tx, mut rx) = mpsc::channel::<Page>(1);
    let fetcher = rt.spawn(fetch_pages(
        client,
        opts.etcd.clone(),
        ranges,
        header.revision,
        opts.page_keys.max(1),
        opts.page_bytes.max(1),
        tx,
    ));

    let mut w = StreamWriter::new(out, &header)?;
    while let Some(page) = rx.blocking_recv() {
        for kv in page? {
            w.write_parts(kv.key(), kv.value(), kv.create_revision(), kv.mod_revision(), kv.version(), kv.lease())?;
        }
        run.progress(|| format!("{} keys, {}", w.count(), human_bytes(w.bytes())));
    }
    // The channel closes when the fetcher ends; it ends early only after sending its error.
    rt.block_on(fetcher).map_err(|e| Error::new(Kind::Failure, format!("the page reader failed: {e}")))?;
    run.end(w, |t, run| {
        let left = if left_out > 0 { format!(" ({left_out} v2 nodes left out)") } else { String::new() };
        format!(
            "{} keys, {} at revision {}{left} in {}",
            t.count,
            human_bytes(t.bytes),
            header.revision,
            secs(run.elapsed)
        )
    })?;
    Ok(())
}

pub(crate) fn normalized(prefixes: &[String]) -> Vec<String> {
    let mut p = prefixes.to_vec();
    p.sort();
    p.dedup();
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::LoadOptions;
    use clap::Parser;

    #[derive(Parser)]
    struct Dump {
        #[command(flatten)]
        o: DumpOptions,
    }

    #[derive(Parser)]
    struct Load {
        #[command(flatten)]
        o: LoadOptions,
    }

    /// What a library caller builds in code is what the tool's command line means by default.
    #[test]
    fn options_built_in_code_are_the_tools_defaults() {
        let etcd = EtcdArgs::from_env(&["http://a:1,http://b:2".to_string()]).unwrap();
        let dumped = Dump::parse_from(["t", "--endpoints", "http://a:1,http://b:2", "-q"]).o;
        assert_eq!(format!("{:?}", DumpOptions::new(etcd.clone())), format!("{dumped:?}"));
        let loaded = Load::parse_from(["t", "--endpoints", "http://a:1,http://b:2", "-q"]).o;
        assert_eq!(format!("{:?}", LoadOptions::new(etcd)), format!("{loaded:?}"));
    }
}
