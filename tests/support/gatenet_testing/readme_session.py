"""The README's session block as data: its commands and the output each shows, run for real.

tests/project/test_readme_session.py runs every command against a real `gatenet serve` in a fresh
temporary directory and holds its output to the shape shown. To refresh the block after a
change, print a real transcript and paste it over the old one:

    .venv/bin/python -m gatenet_testing.readme_session
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from gatenet_testing.serve_process import ServeProcess

README = Path(__file__).resolve().parents[3] / "README.md"
SESSION_TARGET = "127.0.0.1:50051"  # what the session exports; the test's server is elsewhere
ID = re.compile(r"[0-9a-f]{32}")
# A float (a dot or an exponent), a date and time, or an id: the parts of a line that change
# from run to run. Integers (steps, labels) must match as shown; a byte count within
# BYTES_SLACK of it (a file's metadata holds the training time and creation date as text).
_VARIABLE = re.compile(
    r"(?P<id>[0-9a-f]{32})"
    r"|(?P<bytes>\d+(?= bytes\)))"
    r"|(?P<when>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)"
    r"|(?P<float>-?\d+\.\d+(?:e[-+]?\d+)?|-?\d+e[-+]?\d+)"
    r"|(?P<spaces> {2,})"
)
BYTES_SLACK = 0.05
BAR = re.compile(r"\[[# ]{30}\] +\d+%  step \d+/\d+  .*")


@dataclass
class Step:
    """One `$ command` of the session and the lines it shows."""

    command: str
    shown: list[str]


def session_block(text: str | None = None) -> str:
    """The fenced block under "## A session"."""
    text = README.read_text() if text is None else text
    section = text.split("\n## A session\n", 1)[1]
    return section.split("```\n", 2)[1]


def steps(block: str) -> list[Step]:
    """The block's commands ("$ " lines, "\\" continuations joined) and their output lines."""
    out: list[Step] = []
    lines = iter(block.splitlines())
    for line in lines:
        if line.startswith("$ "):
            command = line[2:]
            while command.endswith("\\"):
                command = command[:-1] + next(lines).strip()
            out.append(Step(command, []))
        elif out:
            out[-1].shown.append(line)
    return out


def line_pattern(shown: str) -> tuple[re.Pattern[str], list[tuple[str, str]]]:
    """A regex for a shown line, and the (kind, shown value) of each group it captures."""
    parts, captured, pos = [], [], 0
    for match in _VARIABLE.finditer(shown):
        parts.append(re.escape(shown[pos : match.start()]))
        kind = match.lastgroup or ""
        if kind == "id":
            parts.append("([0-9a-f]{32})")
            captured.append((kind, match.group()))
        elif kind == "bytes":
            parts.append(r"(\d+)")
            captured.append((kind, match.group()))
        elif kind == "when":
            parts.append(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
        elif kind == "float":
            parts.append(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?")
        else:  # aligned columns move with the widths of the values
            parts.append(" +")
        pos = match.end()
    parts.append(re.escape(shown[pos:]))
    return re.compile("".join(parts)), captured


def mismatch(shown: list[str], got: list[str], ids: dict[str, str]) -> str | None:
    """Why got does not have the shape of shown (None when it does); records the ids seen.

    Progress-bar lines come as many as the pace of training draws: shown bar lines stand for
    one or more, the last of which must end like the last one shown.
    """
    i = 0
    for k, want in enumerate(shown):
        if BAR.fullmatch(want):
            if k + 1 < len(shown) and BAR.fullmatch(shown[k + 1]):
                continue  # the run of bar lines is checked at its last line
            start = i
            while i < len(got) and BAR.fullmatch(got[i]):
                i += 1
            if i == start:
                return f"expected progress lines, got {got[start : start + 1]}"
            if want.endswith("done") and not got[i - 1].endswith("done"):
                return f"the last progress line should end 'done': {got[i - 1]!r}"
            continue
        if i >= len(got):
            return f"missing line {want!r}"
        pattern, captured = line_pattern(want)
        match = pattern.fullmatch(got[i])
        if match is None:
            return f"line {got[i]!r} does not have the shape of {want!r}"
        for (kind, value), actual in zip(captured, match.groups(), strict=True):
            if kind == "bytes" and abs(int(actual) - int(value)) > BYTES_SLACK * int(value):
                return f"{got[i]!r}: {actual} bytes, where the README says {value}"
            if kind == "id" and ids.setdefault(value, actual) != actual:
                return f"{value} stood for {ids[value]}, here for {actual}"
        i += 1
    if i < len(got):
        return f"unexpected lines {got[i:]}"
    return None


@contextmanager
def session_server() -> Iterator[tuple[ServeProcess, Path]]:
    """A `gatenet serve` process and a fresh directory to run the session in."""
    with tempfile.TemporaryDirectory(prefix="gatenet-session-") as tmp:
        server = ServeProcess("--data-dir", str(Path(tmp) / "gatenet-data")).start()
        try:
            yield server, Path(tmp)
        finally:
            server.stop()


def run(command: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """One session command in bash, stderr merged into stdout as a terminal shows them."""
    return subprocess.run(
        ["bash", "-c", command],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=120,
    )


def environment(target: str) -> dict[str, str]:
    """The caller's environment, the venv's `gatenet` first on PATH, no GATENET_* leaking in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATENET_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["SESSION_TARGET"] = target
    return env


def command_line(step: Step, target: str, ids: dict[str, str]) -> str:
    """The command as run here: the real server's address and the ids this run made."""
    command = step.command.replace(SESSION_TARGET, target)
    return ID.sub(lambda m: ids.get(m.group(), m.group()), command)


def transcript() -> str:
    """Run the README's session for real and return the block as it should read."""
    out: list[str] = []
    with session_server() as (server, cwd):
        env = environment(server.target)
        ids: dict[str, str] = {}  # README id -> this run's, paired in order of appearance
        for step in steps(session_block()):
            if step.command.startswith("export "):
                name, _, value = step.command.removeprefix("export ").partition("=")
                env[name] = value.replace(SESSION_TARGET, server.target)
                out.append(f"$ {step.command}")
                continue
            command = command_line(step, server.target, ids)
            result = run(command, cwd, env)
            shown = [i for i in dict.fromkeys(ID.findall("\n".join(step.shown))) if i not in ids]
            made = [i for i in dict.fromkeys(ID.findall(result.stdout)) if i not in ids.values()]
            ids.update(zip(shown, made, strict=False))
            out.append(f"$ {command.replace(server.target, SESSION_TARGET)}")
            out.extend(result.stdout.replace(server.target, SESSION_TARGET).splitlines())
    return "\n".join(out)


if __name__ == "__main__":
    print(transcript())
