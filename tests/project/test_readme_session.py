"""The README's session is a tested document: each command, run in a fresh directory against a
real `gatenet serve`, succeeds and prints what the README shows (ids, times, floats aside)."""

from __future__ import annotations

import pytest

from gatenet_testing.readme_session import (
    environment,
    line_pattern,
    mismatch,
    run,
    session_block,
    session_server,
    steps,
)

pytestmark = pytest.mark.slow  # a server process and a dozen commands: ~10 s

FAILS = '; echo "exit $?"'  # a command the session shows failing on purpose


def test_the_readme_session_runs_as_shown():
    session = steps(session_block())
    assert len(session) >= 10 and session[0].command.startswith("export GATENET_TARGET=")
    with session_server() as (server, cwd):
        env = environment(server.target)
        ids: dict[str, str] = {}
        for step in session:
            if step.command.startswith("export "):
                name, _, value = step.command.removeprefix("export ").partition("=")
                env[name] = value.replace("127.0.0.1:50051", server.target)
                continue
            command = step.command
            for readme_id, actual in ids.items():
                command = command.replace(readme_id, actual)
            result = run(command, cwd, env)
            assert result.returncode == 0, f"$ {command}\n{result.stdout}"
            if not command.endswith(FAILS):
                assert "error" not in result.stdout, f"$ {command}\n{result.stdout}"
            why = mismatch(step.shown, result.stdout.splitlines(), ids)
            assert why is None, f"$ {command}\n{why}\n--- got:\n{result.stdout}"


def test_the_shape_check_catches_what_it_should():
    ids: dict[str, str] = {}
    shown = ["model:       da5c545281aa46f38e7f9291d8f42bc6  (xor)", "steps:       30"]
    got = ["model:       0123456789abcdef0123456789abcdef  (xor)", "steps:       30"]
    assert mismatch(shown, got, ids) is None
    assert ids == {"da5c545281aa46f38e7f9291d8f42bc6": "0123456789abcdef0123456789abcdef"}
    assert mismatch(shown, [got[0], "steps:       40"], {}) is not None  # integers are exact
    assert mismatch(shown, got[:1], {}) == "missing line 'steps:       30'"
    assert mismatch(["wrote a (420 bytes)"], ["wrote a (1548 bytes)"], {}) is not None
    assert mismatch(["wrote a (1548 bytes)"], ["wrote a (1552 bytes)"], {}) is None
    assert line_pattern("time:  0.006 s")[0].fullmatch("time:  0.412 s")
