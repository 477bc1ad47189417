//! A control-plane node's files, as a files stream (docs/FORMAT.md, "Files streams"): what a
//! cluster restored from etcd alone lacks — its CAs and keys, the service-account key pair, the
//! encryption-at-rest configuration, kubeconfigs, static-pod manifests.
//!
//! - [`dump`]: the files of the layouts found under a root (kubeadm, k3s, rke2) and of
//!   `--include` globs, as a stream (node-dump);
//! - [`load`]: a stream written into a root, planned and verified first, by temporary name and
//!   rename, never through a symlink (node-load);
//! - [`stats`]: the certificates, keys and kubeconfigs in a stream, at a glance (node-stats).

pub mod capture;
pub mod dump;
pub mod load;
pub mod owners;
pub mod stats;
mod tree;

pub use dump::{DumpOptions, dump};
pub use load::{LoadOptions, load};
pub use stats::{StatsOptions, stats};
