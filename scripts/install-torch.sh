#!/bin/sh
# Install torch as a CPU build without ever pulling the multi-GB CUDA one (the Dockerfile's
# logic, for the Makefile's venv):
#   - TORCH_WHEELS set: install from that folder of wheels (as the Dockerfile's TORCH_WHEELS);
#   - else, when a plain `pip install torch==V` would already take a +cpu wheel (a local CPU
#     wheel, as on the development machines): that plain install, no other index involved;
#   - else: the PyTorch CPU index, PyPI for the dependencies (the Dockerfile's default).
# Asking pip which file it would take is a dry run (--report): it downloads no wheel.
# Env: PIP (default pip), PY (python3), TORCH_VERSION (2.13.0), TORCH_INDEX_URL, TORCH_WHEELS.
set -eu

PIP="${PIP:-pip}"
PY="${PY:-python3}"
requirement="torch==${TORCH_VERSION:-2.13.0}"
cpu_index="${TORCH_INDEX_URL:-https://download.pytorch.org/whl/cpu}"

if [ -n "${TORCH_WHEELS:-}" ]; then
    echo "install-torch: $requirement from the wheels in $TORCH_WHEELS"
    exec "$PIP" install --progress-bar on --find-links "$TORCH_WHEELS" "$requirement"
fi

report="$(mktemp)"
trap 'rm -f "$report"' EXIT
# Exit 0 when every file the plain install would take is a +cpu build.
plain_is_cpu() {
    "$PIP" install --dry-run --quiet --no-deps --ignore-installed --report "$report" \
        "$requirement" >/dev/null 2>&1 || return 1
    "$PY" - "$report" <<'PYTHON'
import json, sys, urllib.parse
with open(sys.argv[1]) as f:
    urls = [urllib.parse.unquote(item["download_info"]["url"]) for item in json.load(f)["install"]]
sys.exit(0 if urls and all("+cpu" in url.rsplit("/", 1)[-1] for url in urls) else 1)
PYTHON
}

if plain_is_cpu; then
    echo "install-torch: $requirement (pip already picks a CPU build)"
    "$PIP" install --progress-bar on "$requirement"
else
    echo "install-torch: $requirement from the CPU index $cpu_index (not the CUDA build)"
    "$PIP" install --progress-bar on --index-url "$cpu_index" \
        --extra-index-url https://pypi.org/simple "$requirement"
fi
