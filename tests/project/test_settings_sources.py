"""One source for the settings: the allow-list, deploy/*.env and the README table agree with it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from gatenet.server.config import load_settings, setting_names
from gatenet.server.variables import OTHER_PREFIXES, OTHER_VARIABLES

REPO = Path(__file__).resolve().parents[2]
# Names written wrong on purpose, to show or test the refusal of a misspelled variable (this
# file's own examples below are such names too).
MISSPELLED_ON_PURPOSE = {"GATENET_PROT"}
THIS_FILE = "tests/project/test_settings_sources.py"
_NAME = re.compile(r"\bGATENET_[A-Z0-9_]*[A-Z0-9]_?(?![A-Za-z0-9<])")


def _repo_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [REPO / name for name in listed if (REPO / name).is_file() and name != THIS_FILE]


def _mentions() -> dict[str, set[str]]:
    """Every GATENET_* name the repo's text files mention, with the files that do."""
    found: dict[str, set[str]] = {}
    for path in _repo_files():
        try:
            text = path.read_text()
        except (UnicodeDecodeError, OSError):
            continue
        for name in _NAME.findall(text):
            found.setdefault(name, set()).add(str(path.relative_to(REPO)))
    return found


def test_every_gatenet_variable_the_repo_mentions_is_known():
    known = setting_names() | set(OTHER_VARIABLES) | MISSPELLED_ON_PURPOSE
    unknown = {
        name: sorted(files)
        for name, files in _mentions().items()
        if name not in known
        and not (name.endswith("_") and name in OTHER_PREFIXES)
        and not name.startswith(OTHER_PREFIXES)
    }
    assert not unknown, f"not settings nor in config.OTHER_VARIABLES: {unknown}"


def test_every_other_variable_is_used_outside_the_allow_list():
    mentions = _mentions()
    unused = [
        name
        for name in OTHER_VARIABLES
        if not mentions.get(name, set()) - {"server/variables.py", "deploy/env.example"}
    ]
    assert not unused, f"allowed but read by nothing: {unused}"


def test_the_generated_files_are_fresh():
    """deploy/gatenet.env, deploy/env.example and the README table are the generator's output."""
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "settings_docs.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _env_file_lines(path: Path, uncomment: bool) -> dict[str, str]:
    pattern = r"^(?:# )?(GATENET_[A-Z0-9_]+)=(.*)$" if uncomment else r"^(GATENET_[A-Z0-9_]+)=(.*)$"
    return dict(re.findall(pattern, path.read_text(), re.M))


def test_every_line_of_the_env_file_starts_the_server_when_uncommented():
    """The container must not restart-loop on a line the file itself offers."""
    environ = _env_file_lines(REPO / "deploy" / "gatenet.env", uncomment=True)
    assert "GATENET_MAX_MODELS" in environ and "GATENET_GRACE_SECONDS" in environ
    load_settings([], environ)


def test_the_compose_variables_are_accepted_by_the_server():
    """A shell that exported deploy/env.example still runs `gatenet serve`."""
    environ = _env_file_lines(REPO / "deploy" / "env.example", uncomment=False)
    assert "GATENET_TORCH_WHEELS" in environ
    compose = (REPO / "docker-compose.yml").read_text()
    for name in set(re.findall(r"\$\{(GATENET_[A-Z0-9_]+)", compose)) - setting_names():
        assert name in environ, f"{name}: docker-compose.yml reads it, env.example lacks it"
    load_settings([], environ)


@pytest.mark.parametrize(
    ("name", "suggestion"),
    [
        ("GATENET_PROT", "GATENET_PORT"),
        ("GATENET_MAX_MODEL", "GATENET_MAX_MODELS"),
        ("GATENET_LOGLEVEL", "GATENET_LOG_LEVEL"),
        ("GATENET_WORKERS", "GATENET_TRAINING_WORKERS"),
        ("GATENET_TLS_CA", "GATENET_TLS_CLIENT_CA"),
        ("GATENET_TAGRET", "GATENET_TARGET"),
        ("GATENET_REQUEST_THREADS", None),
        ("GATENET_STOREY_TELLER", None),
        ("GATENET_METRICS", None),
    ],
)
def test_did_you_mean_suggests_only_close_names(name, suggestion):
    with pytest.raises(ValueError) as refused:
        load_settings([], {name: "1"})
    message = str(refused.value)
    assert message.startswith(f"{name} is not a gatenet setting")
    if suggestion is None:
        assert "did you mean" not in message, message
    else:
        assert message.endswith(f"did you mean {suggestion}?"), message
