"""The training core imports torch, numpy, the stdlib and the shared vocabulary only: never
grpc, protobuf or prometheus; the models layer no transport and no torch."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.slow  # real processes or many trainings: make test's second step

CHECK = textwrap.dedent(
    """
    import sys
    import gatenet.server.training.recipe
    import gatenet.server.training.tasks
    from gatenet.server.training.trainer import warm_up
    warm_up()  # runs every method, so lazy imports happen too
    roots = ("grpc", "prometheus_client", "google")  # google: protobuf, the wire's messages
    bad = sorted(m for m in sys.modules if m.split(".")[0] in roots)
    # The shared vocabulary's gates and layers (its enums module reads the proto: not here).
    allowed = ("gatenet.server.training", "gatenet.server.errors", "gatenet.vocabulary")
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


MODELS_CHECK = textwrap.dedent(
    """
    import sys
    import gatenet.server.models.registry
    import gatenet.server.models.compiled
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("grpc", "torch"))
    transports = ("gatenet.server.rpc", "gatenet.inference")
    wire = sorted(m for m in sys.modules if m.startswith(transports))
    print(loaded, wire)
    """
)


def test_models_import_no_protobuf_grpc_or_torch() -> None:
    """The registry and inference hold domain objects: no transport, no training framework.

    The stored document's `info` is ModelInfo's proto3 JSON, which the record check parses
    strictly, so the message classes (protobuf) may load; grpc and the rpc layer may not."""
    done = subprocess.run(
        [sys.executable, "-c", MODELS_CHECK], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[] []"


def test_serve_help_imports_no_torch() -> None:
    """`gatenet serve --help` answers without loading torch (it costs seconds)."""
    check = "import sys\nfrom gatenet.server import app\nprint('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
