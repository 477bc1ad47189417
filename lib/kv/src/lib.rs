//! The tools that work on streams alone, with no server: [`filter`] (kv-filter, kv-seal),
//! [`stats`] (kv-stats), [`kvgen`] (kv-gen, a realistic sample keyspace), [`apply`] (kv-apply:
//! a base and its deltas to any revision), [`diff`] (kv-diff) and [`rekey`] (kv-rekey: encryption
//! at rest from one EncryptionConfiguration to another), [`decode`] and [`encode`] (kv-decode,
//! kv-encode: Kubernetes objects as JSON for jq, and back; [`objects`]). They build without protoc,
//! the etcd client or the AWS SDK.

pub mod apply;
pub mod atrest;
pub mod decode;
pub mod diff;
pub mod encode;
mod encoded;
pub mod filter;
pub mod kvgen;
pub mod objects;
pub mod rekey;
pub mod selector;
pub mod stats;
