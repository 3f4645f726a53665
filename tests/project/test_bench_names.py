"""bench/ scripts run as `python bench/X.py`, which puts bench/ first on sys.path: a script named
like a standard-library module (http.py, json.py, ...) would shadow it for every bench script."""

from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"


def test_no_bench_script_shadows_a_standard_library_module():
    shadowing = sorted(p.name for p in BENCH.glob("*.py") if p.stem in sys.stdlib_module_names)
    assert not shadowing, f"rename {shadowing}: `import {shadowing[0][:-3]}` would find it"
