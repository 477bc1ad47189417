#!/usr/bin/env bash
# The test command (README, .ci/run): install what the tests need (as the demo does: apt-get and
# cargo, then a check that names any file still missing), build every binary, then run the unit
# tests and the end-to-end tests, which start real etcd (and S3) servers on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh install test
cargo fmt --all -- --check
cargo build --release --locked --workspace
cargo test --release --locked --workspace "$@"
