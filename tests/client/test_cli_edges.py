"""The `gatenet` command's rough edges, each through the real command as a user runs it:
closed pipes, --version, shell completion, the training progress bar."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from gatenet.client.cli.render import ProgressBar
from gatenet.client.results import Progress
from gatenet.vocabulary.layers import ACTIVATIONS

pytestmark = pytest.mark.slow  # real processes or many trainings: make test's second step

COMMAND = [sys.executable, "-m", "gatenet.client"]


def run(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*COMMAND, *args], capture_output=True, text=True, timeout=120, **kwargs)


def run_into_closed_pipe(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the command with stdout a pipe nobody reads (`gatenet ... | head -0`)."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # closed before the command writes: its first write breaks the pipe
    try:
        return subprocess.run(
            [*COMMAND, *args], stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=120
        )
    finally:
        os.close(write_end)


def test_a_closed_pipe_is_quiet_and_exits_0(server):
    result = run_into_closed_pipe("--target", server.target, "models")
    assert (result.returncode, result.stderr) == (0, "")
    result = run_into_closed_pipe("--help")
    assert (result.returncode, result.stderr) == (0, "")


def test_piping_into_head_keeps_the_first_line(server):
    for i in range(3):
        run("--target", server.target, "train", "--gate", "or", "--name", f"pipe-{i}")
    shell = f"set -o pipefail; {' '.join(COMMAND)} --target {server.target} models | head -1"
    result = subprocess.run(["bash", "-c", shell], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout.split()[:3] == ["ID", "NAME", "TASK"]


def test_version_comes_from_the_package_metadata():
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout == f"gatenet {metadata.version('gatenet')}\n"


def complete(line: str, tmp_path: Path) -> list[str]:
    """What argcomplete answers a shell completing `line` (its _ARGCOMPLETE protocol)."""
    out = tmp_path / "completions"
    script = Path(sys.executable).parent / "gatenet"  # the console script the shell runs
    command = [str(script)] if script.exists() else COMMAND
    env = {
        **os.environ,
        "_ARGCOMPLETE": "1",
        "_ARGCOMPLETE_IFS": "\n",
        "_ARGCOMPLETE_STDOUT_FILENAME": str(out),
        "COMP_LINE": line,
        "COMP_POINT": str(len(line)),
    }
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return [word.rstrip() for word in out.read_text().split("\n")]  # "train " ends a word


def test_shell_completion_offers_subcommands_and_choices(tmp_path):
    assert complete("gatenet tr", tmp_path) == ["train"]
    assert complete("gatenet train --activation ", tmp_path) == list(ACTIVATIONS)
    assert "export" in complete("gatenet ", tmp_path)


BAR = r"\[[# ]{30}\] +\d+%  step \d+/\d+  loss \S+  acc \d\.\d{3}  fit \d+/\d+  \d+\.\ds"


def test_the_progress_bar_ends_with_where_training_stopped(server):
    result = run(
        "--target", server.target, "train", "--gate", "xor", "--steps", "200",
        "--no-early-stop", "--restarts", "4", "--check-every", "10", "--seed", "1", "--stream",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert re.fullmatch(BAR + r"  eta (\?|\d+\.\ds)", lines[0]), lines[0]
    assert re.fullmatch(BAR + "  done", lines[-1]), lines[-1]
    assert lines[-1].startswith("[" + "#" * 30 + "] 100%  step 200/200  ")
    assert re.search(r"  fit [0-4]/4  ", lines[-1])
    assert "model:" in result.stdout and "model:" not in result.stderr


def test_eta_is_the_rest_of_the_budget_at_the_pace_so_far():
    now = [100.0]
    stream = io.StringIO()
    bar = ProgressBar(stream, total=1000, clock=lambda: now[0])
    now[0] += 5.0  # 250 steps in 5 s: 750 more take 15 s
    line = bar.line(
        Progress(step=250, best_loss=0.5, best_accuracy=0.75, restarts_fit=3, restarts=12)
    )
    assert line.endswith("  25%  step 250/1000  loss 0.5  acc 0.750  fit 3/12  5.0s  eta 15.0s")
    now[0] += 200.0
    line = bar.line(
        Progress(step=500, best_loss=0.1, best_accuracy=1, restarts_fit=12, restarts=12)
    )
    assert line.endswith("fit 12/12  3m25s  eta 3m25s")
    assert ProgressBar(stream, total=None).line(Progress(10, 0.5, 0.5, 0, 4)).startswith("step 10 ")
