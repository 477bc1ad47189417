#!/usr/bin/env bash
# The test command (README, .ci/run): build every binary, then run the unit tests and the
# end-to-end tests, which start real etcd (and S3) servers on loopback.
# Needs what `scripts/deps.sh install test` installs; the check below names any missing package
# in a second instead of failing the build minutes later.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh check test
cargo fmt --all -- --check
cargo build --release --locked --workspace
cargo test --release --locked --workspace "$@"
