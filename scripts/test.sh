#!/usr/bin/env bash
# The test command (README, .ci/run): build every binary, then run the unit tests and the
# end-to-end tests, which start real etcd (and S3) servers on loopback.
# Needs: Debian's etcd-server and etcd-client, protobuf-compiler, openssl (see .ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all -- --check
cargo build --release --locked --workspace
cargo test --release --locked --workspace "$@"
