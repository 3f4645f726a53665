"""GATENET_* variables other gatenet programs read, and the known name closest to a typo.

The server refuses an unknown GATENET_* variable (a typo would be silently ignored), so the
names the client, docker-compose.yml and the CI scripts read are listed here; the test of
tests/project/test_settings_sources.py checks every name the repo mentions is a setting or
one of these.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Variable:
    """A GATENET_* variable another program reads: not a server setting, so not a typo either."""

    reader: str  # "client" (the gatenet command), "compose" (docker-compose.yml), "ci", "tests"
    meaning: str  # one line, as deploy/env.example shows it for compose's
    example: str = ""  # the value deploy/env.example gives a compose variable


OTHER_VARIABLES = {
    "GATENET_TARGET": Variable("client", "server address of the gatenet command"),
    "GATENET_TOKEN": Variable("client", "bearer token of the gatenet command"),
    "GATENET_TLS": Variable("client", "the gatenet command speaks TLS (1)"),
    "GATENET_CA": Variable("client", "CA bundle that signed the server's certificate"),
    "GATENET_CERT": Variable("client", "client certificate chain, for mTLS"),
    "GATENET_KEY": Variable("client", "private key of GATENET_CERT"),
    "GATENET_BIND": Variable(
        "compose",
        "Host address the published ports bind to; 0.0.0.0 exposes them on every interface.",
        "127.0.0.1",
    ),
    "GATENET_GRPC_PUBLISH": Variable("compose", "Host port of gRPC.", "50051"),
    "GATENET_HTTP_PUBLISH": Variable(
        "compose", "Host port of HTTP/JSON (V2 REST, /v1/<Method>).", "8080"
    ),
    "GATENET_METRICS_PUBLISH": Variable("compose", "Host port of /metrics.", "8000"),
    "GATENET_IMAGE": Variable(
        "compose", "Image tag the build produces and the service runs.", "gatenet:0.1.0"
    ),
    "GATENET_TORCH_WHEELS": Variable(
        "compose", "Build torch from a wheel in deploy/wheels instead of the PyTorch CPU index."
    ),
    "GATENET_REQUIRE_TOOLS": Variable("tests", "external programs must be present (1)"),
    "GATENET_SHARED_TOOLS": Variable("ci", "folder of dockerd-up/dockerd-down"),
    "GATENET_DOCKERD_DIR": Variable("ci", "dockerd's folder for the container stage"),
}
OTHER_PREFIXES = ("GATENET_CI_", "GATENET_TEST_")  # the CI and test scripts' own knobs


def closest(name: str, known: set[str]) -> str | None:
    """The known name `name` is a typo of (an edit or two), or the one whose words hold all of
    its words; None when nothing is that close (an unrelated guess misleads more than none)."""
    word = name.removeprefix("GATENET_")
    typos = [
        k
        for k in sorted(known)
        if _edits(word, k.removeprefix("GATENET_")) <= (1 if len(word) <= 6 else 2)
    ]
    if typos:
        return min(typos, key=lambda k: _edits(word, k.removeprefix("GATENET_")))
    words = set(word.split("_"))
    wider = [k for k in sorted(known) if words < set(k.removeprefix("GATENET_").split("_"))]
    return wider[0] if len(wider) == 1 else None


def _edits(a: str, b: str) -> int:
    """Edit distance counting a swap of neighbours as one edit (optimal string alignment)."""
    rows = [list(range(len(b) + 1))]
    for i in range(1, len(a) + 1):
        row = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            row[j] = min(rows[-1][j] + 1, row[j - 1] + 1, rows[-1][j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], rows[-2][j - 2] + 1)
        rows.append(row)
    return rows[-1][-1]
