#!/usr/bin/env bash
# Generate the gRPC stubs from proto/ (the one command), or with --check fail when the
# committed stubs differ from what the pinned grpcio-tools generates.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
generate() {
  "$PY" -m grpc_tools.protoc -Iproto --python_out="$1" --pyi_out="$1" proto/gatenet/v1/*.proto
  # Service stubs only where there is a service: the plugin writes a near-empty module otherwise.
  local services
  mapfile -t services < <(grep -l '^service ' proto/gatenet/v1/*.proto)
  "$PY" -m grpc_tools.protoc -Iproto --grpc_python_out="$1" "${services[@]}"
}
if [[ "${1:-}" == "--check" ]]; then
  out=$(mktemp -d)
  trap 'rm -rf "$out"' EXIT
  generate "$out"
  for f in "$out"/gatenet/v1/*; do
    name=proto/gatenet/v1/$(basename "$f")
    if ! cmp -s "$f" "$name"; then
      echo "stale generated stub: $name (run: make stubs)" >&2
      diff -u "$name" "$f" | head -20 >&2 || true
      exit 1
    fi
  done
  echo "generated stubs are up to date"
else
  generate proto
fi
