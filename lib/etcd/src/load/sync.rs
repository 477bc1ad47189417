//! `--mode sync`, after the stream was verified and written: the keys under its prefixes that
//! it lacks are deleted — a paged, keys-only scan of the target merge-joined with the keys the
//! reader spooled, each deletion guarded by the revision seen.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};

use etcd_client::{Compare, CompareOp, GetOptions, Txn, TxnOp};

use super::report::LoadCounts;
use super::txn::{Ctx, report_dry};
use crate::{MAX_DECODE_BYTES, in_range, prefix_ranges};
use reshifter_format::error::{Error, Result};
use reshifter_format::show_key;

/// The smallest key after `k`.
fn successor(k: &[u8]) -> Vec<u8> {
    let mut s = k.to_vec();
    s.push(0);
    s
}

/// The spooled keys of the stream, in order.
struct SpoolCursor {
    r: BufReader<File>,
    cur: Option<Vec<u8>>,
}

impl SpoolCursor {
    fn new(mut f: File) -> Result<Self> {
        f.seek(SeekFrom::Start(0))?;
        let mut c = SpoolCursor { r: BufReader::with_capacity(1 << 20, f), cur: None };
        c.advance()?;
        Ok(c)
    }

    fn advance(&mut self) -> Result<()> {
        let mut n = [0u8; 8];
        match self.r.read_exact(&mut n) {
            Ok(()) => {
                let mut k = vec![0u8; u64::from_le_bytes(n) as usize];
                self.r.read_exact(&mut k)?;
                self.cur = Some(k);
            }
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => self.cur = None,
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }

    /// True when the stream holds `key` (keys are asked in ascending order).
    fn holds(&mut self, key: &[u8]) -> Result<bool> {
        while self.cur.as_deref().is_some_and(|c| c < key) {
            self.advance()?;
        }
        Ok(self.cur.as_deref() == Some(key))
    }
}

/// Sync, after the stream was verified and written: delete the keys under the stream's prefixes
/// that the stream does not hold — a paged, keys-only scan of the target merge-joined with the
/// spooled keys, each deletion guarded by the revision seen.
pub(super) async fn delete_missing(ctx: &Ctx, spool: File, stats: &mut LoadCounts) -> Result<()> {
    let mut held = SpoolCursor::new(spool)?;
    let mut kv = ctx.client.kv_client().max_decoding_message_size(MAX_DECODE_BYTES);
    for (rs, re) in prefix_ranges(&ctx.header.bounds()) {
        let mut from = rs.clone();
        loop {
            let opts = GetOptions::new().with_range(re.clone()).with_keys_only().with_limit(1000);
            let mut resp = kv
                .get(from.clone(), Some(opts))
                .await
                .map_err(|e| ctx.opts.etcd.error("listing keys to delete failed", e))?;
            let more = resp.more();
            let kvs = resp.take_kvs();
            let mut doomed: Vec<(Vec<u8>, i64)> = Vec::new();
            for k in &kvs {
                if in_range(k.key(), &rs, &re) && !held.holds(k.key())? {
                    doomed.push((k.key().to_vec(), k.mod_revision()));
                }
            }
            if ctx.opts.dry_run {
                let lines: Vec<(&str, Vec<u8>)> = doomed.iter().map(|(k, _)| ("delete", k.clone())).collect();
                report_dry(ctx, &lines)?;
                stats.deleted += doomed.len() as u64;
            } else {
                delete_keys(ctx, &mut kv, &doomed, stats).await?;
            }
            match (more, kvs.last()) {
                (true, Some(last)) => from = successor(last.key()),
                _ => break,
            }
        }
    }
    Ok(())
}

async fn delete_keys(
    ctx: &Ctx,
    kv: &mut etcd_client::KvClient,
    doomed: &[(Vec<u8>, i64)],
    stats: &mut LoadCounts,
) -> Result<()> {
    for chunk in doomed.chunks(ctx.opts.max_txn_ops.max(1)) {
        let compares: Vec<Compare> =
            chunk.iter().map(|(k, r)| Compare::mod_revision(k.clone(), CompareOp::Equal, *r)).collect();
        let ops: Vec<TxnOp> = chunk.iter().map(|(k, _)| TxnOp::delete(k.clone(), None)).collect();
        let deleting = |e, k: &[u8]| {
            let err = ctx.opts.etcd.error("deleting failed", e);
            Error::with_source(err.kind(), format!("at key {}", show_key(k)), err)
        };
        match kv.txn(Txn::new().when(compares).and_then(ops)).await {
            Ok(r) if r.succeeded() => {
                stats.deleted += chunk.len() as u64;
                stats.txns += 1;
            }
            Ok(_) => {
                // Changed meanwhile: delete one by one whatever is still there.
                for (k, _) in chunk {
                    let r = kv.delete(k.clone(), None).await.map_err(|e| deleting(e, k))?;
                    stats.deleted += r.deleted() as u64;
                    stats.txns += 1;
                }
            }
            Err(e) => return Err(deleting(e, &chunk[0].0)),
        }
    }
    Ok(())
}
