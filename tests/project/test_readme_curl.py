"""The README's curl block is a tested document: each command, run against a real
`gatenet serve` and its HTTP port, succeeds and prints what the README shows (ids and floats
aside): curl alone trains, predicts, lists and deletes through /v1/<Method>."""

from __future__ import annotations

import pytest

from gatenet_testing.e2e_support import find_tool
from gatenet_testing.readme_curl import README_URL, curl_block, curl_server
from gatenet_testing.readme_session import ID, environment, mismatch, run, steps

pytestmark = pytest.mark.slow  # a server process and eight curl commands: ~5 s


def test_the_readme_curl_block_runs_as_shown():
    find_tool("curl")
    find_tool("jq")  # it only trims long answers for the README
    block = steps(curl_block())
    assert block[0].command == f"export URL={README_URL}"
    methods = {"Train", "Predict", "TrainStream", "ListModels", "DeleteModel"}
    assert all(any(f"/v1/{m} " in s.command for s in block) for m in methods)
    with curl_server() as (url, cwd):
        env = environment("")
        ids: dict[str, str] = {}
        for step in block:
            if step.command.startswith("export "):
                name, _, value = step.command.removeprefix("export ").partition("=")
                env[name] = value.replace(README_URL, url)
                continue
            command = ID.sub(lambda m: ids.get(m.group(), m.group()), step.command)
            result = run(command, cwd, env)
            assert result.returncode == 0, f"$ {command}\n{result.stdout}"
            why = mismatch(step.shown, result.stdout.splitlines(), ids)
            assert why is None, f"$ {command}\n{why}\n--- got:\n{result.stdout}"
