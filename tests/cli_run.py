"""The `gatenet` command run in-process, as the CLI tests drive it."""

from __future__ import annotations

import pytest

from gatenet.client import cli


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run cli.main in-process: (exit code, stdout, stderr)."""
    try:
        code = cli.main(list(args))
    except SystemExit as exc:  # argparse usage errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err
