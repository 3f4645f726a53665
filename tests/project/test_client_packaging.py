"""Packaging: dependency bounds that match the committed stubs, exact dev pins, the torch
installer's choice of index, and mypy on gatenet.client."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STUBS = ROOT / "proto" / "gatenet" / "v1"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def requirement(name: str, requirements: list[str]) -> str:
    """The specifier of name in a list of requirement strings (PEP 508, no markers here)."""
    for line in requirements:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?\s*(.*)", line.strip())
        if match and match[1].lower() == name:
            return match[2].replace(" ", "")
    raise AssertionError(f"{name} is not in {requirements}")


def next_major(version: str) -> str:
    return str(int(version.split(".")[0]) + 1)


def test_grpc_bounds_match_the_generated_stubs():
    grpc_stub = (STUBS / "gatenet_pb2_grpc.py").read_text()
    generated = re.search(r"GRPC_GENERATED_VERSION = '([\d.]+)'", grpc_stub)[1]
    for name in ("grpcio", "grpcio-health-checking"):
        wanted = f">={generated},<{next_major(generated)}"
        assert requirement(name, PROJECT["dependencies"]) == wanted, name
    dev = PROJECT["optional-dependencies"]["dev"]
    assert requirement("grpcio-tools", dev) == f"=={generated}"


def test_protobuf_bounds_match_the_generated_stubs():
    versions = {
        tuple(
            int(p)
            for p in re.search(r"# Protobuf Python Version: ([\d.]+)", f.read_text())[1].split(".")
        )
        for f in STUBS.glob("*_pb2.py")
    }
    gencode = ".".join(map(str, max(versions)))  # the runtime must be at least every file's
    wanted = f">={gencode},<{next_major(gencode)}"  # and of the same major
    assert requirement("protobuf", PROJECT["dependencies"]) == wanted


def test_dev_tools_and_extras_are_pinned_exactly():
    extras = PROJECT["optional-dependencies"]
    for line in extras["dev"] + extras["tracing"]:
        assert "==" in line, f"dev or tracing requirement not pinned: {line}"
    for extra, package in (("onnx", "onnx"), ("plot", "matplotlib")):
        pin = requirement(package, extras[extra])
        assert pin.startswith("==") and requirement(package, extras["dev"]) == pin
    assert requirement("onnxruntime", extras["dev"]).startswith("==")
    assert requirement("mypy", extras["dev"]).startswith("==")


# -- scripts/install-torch.sh with a pip that only records what it is asked -----------------

PIP_STUB = """#!{python}
import json, os, sys
with open(os.environ["PIP_LOG"], "a") as f:
    f.write(json.dumps(sys.argv[1:]) + "\\n")
if "--dry-run" in sys.argv:
    url = os.environ.get("STUB_URL")
    if not url:
        sys.exit(1)  # as a pip without --report, or offline
    with open(sys.argv[sys.argv.index("--report") + 1], "w") as f:
        json.dump({{"install": [{{"download_info": {{"url": url}}}}]}}, f)
"""
LOCAL_CPU = "file:///opt/wheels/torch-2.13.0%2Bcpu-cp311-cp311-manylinux_2_28_x86_64.whl"
PYPI_CUDA = "https://files.pythonhosted.org/packages/ab/cd/torch-2.13.0-cp311-cp311-manylinux_2_28_x86_64.whl"


def install_torch(tmp_path: Path, **env: str) -> tuple[str, list[list[str]]]:
    """Run the script with the stub pip: (its stdout, the pip command lines)."""
    pip = tmp_path / "pip"
    pip.write_text(PIP_STUB.format(python=sys.executable))
    pip.chmod(0o755)
    log = tmp_path / "pip.log"
    result = subprocess.run(
        ["sh", str(ROOT / "scripts" / "install-torch.sh")],
        env={**os.environ, "PIP": str(pip), "PY": sys.executable, "PIP_LOG": str(log), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return result.stdout, calls


def test_torch_installs_plainly_when_pip_already_picks_a_cpu_wheel(tmp_path):
    out, calls = install_torch(tmp_path, STUB_URL=LOCAL_CPU, TORCH_VERSION="2.13.0")
    assert "--dry-run" in calls[0] and "torch==2.13.0" in calls[0]
    assert calls[1:] == [["install", "--progress-bar", "on", "torch==2.13.0"]]
    assert "CPU build" in out


def test_torch_comes_from_the_cpu_index_when_pip_would_pick_cuda(tmp_path):
    out, calls = install_torch(tmp_path, STUB_URL=PYPI_CUDA)
    index = ["--index-url", "https://download.pytorch.org/whl/cpu"]
    assert calls[1][:4] == ["install", "--progress-bar", "on", *index[:1]]
    assert " ".join(index) in " ".join(calls[1])
    assert "--extra-index-url https://pypi.org/simple" in " ".join(calls[1])
    assert calls[1][-1] == "torch==2.13.0" and len(calls) == 2


def test_torch_comes_from_the_cpu_index_when_pip_cannot_say(tmp_path):
    _, calls = install_torch(tmp_path, STUB_URL="")
    assert len(calls) == 2 and "https://download.pytorch.org/whl/cpu" in calls[1]


def test_a_wheel_folder_wins_without_asking_pip(tmp_path):
    _, calls = install_torch(tmp_path, TORCH_WHEELS="deploy/wheels", STUB_URL=PYPI_CUDA)
    assert calls == [
        ["install", "--progress-bar", "on", "--find-links", "deploy/wheels", "torch==2.13.0"]
    ]


def test_every_package_folder_is_in_the_wheel() -> None:
    """setuptools installs only the packages pyproject lists: an unlisted folder works in the
    editable venv and is missing from `pip install .` (the image's import then fails)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = set()
    for package, folder in config["package-dir"].items():
        for init in (ROOT / folder).rglob("__init__.py"):
            parts = init.parent.relative_to(ROOT / folder).parts
            found.add(".".join((package, *parts)))
    assert found - listed == set(), "folders with __init__.py that pyproject does not list"
