#!/usr/bin/env bash
# Build the container image reshifter:<version> from deploy/Containerfile, without pulling any
# base image: the root filesystem is assembled from Debian's own packages (apt-get download +
# dpkg-deb -x), checked by running the tools in it with chroot, then built with buildah and
# saved as an OCI archive (load it with `podman load -i` or push it with skopeo/buildah).
#
#   scripts/image.sh                  # -> image reshifter:0.1.0, target/image/reshifter-0.1.0.oci.tar
#   scripts/image.sh --rootfs-only    # only target/image/rootfs (no buildah needed)
#   scripts/image.sh --no-build       # use target/release/reshifter as it is
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
tag="reshifter:$version"
ctx=target/image
rootfs_only=0 build=1
for a in "$@"; do
  case "$a" in
    --rootfs-only) rootfs_only=1 ;;
    --no-build) build=0 ;;
    *) echo "usage: scripts/image.sh [--rootfs-only] [--no-build]" >&2; exit 2 ;;
  esac
done

if [ $rootfs_only = 0 ]; then scripts/deps.sh install image; fi
if [ $build = 1 ]; then
  scripts/deps.sh check build
  cargo build --release --locked -p reshifter
fi

rm -rf "$ctx"
mkdir -p "$ctx/debs" "$ctx/rootfs"
# bash and coreutils (for pipelines and `date` in the CronJob) with the libraries they and
# reshifter link (ldd: libc, libm, libgcc_s), and the CA bundle for TLS to S3 and etcd.
packages=(base-files bash coreutils libc6 libgcc-s1 libtinfo6 libacl1 libattr1 libselinux1 libpcre2-8-0 libgmp10
  ca-certificates)
(cd "$ctx/debs" && apt-get -o APT::Sandbox::User=root download -q "${packages[@]}" >/dev/null)
for deb in "$ctx"/debs/*.deb; do dpkg-deb -x "$deb" "$ctx/rootfs"; done
r="$ctx/rootfs"
# What update-ca-certificates would have made (package scripts do not run here).
mkdir -p "$r/etc/ssl/certs"
cat "$r"/usr/share/ca-certificates/mozilla/*.crt >"$r/etc/ssl/certs/ca-certificates.crt"
rm -rf "$r/usr/share/doc" "$r/usr/share/man" "$r/usr/share/info" "$r/usr/share/locale" "$r/usr/share/lintian" \
  "$r/usr/share/ca-certificates" "$r/usr/share/common-licenses" "$r/usr/share/bash-completion" "$r/usr/lib/x86_64-linux-gnu/gconv"
mkdir -p "$r/tmp" "$r/usr/local/bin" "$r/root"
chmod 1777 "$r/tmp"
printf 'root:x:0:0:root:/root:/bin/bash\nreshifter:x:65532:65532:reshifter:/tmp:/bin/bash\n' >"$r/etc/passwd"
printf 'root:x:0:\nreshifter:x:65532:\n' >"$r/etc/group"
install -m 0755 target/release/reshifter "$r/usr/local/bin/reshifter"
"$r/usr/local/bin/reshifter" --install-links "$r/usr/local/bin"

# The root filesystem works on its own: the tools run, a pipeline runs, TLS roots are there.
check=$(chroot "$r" /bin/bash -o pipefail -c \
  'kv-gen --objects 20 --seed 1 | kv-filter -q --resource pods | kv-stats --json >/dev/null && etcd-dump --version && date -u +%Y && test -s /etc/ssl/certs/ca-certificates.crt && echo ok')
case "$check" in
  *ok) ;;
  *) echo "image: the root filesystem does not run the tools: $check" >&2; exit 1 ;;
esac
echo "image: root filesystem $(du -sh "$r" | cut -f1) in $r ($(ls "$r/usr/local/bin" | wc -l) entries in /usr/local/bin)"
[ $rootfs_only = 1 ] && exit 0

export STORAGE_DRIVER=${STORAGE_DRIVER:-vfs}
buildah build --isolation chroot --layers=false -q -f deploy/Containerfile -t "$tag" "$ctx" >/dev/null
rm -f "$ctx/reshifter-$version.oci.tar"
buildah push -q "$tag" "oci-archive:$ctx/reshifter-$version.oci.tar:$tag" >/dev/null
echo "image: $tag built ($(du -h "$ctx/reshifter-$version.oci.tar" | cut -f1) as $ctx/reshifter-$version.oci.tar)"
