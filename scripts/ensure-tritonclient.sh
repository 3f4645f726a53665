#!/usr/bin/env bash
# A venv of its own for the stock Open Inference Protocol clients the V2 tests drive (gRPC and HTTP):
# tritonclient[grpc] needs protobuf < 7 and gatenet needs >= 7, so they cannot share .venv.
# Made only when missing (a stamp names the pinned versions), so a second run touches no network.
# perf_analyzer comes from PyPI's perf-analyzer too, when it installs: its wheels are
# manylinux_2_38 (glibc >= 2.38; PyPI's 0.1.0 is an empty placeholder), so it is missing on older
# systems, and the perf_analyzer test then skips saying so.
# Prints the venv's python on success.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${GATENET_TEST_TRITON_VENV:-.venv/triton}
TRITONCLIENT=tritonclient[grpc,http]==2.73.0
NUMPY='numpy>=1.26,<3'
PERF_ANALYZER='perf-analyzer>=2.58'
stamp="$VENV/.gatenet-stamp"
want="$TRITONCLIENT $NUMPY +$PERF_ANALYZER"
# Two test processes (pytest-xdist workers) may ask at once: one makes the venv, the other waits.
mkdir -p "$(dirname "$VENV")"
exec 9>"$VENV.lock"
flock 9
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  echo "$VENV/bin/python"
  exit 0
fi
echo "ensure-tritonclient: creating $VENV ($TRITONCLIENT)" >&2
if [[ -e "$VENV" && ! -f "$VENV/pyvenv.cfg" ]]; then
  echo "ensure-tritonclient: $VENV exists and is not a venv; not touching it" >&2
  exit 1
fi
rm -rf "$VENV"
python3 -m venv "$VENV"
"$VENV/bin/pip" install -q "$TRITONCLIENT" "$NUMPY" >&2
# Best effort: the tests say why when it is missing or does not run.
"$VENV/bin/pip" install -q "$PERF_ANALYZER" >&2 ||
  echo "ensure-tritonclient: no $PERF_ANALYZER wheel for this system ($(ldd --version | head -1));" \
    "the perf_analyzer test skips" >&2
echo "$want" >"$stamp"
echo "$VENV/bin/python"
