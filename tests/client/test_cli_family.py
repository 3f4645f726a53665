"""`gatenet family` and Client.train_family through the real server: the capacity table."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from gatenet.client import Client, ClientError
from gatenet.client.family import Family, FamilyProgress
from gatenet_testing.cli_run import run_main


def gatenet(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the gatenet command in a fresh interpreter, as a user does."""
    return subprocess.run(
        [sys.executable, "-m", "gatenet.client", *args], capture_output=True, text=True, timeout=240
    )


def family_json(server, *args: str) -> dict:
    done = gatenet("--target", server.target, "family", *args, "--seed", "0", "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_3_inputs_at_width_0_fit_the_104_separable_functions(server):
    got = family_json(server, "--inputs", "3", "--widths", "0-0", "--name", "cli-fam3-w0")
    assert (got["name"], got["inputs"], got["functions"], got["fit"]) == (
        "cli-fam3-w0",
        3,
        256,
        104,
    )
    assert got["fit_by_width"] == {"0": 104} and got["seconds"] > 0
    assert len(got["members"]) == 256
    xor3 = next(m for m in got["members"] if m["table"] == "01101001")
    assert xor3["width"] is None and xor3["margin"] < 0


def test_2_inputs_fit_14_at_width_0_and_all_16_by_width_2(server):
    got = family_json(server, "--inputs", "2", "--widths", "0-0", "--name", "cli-fam2-w0")
    assert (got["functions"], got["fit"]) == (16, 14)
    got = family_json(server, "--inputs", "2", "--name", "cli-fam2")  # default widths 0-8
    assert got["fit"] == 16 and got["fit_by_width"] == {"0": 14, "2": 2}


@pytest.mark.slow  # ~3.5 s of training
def test_3_inputs_to_width_4_fit_all_256_with_104_at_width_0(server):
    got = family_json(server, "--inputs", "3", "--widths", "0-4", "--name", "cli-fam3")
    assert got["fit"] == 256 and got["fit_by_width"]["0"] == 104
    assert sum(got["fit_by_width"].values()) == 256
    classes = family_json(
        server, "--inputs", "3", "--widths", "0-4", "--classes", "--name", "cli-fam3-npn"
    )
    assert classes["fit"] == 256 and classes["fit_by_width"]["0"] == 104
    assert classes["classes"] == 14


def test_human_capacity_table_and_listed_tables(server, capsys):
    code, out, err = run_main(
        capsys,
        *("--target", server.target, "family", "--inputs", "2", "--widths", "0-2"),
        *("--tables", "0,1,1,0", "0001", "--name", "cli-fam-list", "--seed", "1"),
    )
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("family cli-fam-list: 2 of 2 functions of 2 inputs fit")
    assert lines[1].split() == ["width", "fit", "total"]
    assert [line.split() for line in lines[2:]] == [
        ["0", "1", "1"],
        ["1", "0", "1"],
        ["2", "1", "2"],
        ["none", "0"],
    ]


def test_client_train_family_streams_progress(client):
    seen: list[FamilyProgress] = []
    family = client.train_family(
        2, "api-fam2", widths=(0, 3), classes=True, seed=0, on_progress=seen.append
    )
    assert isinstance(family, Family)
    assert family.fit == 16 and family.classes == 4 and family.fit_by_width == {0: 14, 2: 2}
    assert family.recipe["restarts"] == 4 and family.recipe["method"] == "METHOD_MANUAL"
    assert {m.table: m.width for m in family.members}["0110"] == 2
    assert seen and all(p.trained == 4 for p in seen)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"inputs": 5}, "inputs: 5 is outside 1..4"),
        ({"tables": ["0,1,1"]}, "tables[0]: '0,1,1' has 3 outputs; 2 inputs need 4"),
        ({"widths": (3, 1)}, "width_min: 3 is above width_max 1"),
        ({"widths": (0, 5000)}, "width_max: 5000 exceeds the limit 1024"),
        ({"method": "perceptron"}, "recipe.method: 'perceptron'; a family trains with manual"),
        ({"schedule": "online"}, "recipe.schedule: 'online'; a family trains full_batch"),
        ({"steps": 0}, "steps"),
    ],
)
def test_bad_family_requests_name_the_field(client, options, message):
    inputs = options.pop("inputs", 2)
    with pytest.raises(ClientError) as err:
        client.train_family(inputs, "bad-fam", **options)
    assert err.value.code == "INVALID_ARGUMENT"
    assert message in err.value.message


def test_a_family_needs_a_name_without_a_slash(client):
    for name, message in (("", "name: is empty"), ("a/b", "name: 'a/b' has a '/'")):
        with pytest.raises(ClientError) as err:
            client.train_family(2, name)
        assert err.value.code == "INVALID_ARGUMENT" and message in err.value.message


def _trainings(srv, task: str, outcome: str) -> float:
    return sum(
        s.value
        for metric in srv.prometheus_registry.collect()
        for s in metric.samples
        if s.name == "gatenet_trainings_total"
        and s.labels.get("task") == task
        and s.labels.get("outcome") == outcome
    )


def test_leaving_the_stream_cancels_the_family_and_frees_the_worker(make_server):
    srv = make_server(training_workers=1, max_trainings_per_client=1)
    with Client(srv.target) as c:
        events = c.train_family_stream(4, "fam4-cancelled", widths=(0, 8), seed=0)
        assert isinstance(next(events), FamilyProgress)  # the worker has begun
        events.close()  # the caller stops: the call is cancelled
        end = time.monotonic() + 30  # the server's own state says when (no event does)
        while srv.pool.in_flight:
            assert time.monotonic() < end, "the family was not cancelled"
            time.sleep(0.005)
        # The one worker and the client's one training in flight are free again.
        info = c.train(gate="xor", seed=0, timeout=60)
        assert info.fit
    assert _trainings(srv, "family", "cancelled") == 1


@pytest.mark.slow
@pytest.mark.timed
def test_the_family_cap_ends_the_search_with_what_fit(make_server):
    srv = make_server(max_family_seconds=0.3)
    with Client(srv.target) as c:  # 3 inputs, widths 0-8: seconds of work at the least
        family = c.train_family(3, "fam3-capped", widths=(0, 8), seed=0, timeout=60)
    assert family.stopped_by == "time" and 0 <= family.fit < family.functions
    assert family.seconds < 1.3  # stopped short of the cap, not killed a second past it


@pytest.mark.slow
@pytest.mark.timed
def test_a_family_longer_than_a_connection_age_and_a_train_cap_finishes(make_server):
    # The connection's grace after max-connection-age is the longest cap of a call: before,
    # --max-train-seconds cut every TrainFamily running past age + 0.2 s with UNAVAILABLE.
    srv = make_server(max_connection_age=0.2, max_train_seconds=0.2)
    with Client(srv.target, timeout=120) as c:
        family = c.train_family(3, "fam3-long", widths=(0, 4), seed=0)
    assert family.fit == 256 and family.seconds > 0.4


def test_the_async_client_trains_and_reads_a_family(server):
    import asyncio

    from gatenet.client import AsyncClient

    async def main() -> tuple[Family, Family]:
        async with AsyncClient(server.target, timeout=120) as c:
            seen: list[FamilyProgress] = []
            trained = await c.train_family(
                2, "async-fam2", widths=(0, 2), seed=0, on_progress=seen.append
            )
            assert seen
            return trained, await c.get_family("async-fam2")

    trained, read = asyncio.run(main())
    assert trained.fit == read.fit == 16 and read.fit_by_width == {0: 14, 2: 2}
