//! etcd's write ceiling for a keyspace: the fastest a client can put a stream's keys into an
//! empty etcd over gRPC, with nothing but puts (no reads, no compares, no leases, no checks). Not a
//! tool: scripts/bench.py runs it beside etcd-load, with the write client etcd-load uses
//! (reshifter_etcd::wire, the fastest this crate has), to measure how far etcd-load is from what etcd
//! itself can take (docs/BENCHMARKS.notes.md, "Restores at etcd's ceiling").
//!
//!     write_ceiling ENDPOINT STREAM OPS_PER_TXN CONCURRENCY CONNECTIONS [memory|stream]
//!
//! `memory` (the default): the stream is read into memory first, and the time printed (seconds)
//! runs from the first request to the last answer — etcd's own ceiling. `stream`: a thread reads
//! the stream (as any reader of the format does, its digests checked) while the batches are
//! written, and the time runs from the start — the ceiling of a client restoring from a file.

use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use reshifter_etcd::EtcdArgs;
use reshifter_etcd::wire::{PutRequest, RequestOp, TxnClient, TxnRequest};
use reshifter_format::StreamReader;

/// etcd's default --max-request-bytes is 1.5 MiB; a txn stays under it with room for framing.
const MAX_TXN_BYTES: usize = 1_500_000;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (endpoint, stream, ops, concurrency, connections, streaming) = match args.as_slice() {
        [_, e, s, o, c, n] => (e, s, o, c, n, false),
        [_, e, s, o, c, n, m] => (e, s, o, c, n, m == "stream"),
        _ => {
            let mut err = std::io::stderr();
            let _ = writeln!(
                err,
                "usage: write_ceiling ENDPOINT STREAM OPS_PER_TXN CONCURRENCY CONNECTIONS [memory|stream]"
            );
            std::process::exit(2);
        }
    };
    let (ops, concurrency, connections): (usize, usize, usize) =
        (ops.parse().unwrap(), concurrency.parse().unwrap(), connections.parse().unwrap());
    let mut started = Instant::now();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<RequestOp>>(if streaming { 4 } else { usize::MAX >> 4 });
    let path = stream.clone();
    let reader = std::thread::spawn(move || {
        let file = std::io::BufReader::new(std::fs::File::open(path).expect("the stream"));
        let (mut batch, mut bytes) = (Vec::new(), 0usize);
        for r in StreamReader::new(file).expect("a stream") {
            let r = r.expect("a record");
            let size = r.key.len() + r.value.len() + 16;
            if !batch.is_empty() && (batch.len() == ops || bytes + size > MAX_TXN_BYTES) {
                tx.blocking_send(std::mem::take(&mut batch)).unwrap();
                bytes = 0;
            }
            bytes += size;
            let put = PutRequest { key: r.key.into(), value: r.value.into(), lease: 0 };
            batch.push(RequestOp { request_put: Some(put) });
        }
        if !batch.is_empty() {
            tx.blocking_send(batch).unwrap();
        }
    });
    if !streaming {
        // Everything read before the clock starts.
        while !reader.is_finished() {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
    let mut clients = Vec::new();
    for _ in 0..connections {
        let args = EtcdArgs::from_env(std::slice::from_ref(endpoint)).expect("endpoint");
        clients.push(TxnClient::connect(&args).await.expect("connect"));
    }
    let limit = Arc::new(tokio::sync::Semaphore::new(concurrency));
    let mut txns = 0;
    if !streaming {
        started = Instant::now();
    }
    let mut tasks = tokio::task::JoinSet::new();
    let mut i = 0;
    while let Some(b) = rx.recv().await {
        i += 1;
        txns += 1;
        let permit = limit.clone().acquire_owned().await.unwrap();
        let kv = clients[i % connections].clone();
        tasks.spawn(async move {
            assert!(kv.txn(TxnRequest { compare: Vec::new(), success: b }).await.expect("txn"));
            drop(permit);
        });
        while let Some(r) = tasks.try_join_next() {
            r.unwrap();
        }
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    reader.join().unwrap();
    let mut out = std::io::stdout();
    writeln!(out, "{:.3} {txns}", started.elapsed().as_secs_f64()).expect("stdout");
}
