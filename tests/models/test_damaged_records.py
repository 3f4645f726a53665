"""Damaged records in a real SQLite file, edited underneath a stopped server: each is skipped at
start-up, answered DATA_LOSS naming its model, marked in listings, counted once and deletable;
the other models never notice."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from safetensors.numpy import save

from gatenet.client import Client, ClientError
from gatenet.client.cli.render import models_table
from gatenet.server.app import GatenetServer
from gatenet.v1 import gatenet_pb2 as pb
from gatenet.v1 import gatenet_pb2_grpc as pb_grpc
from gatenet_testing.damaged_records import (
    EDITS,
    flip_bit,
    rewrite,
    swap_tensors,
    unknown_activation,
)

ROWS = [[0, 0], [0, 1], [1, 0], [1, 1]]


@pytest.fixture
def sqlite_server(tmp_path: Path, make_server) -> Iterator[Callable[..., GatenetServer]]:
    """Start servers on one data dir, one at a time (starting one stops the one before)."""
    data = tmp_path / "data"
    running: list[GatenetServer] = []

    def start(**overrides: object) -> GatenetServer:
        for old in running:
            old.stop(0)
        running.append(make_server(store="sqlite", data_dir=str(data), **overrides))
        return running[-1]

    start.data = data  # type: ignore[attr-defined]
    yield start


def _corrupt_count(srv: GatenetServer) -> float:
    value = srv.prometheus_registry.get_sample_value(
        "gatenet_store_errors_total", {"kind": "corrupt"}
    )
    return value or 0.0


def _code(call: Callable[[], object], what: str = "") -> tuple[str, str]:
    with pytest.raises(ClientError) as err:
        call()
        pytest.fail(f"{what}: answered OK")
    return err.value.code, err.value.message


def _train_models(srv: GatenetServer, names: list[str]) -> dict[str, str]:
    with Client(srv.target, timeout=60) as c:
        return {
            name: c.train(gate="xor", name=name, seed=i).model_id for i, name in enumerate(names)
        }


def test_each_damaged_record_is_skipped_named_marked_counted_once_and_deletable(sqlite_server):
    data = sqlite_server.data
    srv = sqlite_server()
    names = ["good", *[f"bad{i}" for i in range(len(EDITS))]]
    ids = _train_models(srv, names)
    with Client(srv.target) as c:
        expected = c.predict("good", ROWS).probabilities.tolist()
    srv.stop(0)
    damaged = {}
    for i, (what, edit) in enumerate(EDITS.items()):
        rewrite(data, ids[f"bad{i}"], edit)
        damaged[ids[f"bad{i}"]] = what

    srv = sqlite_server()  # warms every model: a damaged one must not stop start-up
    with Client(srv.target, timeout=30, retries=0) as c:
        assert c.health() == "SERVING"
        assert c.predict("good", ROWS).probabilities.tolist() == expected
        for model_id, what in damaged.items():
            for call in (
                lambda m=model_id: c.get_model(m),
                lambda m=model_id: c.get_weights(m),
                lambda m=model_id: c.predict(m, ROWS),
            ):
                code, message = _code(call, what)
                assert code == "DATA_LOSS", (what, code, message)
                assert model_id in message, (what, message)
        listed = _list(srv.target)
        assert [m.model_id for m in listed] == list(ids.values()), "a listing lost a model"
        marks = {m.model_id: m.damage for m in listed}
        assert marks[ids["good"]] == ""
        for model_id, what in damaged.items():  # warm-up read each whole: all are known
            assert marks[model_id], f"{what}: not marked in ListModels"
        assert [m.model_id for m in c.list_models(page_size=1)] == list(ids.values())
        seen = c.list_models()
        assert {m.model_id: m.damage for m in seen} == marks, "the client drops the mark"
        table = models_table(seen).splitlines()
        for model_id in damaged:  # `gatenet models` says which rows are damaged
            assert "DAMAGED" in next(line for line in table if line.startswith(model_id))
        assert "DAMAGED" not in next(line for line in table if line.startswith(ids["good"]))
        index = {m.name: (m.state, m.reason) for m in _repository_index(srv.target)}
        for i, what in enumerate(EDITS):
            state, reason = index[f"bad{i}"]
            assert state == "UNAVAILABLE" and reason, what
        assert index["good"] == ("READY", "")
        assert _corrupt_count(srv) == len(damaged), "each damaged record counts once"
        # Item 9: a damaged record can be deleted, by id and by name.
        for i, model_id in enumerate(damaged):
            ref = model_id if i % 2 else f"bad{i}"
            assert c.delete_model(ref) == model_id
            assert _code(lambda m=model_id: c.get_model(m))[0] == "NOT_FOUND"
        assert [m.model_id for m in c.list_models()] == [ids["good"]]
        assert c.train(gate="and", name="bad0").name == "bad0", "the name is free again"


def _repository_index(target: str) -> list[Any]:
    import grpc

    from gatenet.inference import grpc_service_pb2 as v2
    from gatenet.inference import grpc_service_pb2_grpc as v2_grpc

    with grpc.insecure_channel(target) as channel:
        stub = v2_grpc.GRPCInferenceServiceStub(channel)
        return list(stub.RepositoryIndex(v2.RepositoryIndexRequest(), timeout=30).models)


def _list(target: str, **fields: Any) -> list[pb.ModelInfo]:
    import grpc

    with grpc.insecure_channel(target) as channel:
        stub = pb_grpc.GateServiceStub(channel)
        return list(stub.ListModels(pb.ListModelsRequest(**fields), timeout=30).models)


def test_the_damaged_records_log_says_so_once(sqlite_server, caplog):
    data = sqlite_server.data
    srv = sqlite_server()
    ids = _train_models(srv, ["a", "b"])
    srv.stop(0)
    rewrite(data, ids["b"], unknown_activation)
    with caplog.at_level("WARNING", logger="gatenet.server"):
        srv = sqlite_server()
        with Client(srv.target, retries=0) as c:
            for _ in range(3):
                _code(lambda: c.predict("b", ROWS))
                c.list_models()
    lines = [r for r in caplog.records if ids["b"] in str(getattr(r, "fields", ""))]
    assert len(lines) == 1, [r.getMessage() for r in lines]


@pytest.mark.parametrize("damage", ["flipped bit", "another model's tensors"])
def test_damaged_bytes_are_data_loss_never_a_changed_answer(sqlite_server, damage):
    data = sqlite_server.data
    srv = sqlite_server()
    with Client(srv.target, timeout=60) as c:
        victim = c.train(gate="xor", name="victim").model_id
        donor = c.import_model(_three_input_file()).model_id
    srv.stop(0)
    if damage == "flipped bit":
        flip_bit(data, victim)
    else:
        swap_tensors(data, victim, donor)
    srv = sqlite_server(warm_models=0)
    with Client(srv.target, retries=0) as c:
        code, message = _code(lambda: c.predict(victim, ROWS))
        assert code == "DATA_LOSS" and victim in message, message
        assert "checksum" in message
        assert c.predict(donor, [[0, 1, 1]]).labels.shape == (1,)


def _three_input_file() -> bytes:
    rng = np.random.default_rng(3)
    tensors = {
        "layers.0.weight": rng.normal(size=(3, 4)).astype(np.float32),
        "layers.0.bias": rng.normal(size=4).astype(np.float32),
        "layers.1.weight": rng.normal(size=(4, 1)).astype(np.float32),
        "layers.1.bias": rng.normal(size=1).astype(np.float32),
    }
    return save(tensors, metadata={"activation": "tanh"})
