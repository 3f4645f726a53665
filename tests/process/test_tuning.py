"""Process-wide tuning belongs to `gatenet serve` (main), never to building a server."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow  # two servers in a fresh interpreter

# In a fresh interpreter: the state before, after building and starting a GatenetServer, and
# as main() builds its own (a SIGTERM sent then stops it once it serves).
SCRIPT = r"""
import json, os, signal, sys
from threadpoolctl import threadpool_info
from gatenet.server import app
from gatenet.server.config import Settings

def state():
    blas = sorted({lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"})
    return {"switch_interval": sys.getswitchinterval(), "blas_threads": blas}

seen = {"before": state()}
server = app.build_server(Settings(
    host="127.0.0.1", port=0, metrics_port=-1, store="memory", training_workers=1,
    drain_delay=0.0, grace_seconds=0.0, log_level="WARNING",
))
server.start()
seen["built"] = state()
server.stop()
build = app.build_server

def build_in_main(settings):
    seen["main"] = state()
    os.kill(os.getpid(), signal.SIGTERM)  # main reads it from its wake-up pipe once serving
    return build(settings)

app.build_server = build_in_main
flags = "--host 127.0.0.1 --port 0 --metrics-port -1 --store memory --training-workers 1"
flags += " --drain-delay 0 --grace-seconds 0 --log-level WARNING"
seen["exit"] = app.main(flags.split())
print(json.dumps(seen))
"""


def test_building_a_server_leaves_the_process_alone_and_main_tunes_it() -> None:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "2"}  # BLAS threads to limit on any machine
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.splitlines()[-1])
    assert seen["before"] == {"switch_interval": 0.005, "blas_threads": [2]}
    assert seen["built"] == seen["before"]
    assert seen["main"] == {"switch_interval": 0.001, "blas_threads": [1]}
    assert seen["exit"] == 0
