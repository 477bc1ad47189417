#!/usr/bin/env bash
# The main job in one command: build reshifter, start a throwaway etcd seeded with a realistic
# Kubernetes keyspace, back it up with `etcd-dump | archive-pack`, restore the archive into a
# second throwaway etcd with `archive-unpack | etcd-load`, and check that the two keyspaces are
# identical. Everything runs on loopback and is removed at the end, but the backup
# (target/demo/backup.zip), whose restore command the last lines print.
#
#   scripts/demo.sh                 # 20000 objects
#   OBJECTS=100000 scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
objects=${OBJECTS:-20000}

say() { printf '\033[1mdemo:\033[0m %s\n' "$*"; }

# Everything the build and the demo need (apt-get), checked file by file before the build.
scripts/deps.sh install demo

say "building (cargo build --release --locked --workspace --bins)"
# The workspace's binaries, with the workspace's features: scripts/test.sh then reuses every
# dependency built here instead of building it again with other features.
cargo build --release --locked --quiet --workspace --bins
mkdir -p target/release/bin
target/release/reshifter --install-links target/release/bin
export PATH="$PWD/target/release/bin:$PATH"

work=$(mktemp -d -t reshifter-demo-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# start_etcd NAME: starts etcd on free loopback ports, sets EP to its endpoint.
start_etcd() {
  local name=$1 cp pp
  cp=$(free_port); pp=$(free_port)
  etcd --name "$name" --data-dir "$work/$name" \
    --listen-client-urls "http://127.0.0.1:$cp" --advertise-client-urls "http://127.0.0.1:$cp" \
    --listen-peer-urls "http://127.0.0.1:$pp" --initial-advertise-peer-urls "http://127.0.0.1:$pp" \
    --initial-cluster "$name=http://127.0.0.1:$pp" --quota-backend-bytes 8589934592 >"$work/$name.log" 2>&1 &
  pids+=($!)
  EP="127.0.0.1:$cp"
  for _ in $(seq 100); do
    etcdctl --endpoints "$EP" endpoint health >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "demo: etcd $name did not start; its log:" >&2
  tail -20 "$work/$name.log" >&2
  return 1
}

digest() { etcd-dump -q --endpoints "$1" | tail -n 1 | grep -o '"sha256":"[0-9a-f]*"' | cut -d'"' -f4; }

# The backup outlives the demo: the last lines say where it is and how to restore it.
keep=target/demo
mkdir -p "$keep"
backup="$keep/backup.zip"

start_etcd source; src=$EP
start_etcd target; dst=$EP
say "source etcd at $src, target etcd at $dst (throwaway, loopback)"

say "seeding the source with a sample cluster: kv-gen --objects $objects | etcd-load"
kv-gen --objects "$objects" --seed 1 | etcd-load -q --endpoints "$src"
etcd-explore --endpoints "$src" | grep -E '^(etcd version|keys|kubernetes) '

say "backing up: etcd-dump | archive-pack -o backup.zip"
t0=$(date +%s.%N)
etcd-dump --endpoints "$src" | archive-pack -o "$backup"
t1=$(date +%s.%N)
archive-unpack -q --verify "$backup"
unzip -l "$backup" | sed -n '4,6p'

say "what is in it: archive-unpack backup.zip | kv-stats"
archive-unpack -q "$backup" | kv-stats | sed -n '1,14p'

say "restoring into the target: archive-unpack < backup.zip | etcd-load"
t2=$(date +%s.%N)
archive-unpack -q < "$backup" | etcd-load --endpoints "$dst"
t3=$(date +%s.%N)

say "verifying: the content digests of both keyspaces (trailer sha256 of etcd-dump)"
a=$(digest "$src"); b=$(digest "$dst")
echo "  source $a"
echo "  target $b"
size=$(stat -c %s "$backup")
if [ -n "$a" ] && [ "$a" = "$b" ]; then
  say "$(printf 'OK: %d objects backed up in %.1f s into a %d MB archive, restored in %.1f s; the keyspaces are identical' \
    "$objects" "$(awk "BEGIN{print $t1 - $t0}")" "$((size / 1000000))" "$(awk "BEGIN{print $t3 - $t2}")")"
else
  say "FAILED: the restored keyspace differs from the source"
  exit 1
fi
echo
say "your backup: $backup ($((size / 1000000)) MB; the two throwaway etcds are gone)"
say "restore it into an etcd of yours:"
echo "  PATH=\"$PWD/target/release/bin:\$PATH\"   # or install the tools: PREFIX=\$HOME/.local scripts/install.sh"
echo "  archive-unpack $backup | etcd-load --endpoints 127.0.0.1:2379 --dry-run   # what it would change"
echo "  archive-unpack $backup | etcd-load --endpoints 127.0.0.1:2379"
