#!/usr/bin/env bash
# A venv of its own for MLServer, the REST baseline bench/http_rest.py compares gatenet with
# (MLServer pins its own fastapi/uvicorn/protobuf, so it cannot share .venv). Bench-only.
# Made only when missing (a stamp names the pinned version), so a second run touches no network.
# Prints the venv's python on success.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv/mlserver
MLSERVER=mlserver==1.7.1
stamp="$VENV/.gatenet-stamp"
mkdir -p "$(dirname "$VENV")"
exec 9>"$VENV.lock"
flock 9
if [[ -f "$stamp" && "$(cat "$stamp")" == "$MLSERVER" ]]; then
  echo "$VENV/bin/python"
  exit 0
fi
echo "ensure-mlserver: creating $VENV ($MLSERVER)" >&2
if [[ -e "$VENV" && ! -f "$VENV/pyvenv.cfg" ]]; then
  echo "ensure-mlserver: $VENV exists and is not a venv; not touching it" >&2
  exit 1
fi
rm -rf "$VENV"
python3 -m venv "$VENV"
"$VENV/bin/pip" install -q "$MLSERVER" >&2
echo "$MLSERVER" >"$stamp"
echo "$VENV/bin/python"
