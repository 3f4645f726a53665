"""The README's curl block (gatenet's RPCs over HTTP/JSON) as data, run for real.

tests/project/test_readme_curl.py runs each command against a real `gatenet serve` in a fresh
temporary directory and holds its output to the shape shown (readme_session.py's rules: ids,
times and floats aside). To refresh the block after a change, print a real transcript and
paste it over the old one:

    .venv/bin/python -m gatenet_testing.readme_curl
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gatenet_testing.readme_session import ID, README, environment, run, steps
from gatenet_testing.serve_process import ServeProcess, free_port

HEADING = "\n## gatenet's RPCs over HTTP/JSON\n"
README_URL = "http://127.0.0.1:8080"  # what the block exports; the test's server is elsewhere


def curl_block(text: str | None = None) -> str:
    """The first fenced block under the heading."""
    text = README.read_text() if text is None else text
    section = text.split(HEADING, 1)[1]
    return section.split("```\n", 2)[1]


@contextmanager
def curl_server() -> Iterator[tuple[str, Path]]:
    """A `gatenet serve` process with its HTTP port, and a fresh directory to run curl in."""
    with tempfile.TemporaryDirectory(prefix="gatenet-curl-") as tmp:
        http = free_port()
        data = str(Path(tmp) / "gatenet-data")
        server = ServeProcess("--http-port", str(http), "--data-dir", data).start()
        try:
            yield f"http://127.0.0.1:{http}", Path(tmp)
        finally:
            server.stop()


def transcript() -> str:
    """Run the README's curl block for real and return it as it should read."""
    out: list[str] = []
    with curl_server() as (url, cwd):
        env = environment("")
        ids: dict[str, str] = {}  # README id -> this run's, paired in order of appearance
        for step in steps(curl_block()):
            command = step.command
            if command.startswith("export "):
                name, _, value = command.removeprefix("export ").partition("=")
                env[name] = value.replace(README_URL, url)
                out.append(f"$ {command}")
                continue
            command = ID.sub(lambda m: ids.get(m.group(), m.group()), command)
            result = run(command, cwd, env)
            shown = [i for i in dict.fromkeys(ID.findall("\n".join(step.shown))) if i not in ids]
            made = [i for i in dict.fromkeys(ID.findall(result.stdout)) if i not in ids.values()]
            ids.update(zip(shown, made, strict=False))
            out.append(f"$ {command}")
            out.extend(result.stdout.replace(url, README_URL).splitlines())
    return "\n".join(out)


if __name__ == "__main__":
    print(transcript())
