#!/usr/bin/env bash
# mypy on gatenet.server, gatenet.client and gatenet.vocabulary as installed. The editable install maps folders to
# packages through an import hook mypy cannot follow, so mirror that mapping with symlinks.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
tree=$(mktemp -d)
trap 'rm -rf "$tree"' EXIT
mkdir "$tree/gatenet"
for entry in proto/gatenet/*; do ln -s "$PWD/$entry" "$tree/gatenet/"; done
ln -s "$PWD/server" "$tree/gatenet/server"
ln -s "$PWD/client" "$tree/gatenet/client"
ln -s "$PWD/vocabulary" "$tree/gatenet/vocabulary"
MYPYPATH=$tree "$PY" -m mypy -p gatenet.server -p gatenet.client -p gatenet.vocabulary "$@"
