#!/usr/bin/env bash
# Generate the gRPC stubs from proto/ (the one command), or with --check fail when the
# committed stubs differ from what the pinned grpcio-tools generates.
# gatenet/v1: gatenet's own API; gatenet/inference: the Open Inference Protocol (package inference).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
PACKAGES=(gatenet/v1 gatenet/inference)
generate() {
  local package services
  for package in "${PACKAGES[@]}"; do
    "$PY" -m grpc_tools.protoc -Iproto --python_out="$1" --pyi_out="$1" proto/"$package"/*.proto
    # Service stubs only where there is a service: the plugin writes a near-empty module otherwise.
    mapfile -t services < <(grep -l '^service ' proto/"$package"/*.proto)
    "$PY" -m grpc_tools.protoc -Iproto --grpc_python_out="$1" "${services[@]}"
  done
}
if [[ "${1:-}" == "--check" ]]; then
  out=$(mktemp -d)
  trap 'rm -rf "$out"' EXIT
  generate "$out"
  for package in "${PACKAGES[@]}"; do
    for f in "$out/$package"/*; do
      name=proto/$package/$(basename "$f")
      if ! cmp -s "$f" "$name"; then
        echo "stale generated stub: $name (run: make stubs)" >&2
        diff -u "$name" "$f" | head -20 >&2 || true
        exit 1
      fi
    done
  done
  echo "generated stubs are up to date"
else
  generate proto
fi
