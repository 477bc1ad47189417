#!/usr/bin/env bash
# What reshifter needs from the machine, in one place: the Debian packages (and cargo-installed
# tools) for building, for the demo and for the tests, and a check that names the missing package
# for every file or command that is absent.
#
#   scripts/deps.sh install build|demo|test|image   install what that purpose needs (apt-get, cargo)
#   scripts/deps.sh check   build|demo|test|image   exit 1 with one line per missing package
#
# The check looks for the files themselves (protoc, google/protobuf/descriptor.proto, etcd ...),
# not for package names, so a machine where something was removed by hand is caught too. It runs
# in seconds, before the 4-minute build, so a missing install step fails early and says which
# package to install.
set -euo pipefail
cd "$(dirname "$0")/.."

# purpose -> "check:package" pairs. A check is a command name, a file path (starts with /), or a
# shell command that must succeed (starts with !).
build_needs=(
  "cc:gcc"
  "/usr/include/stdlib.h:libc6-dev"
  "protoc:protobuf-compiler"
  # etcd-client's build script compiles protos that import the well-known types.
  "/usr/include/google/protobuf/descriptor.proto:libprotobuf-dev"
  "/usr/include/google/protobuf/timestamp.proto:libprotobuf-dev"
)
demo_needs=(
  "etcd:etcd-server"
  "etcdctl:etcd-client"
  "python3:python3"
  "unzip:unzip"
)
test_needs=(
  "etcd:etcd-server"
  "etcdctl:etcd-client"
  "openssl:openssl"
  # node tests: a dump run as an unprivileged user, node-dump refusing a terminal.
  "setpriv:util-linux"
  "script:bsdutils"
  "/etc/ssl/certs/ca-certificates.crt:ca-certificates"
  "unzip:unzip"
  "zip:zip"
  "zstd:zstd"
  "7z:p7zip-full"
  "age:age"
  "age-keygen:age"
  "python3:python3"
  "!python3 -m venv --help:python3-venv"
  "jq:jq"
  # Kubernetes' encryption-at-rest formats written independently, to check ours against.
  "!/usr/bin/python3 -c 'import cryptography':python3-cryptography"
  "!/usr/bin/python3 -c 'import nacl':python3-nacl"
  # A KMS v1 plugin for the tests (tests/helpers/kms_plugin.py).
  "!/usr/bin/python3 -c 'import grpc':python3-grpcio"
  "curl:curl"
  "/usr/bin/time:time"
  "buildah:buildah"
  "/usr/bin/chromium:chromium"
  "/usr/bin/chromedriver:chromium-driver"
  "s3s-fs:cargo:s3s-fs"
)
image_needs=(
  "buildah:buildah"
  "apt-get:apt"
  "dpkg-deb:dpkg"
)

needs_of() {
  case "$1" in
    build) printf '%s\n' "${build_needs[@]}" ;;
    demo) printf '%s\n' "${build_needs[@]}" "${demo_needs[@]}" ;;
    test) printf '%s\n' "${build_needs[@]}" "${test_needs[@]}" ;;
    image) printf '%s\n' "${image_needs[@]}" ;;
    *) echo "deps.sh: unknown purpose '$1' (build, demo, test or image)" >&2; exit 2 ;;
  esac
}

present() {
  case "$1" in
    /*) [ -e "$1" ] ;;
    !*) bash -c "${1#!}" >/dev/null 2>&1 ;;
    *) command -v "$1" >/dev/null 2>&1 ;;
  esac
}

# The packages whose files are missing, once each.
missing_packages() {
  local purpose=$1 line check pkg seen=" "
  while IFS= read -r line; do
    check=${line%%:*}
    pkg=${line#*:}
    if ! present "$check" && [[ "$seen" != *" $pkg "* ]]; then
      seen+="$pkg "
      printf '%s\t%s\n' "$pkg" "$check"
    fi
  done < <(needs_of "$purpose")
}

check() {
  local purpose=$1 out
  out=$(missing_packages "$purpose")
  if [ -z "$out" ]; then
    return 0
  fi
  while IFS=$'\t' read -r pkg what; do
    case "$pkg" in
      cargo:*) echo "deps: missing $what: install ${pkg#cargo:} with cargo (scripts/deps.sh install $purpose does it)" >&2 ;;
      *) echo "deps: missing $what: install the Debian package $pkg (scripts/deps.sh install $purpose does it)" >&2 ;;
    esac
  done <<<"$out"
  return 1
}

install() {
  local purpose=$1 apt=() cargo_s3s=0 pkg what
  while IFS=$'\t' read -r pkg what; do
    [ -z "$pkg" ] && continue
    case "$pkg" in
      cargo:s3s-fs) cargo_s3s=1 ;;
      *) apt+=("$pkg") ;;
    esac
  done < <(missing_packages "$purpose")
  if [ ${#apt[@]} -gt 0 ]; then
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    echo "deps: installing ${apt[*]} (apt-get)" >&2
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
    # Not --no-install-recommends: libprotobuf-dev's well-known types must come along, and the
    # check below catches anything else a package leaves out.
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${apt[@]}" >/dev/null
  fi
  if [ $cargo_s3s = 1 ]; then
    scripts/install-s3s-fs.sh
  fi
  check "$purpose"
}

case "${1:-}" in
  install) install "${2:-test}" ;;
  check) check "${2:-test}" ;;
  *) echo "usage: scripts/deps.sh install|check build|demo|test|image" >&2; exit 2 ;;
esac
