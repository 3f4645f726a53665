"""One vocabulary (gatenet.vocabulary): the names and rules both sides use, written once and
agreed on through the real server, the client and the `gatenet` command."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pytest
from google.protobuf import wrappers_pb2

from gatenet.client import Client, cli
from gatenet.client.cli import tasks
from gatenet.server.training import spec
from gatenet.v1 import gatenet_pb2 as pb
from gatenet.vocabulary import enums, gates, layers, wire

ROOT = Path(__file__).resolve().parents[2]


def test_every_gate_trains_on_the_server_and_the_client_rebuilds_its_rows(client: Client):
    for name in gates.GATE_NAMES:
        info = client.train(gate=name.upper(), steps=1, restarts=1, seed=0)
        rows, targets = tasks.training_rows(info.spec, info.num_inputs)
        rule = gates.gate(name)
        assert rule is not None and info.num_inputs == rule.natural, name
        np.testing.assert_array_equal(rows, gates.table_inputs(rule.natural))
        np.testing.assert_array_equal(targets, gates.gate_targets(rule, rows))


def test_the_command_offers_the_gates_and_options_the_server_takes(client: Client, capsys):
    parser = cli.build_parser()
    train = parser._subparsers._group_actions[0].choices["train"]  # type: ignore[union-attr]
    offered = {a.dest: a.choices for a in train._actions if a.choices}
    assert tuple(offered["activation"]) == layers.ACTIVATIONS == enums.choices("activation")
    for option in enums.ENUMS:
        assert tuple(offered[option]) == enums.choices(option), option
    assert gates.GATE_NAMES[-1] in train.format_help()
    for activation in layers.ACTIVATIONS:
        code = cli.main(
            ["--target", client.target, "--json", "train", "--gate", "nimply"]
            + ["--activation", activation, "--steps", "1", "--restarts", "1"]
        )
        info = json.loads(capsys.readouterr().out)
        assert code == 0 and info["spec"]["network"]["activation"] == enums.full_name(
            "activation", activation
        )
        weights = client.get_weights(info["model_id"])
        assert weights.activation == activation
        assert list(weights.tensors) == layers.parameter_names(2)


@pytest.mark.parametrize("n", [1, 127, 128, 300, 2**32 - 1, 2**63 - 1, -1, -(2**63)])
def test_the_varint_writer_writes_what_protobuf_writes(n: int):
    assert (
        wire.tag(1, wire.VARINT) + wire.varint(n)
        == wrappers_pb2.Int64Value(value=n).SerializeToString()
    )
    payload = b"x" * (1 + abs(n) % 300)  # proto3 writes no field that holds its default
    assert (
        wire.length_delimited(1, payload)
        == pb.PredictRequest(model=payload.decode()).SerializeToString()
    )


def test_the_training_cores_names_are_the_protos():
    # The training core knows no proto; its option names must still be the enums' short names.
    assert spec.ACTIVATIONS == enums.choices("activation")
    assert spec.METHODS == enums.choices("method") and spec.LOSSES == enums.choices("loss")
    assert spec.REDUCTIONS == enums.choices("reduction") and spec.INITS == enums.choices("init")
    assert spec.OPTIMIZERS == enums.choices("optimizer")
    assert spec.SCHEDULES == enums.choices("schedule")


def test_enum_names_both_ways():
    assert enums.enum_value("activation", "tanh") == pb.ACTIVATION_TANH
    assert enums.enum_value("schedule", "mini-batch") == pb.SCHEDULE_MINI_BATCH
    assert enums.enum_name("init", pb.INIT_SCALED_NORMAL) == "scaled_normal"
    assert enums.enum_name("loss", 0) == ""
    with pytest.raises(ValueError, match="optimizer: 'adamw' is not one of sgd, adam"):
        enums.enum_value("optimizer", "adamw")


# The vocabulary's names, and the literals that would mean a second copy of one of its rules.
_DEFINED = {
    "table_inputs",
    "GATES",
    "_GATES",
    "GATE_NAMES",
    "varint",
    "_varint",
    "ENUMS",
    "_ENUMS",
    "file_checksum",
}
_LITERALS = {("sigmoid", "tanh", "relu")}


def _copies(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names: list[str] = []
        if isinstance(node, ast.FunctionDef):
            names = [node.name]
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = [t.id for t in targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.Tuple | ast.List) and all(
            isinstance(e, ast.Constant) for e in node.elts
        ):
            if tuple(e.value for e in node.elts) in _LITERALS:  # type: ignore[attr-defined]
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {ast.unparse(node)}")
        found += [f"{path.relative_to(ROOT)}:{node.lineno} {n}" for n in names if n in _DEFINED]
    return found


def test_no_second_copy_outside_the_vocabulary():
    files = [p for d in ("server", "client", "tests", "bench") for p in (ROOT / d).rglob("*.py")]
    copies = [c for p in files if p.name != Path(__file__).name for c in _copies(p)]
    assert copies == []
