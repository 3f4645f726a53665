"""The fuzz's calls drawn by Hypothesis: a call that gets a wrong answer shrinks to a minimal one.

FuzzRequests takes its random choices from Hypothesis here (st.randoms without true
randomness), so a failure is replayed with fewer and smaller draws until it is minimal:
the assertion message is that call's reproducer (path, mutation, bodies in hex).
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gatenet.server.app import GatenetServer
from gatenet_testing.fuzz import auth as fuzz_auth
from gatenet_testing.fuzz import calls, generator, lifecycle, runner
from gatenet_testing.servers import start_server

pytestmark = pytest.mark.slow  # trains the models the calls refer to

Prepared = tuple[GatenetServer, calls.Targets]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prepared]:
    """A server with auth on and the models the calls refer to, for every example."""
    tokens = tmp_path_factory.mktemp("fuzz") / "tokens"
    tokens.write_text(fuzz_auth.TOKENS_FILE)
    srv = start_server(tokens_file=str(tokens))
    targets, _ = lifecycle.prepare(srv.target, fuzz_auth.ADMIN)
    yield srv, targets
    srv.stop(0)


def _clean(prepared: Prepared, rng: random.Random) -> None:
    srv, targets = prepared
    call = generator.FuzzRequests(rng, targets, auth=True).next()
    (outcome,) = runner.run(srv.target, iter([call]), concurrency=1)
    assert not outcome.finding, f"{outcome.finding}\n{outcome.reproducer}"


# Derandomized, as the seeded fuzz is: the same examples each run. database=None: nothing
# kept in .hypothesis/ (the tree stays clean).
SETTINGS = settings(
    derandomize=True,
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@SETTINGS
@given(rng=st.randoms(use_true_random=False))
def test_any_drawn_call_gets_a_clean_answer(prepared: Prepared, rng: random.Random) -> None:
    _clean(prepared, rng)


def test_a_wrong_answer_shrinks_to_a_minimal_reproducer(
    prepared: Prepared, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A planted fault (any OK answer to a body) is reported as a call shrunk from the first
    one that failed: smaller, after more failing tries than one."""
    failing: list[int] = []  # total body bytes of each call that hit the fault, in order

    def planted(call: calls.Call, code: str, details: str, responses: list[bytes]) -> str:
        size = sum(len(b) for b in call.bodies)
        if code != "OK" or size == 0:
            return ""
        failing.append(size)
        return "planted"

    monkeypatch.setattr(runner, "_finding", planted)
    with pytest.raises(AssertionError, match="planted") as err:
        SETTINGS(given(rng=st.randoms(use_true_random=False))(_clean))(prepared)
    reported = sum(map(int, re.search(r"bytes=\[([\d, ]+)\]", str(err.value))[1].split(",")))
    assert len(failing) > 1 and reported < failing[0], (reported, failing[:20])
