#!/usr/bin/env bash
# Validate the Kubernetes manifests (deploy/*.yaml, or the files given) against the Kubernetes
# OpenAPI schemas, strictly (unknown fields are errors), with kubernetes-validate from PyPI —
# which ships the schemas, so no cluster is needed. Installed once into target/venv-k8s.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=target/venv-k8s
if [ ! -x "$venv/bin/kubernetes-validate" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q kubernetes-validate==1.37.0
fi
files=("$@")
[ ${#files[@]} -gt 0 ] || files=(deploy/*.yaml)
# The oldest Kubernetes release the manifests are meant for, and the newest the schemas know.
for v in 1.29 1.37; do
  "$venv/bin/kubernetes-validate" --strict --quiet -k "$v" "${files[@]}"
done
