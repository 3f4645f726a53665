"""The training core imports torch, numpy and the stdlib only: never grpc or prometheus."""

from __future__ import annotations

import subprocess
import sys
import textwrap

CHECK = textwrap.dedent(
    """
    import sys
    import gatenet.server.training.recipe
    import gatenet.server.training.tasks
    from gatenet.server.training.trainer import warm_up
    warm_up()  # runs every method, so lazy imports happen too
    roots = ("grpc", "prometheus_client")
    bad = sorted(m for m in sys.modules if m.split(".")[0] in roots)
    allowed = ("gatenet.server.training", "gatenet.server.errors")
    outer = sorted(
        m for m in sys.modules
        if m.startswith("gatenet.") and m != "gatenet.server" and not m.startswith(allowed)
    )
    print(bad, outer)
    """
)


def test_core_imports_no_grpc_or_prometheus() -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[] []"
