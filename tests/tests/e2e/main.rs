//! The end-to-end tests, one binary (it links tokio, etcd-client and chromedriver's client once,
//! not once per file): the real binaries in real pipelines against real servers. One module per
//! concern; `cargo test --release -p reshifter-e2e <module>::` runs one of them.

mod archive;
mod atrest;
mod cli;
mod conformance;
mod deploy;
mod dump_load;
mod explore;
mod exposed;
mod faults;
mod filter_stats;
mod kubernetes;
mod kvgen;
mod messages;
mod node;
mod objects;
mod properties;
mod rcli;
mod reliability;
mod s3;
mod server;
mod v2;
mod watch;
