#!/bin/sh
# The import-linter contracts of pyproject.toml. grimp reads a package from its folder on disk,
# and the editable install maps gatenet.server and gatenet.client from other folders
# (package-dir), so the contracts run on a copy laid out as installed.
set -eu
PY="${PY:-python3}"
case "$PY" in */*) PY="$(cd "$(dirname "$PY")" && pwd)/$(basename "$PY")" ;; esac
repo="$(cd "$(dirname "$0")/.." && pwd)"
tree="$(mktemp -d)"
trap 'rm -rf "$tree"' EXIT
"$PY" - "$repo" "$tree" <<'PYTHON'
import shutil, sys, tomllib
from pathlib import Path
repo, tree = Path(sys.argv[1]), Path(sys.argv[2])
dirs = tomllib.loads((repo / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
for package, folder in sorted(dirs.items()):  # "gatenet" first, then its subpackages
    shutil.copytree(repo / folder, tree.joinpath(*package.split(".")), dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__"))
PYTHON
cd "$tree"
PYTHONPATH="$tree" "$(dirname "$PY")/lint-imports" "$repo/pyproject.toml" --no-cache
