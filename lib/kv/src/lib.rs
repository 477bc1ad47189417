//! The tools that work on a stream alone, with no server: [`filter`] (kv-filter, kv-seal),
//! [`stats`] (kv-stats) and [`kvgen`] (kv-gen, a realistic sample keyspace). They build without
//! protoc, the etcd client or the AWS SDK.

pub mod filter;
pub mod kvgen;
pub mod stats;
