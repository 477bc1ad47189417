#!/usr/bin/env bash
# Install reshifter where a shell finds it: the multi-call executable and one link per tool in
# $PREFIX/bin, man pages in $PREFIX/share/man/man1, completions for bash, zsh and fish.
#
#   PREFIX=/usr/local scripts/install.sh          # builds first (cargo build --release --locked)
#   PREFIX=$HOME/.local scripts/install.sh        # no root needed; put ~/.local/bin on PATH
#   PREFIX=/usr/local scripts/install.sh --uninstall
#   DESTDIR=/tmp/pkg PREFIX=/usr scripts/install.sh --no-build   # staging for a package
set -euo pipefail
cd "$(dirname "$0")/.."
PREFIX=${PREFIX:-/usr/local}
root="${DESTDIR:-}$PREFIX"
bin="$root/bin"
man="$root/share/man/man1"
bash_c="$root/share/bash-completion/completions"
zsh_c="$root/share/zsh/site-functions"
fish_c="$root/share/fish/vendor_completions.d"

# The tools, from the committed man pages (one per tool; a test keeps them current).
tools=()
for f in docs/man/*.1; do tools+=("$(basename "$f" .1)"); done

uninstall() {
  local t
  for t in "${tools[@]}"; do
    # A link is ours when it points at reshifter; anything else of that name is left alone.
    if [ -L "$bin/$t" ] && [ "$(basename "$(readlink "$bin/$t")")" = reshifter ]; then rm -f "$bin/$t"; fi
    rm -f "$man/$t.1" "$bash_c/$t" "$zsh_c/_$t" "$fish_c/$t.fish"
  done
  rm -f "$bin/reshifter"
  echo "install: removed reshifter from $root"
}

case "${1:-}" in
  --uninstall) uninstall; exit 0 ;;
  --no-build | "") ;;
  *) echo "usage: [PREFIX=/usr/local] [DESTDIR=...] scripts/install.sh [--no-build | --uninstall]" >&2; exit 2 ;;
esac

if [ "${1:-}" != --no-build ]; then
  scripts/deps.sh install build
  cargo build --release --locked -p reshifter
fi
exe=target/release/reshifter
[ -x "$exe" ] || { echo "install: $exe is not built (cargo build --release --locked -p reshifter)" >&2; exit 1; }

mkdir -p "$bin" "$man" "$bash_c" "$zsh_c" "$fish_c"
install -m 0755 "$exe" "$bin/reshifter.new"
mv -f "$bin/reshifter.new" "$bin/reshifter"
"$bin/reshifter" --install-links "$bin"
for t in "${tools[@]}"; do
  install -m 0644 "docs/man/$t.1" "$man/$t.1"
  install -m 0644 "completions/bash/$t" "$bash_c/$t"
  install -m 0644 "completions/zsh/_$t" "$zsh_c/_$t"
  install -m 0644 "completions/fish/$t.fish" "$fish_c/$t.fish"
done
size=$(du -sk "$bin/reshifter" | cut -f1)
echo "install: reshifter and ${#tools[@]} tools in $bin ($((size / 1024)) MiB), man pages in $man, completions for bash, zsh and fish"
case ":$PATH:" in
  *":$PREFIX/bin:"*) ;;
  *) echo "install: $PREFIX/bin is not on your PATH: add it, e.g. export PATH=\"$PREFIX/bin:\$PATH\"" ;;
esac
