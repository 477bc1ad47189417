#!/usr/bin/env bash
# The S3-compatible server the tests and benchmarks run against: s3s-fs 0.14.1 (newer releases need
# a newer rustc). Installs into ~/.cargo/bin unless it is already there.
set -euo pipefail
if command -v s3s-fs >/dev/null 2>&1; then exit 0; fi
cargo install s3s-fs@0.14.1 --features binary --locked
