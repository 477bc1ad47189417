#!/usr/bin/env bash
# Regenerate the man pages (docs/man/) and shell completions (completions/) from the tools'
# clap definitions. Needs the release build (cargo build --release --locked).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=target/release
mkdir -p docs/man completions/bash completions/zsh completions/fish
for t in $("$bin/reshifter" --list); do
  "$bin/reshifter" "$t" --generate-man > "docs/man/$t.1"
  "$bin/reshifter" "$t" --generate-completions bash > "completions/bash/$t"
  "$bin/reshifter" "$t" --generate-completions zsh > "completions/zsh/_$t"
  "$bin/reshifter" "$t" --generate-completions fish > "completions/fish/$t.fish"
done
echo "gen-docs: $(ls docs/man | wc -l) man pages, completions for bash, zsh and fish"
