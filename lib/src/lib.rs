//! reshifter: back up and restore the logical key/value state of etcd as one NDJSON stream.
//!
//! One module per concern: [`format`] (the stream), [`io`] (inputs and outputs), [`cli`] (the edge
//! every binary shares), [`error`] (typed errors and the exit-code table), [`etcd`] (connecting like
//! etcdctl), [`dump`] and [`load`].

pub mod archive;
pub mod cli;
pub mod dump;
pub mod error;
pub mod etcd;
pub mod explore;
pub mod filter;
pub mod format;
pub mod io;
pub mod k8s;
pub mod kvgen;
pub mod load;
pub mod par;
pub mod pb;
pub mod s3;
pub mod signals;
pub mod sort;
pub mod stats;

pub use error::{Error, Kind, Result};
pub use format::{Header, Record, StreamReader, StreamWriter, Trailer};
