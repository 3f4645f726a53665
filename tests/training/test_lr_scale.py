"""Per-tensor learning-rate factors (learning_rate_scale): 0 freezes a tensor, any other factor
is a torch.optim parameter group of lr x factor; validated, stored, repeated bit-equal."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from gatenet.client import Client, ClientError
from gatenet.server.training.family.batch import train_tables
from gatenet.server.training.recipe import resolve
from gatenet.server.training.spec import Limits, TrainSpec
from gatenet.server.training.tasks import truth_table_task
from gatenet.v1 import gatenet_pb2 as pb
from gatenet.v1 import gatenet_pb2_grpc as pb_grpc
from gatenet_testing.cli_run import run_main

X = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
Y = torch.tensor([0.0, 1.0, 1.0, 0.0])
START = {
    "layers.0.weight": [[0.5, -0.4, 0.3], [-0.2, 0.6, -0.7]],
    "layers.0.bias": [0.1, -0.3, 0.25],
    "layers.1.weight": [[0.8], [-0.5], [0.4]],
    "layers.1.bias": [-0.15],
}
RECIPE = {
    "gate": "xor",
    "hidden_sizes": [3],
    "activation": "sigmoid",
    "loss": "bce",
    "reduction": "mean",
    "schedule": "full_batch",
    "steps": 60,
    "early_stop": False,
    "initial_weights": START,
    "restarts": 1,
}


def oracle(
    optimizer: str, lr: float, scales: dict[str, float], steps: int
) -> dict[str, np.ndarray]:
    """A plain torch loop: one nn-style parameter per tensor, torch.optim param groups."""
    params = {name: torch.tensor(value, requires_grad=True) for name, value in START.items()}
    groups = [{"params": [p], "lr": lr * scales.get(n, 1.0)} for n, p in params.items()]
    opt = torch.optim.Adam(groups, lr=lr) if optimizer == "adam" else torch.optim.SGD(groups, lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        hidden = torch.sigmoid(X @ params["layers.0.weight"] + params["layers.0.bias"])
        p = torch.sigmoid(hidden @ params["layers.1.weight"] + params["layers.1.bias"])[:, 0]
        torch.nn.functional.binary_cross_entropy(p, Y).backward()
        opt.step()
    return {name: p.detach().numpy() for name, p in params.items()}


@pytest.mark.parametrize("method", ["manual", "autograd"])
@pytest.mark.parametrize(("optimizer", "lr"), [("sgd", 1.0), ("adam", 0.05)])
def test_factors_are_torch_optim_parameter_groups(client: Client, method, optimizer, lr) -> None:
    scales = {"layers.0.bias": 0.0, "layers.1.weight": 0.25, "layers.1.bias": 3.0}
    info = client.train(
        **RECIPE, method=method, optimizer=optimizer, learning_rate=lr, learning_rate_scale=scales
    )
    got = client.get_weights(info).tensors
    want = oracle(optimizer, lr, scales, 60)
    for name in START:
        np.testing.assert_allclose(got[name], want[name], rtol=0, atol=2e-6, err_msg=name)
    # Frozen is exact: not a value that drifted by rounding, the very starting float32.
    assert got["layers.0.bias"].tolist() == np.float32(START["layers.0.bias"]).tolist()
    # ...and the factors mattered: the plain recipe lands elsewhere.
    plain = client.get_weights(client.train(**RECIPE, method=method, optimizer=optimizer,
                                            learning_rate=lr)).tensors  # fmt: skip
    assert not np.allclose(plain["layers.0.bias"], got["layers.0.bias"])


def test_the_perceptron_rule_takes_factors_too(client: Client) -> None:
    start = {"layers.0.weight": [[0.0], [0.0]], "layers.0.bias": [1.5]}
    info = client.train(
        gate="nand", method="perceptron", initial_weights=start,
        learning_rate_scale={"layers.0.bias": 0}, steps=20, early_stop=False,
    )  # fmt: skip
    weights = client.get_weights(info).tensors
    assert weights["layers.0.bias"].tolist() == [1.5]  # frozen; the weights alone learn NAND
    assert info.fit and np.all(weights["layers.0.weight"] < 0)


def test_factors_are_stored_and_the_stored_spec_trains_bit_equal(server, open_channel) -> None:
    stub = pb_grpc.GateServiceStub(open_channel(server.target))
    first = stub.Train(
        pb.TrainRequest(
            gate=pb.GateTask(name="xor"),
            network=pb.Network(hidden_sizes=[3]),
            learning_rate_scale={
                "layers.1.bias": 0.0,
                "layers.0.weight": 0.5,
                "layers.1.weight": 1,
            },
            steps=200,
        )
    )
    spec = stub.GetModel(pb.GetModelRequest(model=first.model_id)).spec
    # Factors of 1 say nothing and are dropped; the rest are kept in the network's order.
    assert list(spec.learning_rate_scale.items()) == [
        ("layers.0.weight", 0.5),
        ("layers.1.bias", 0.0),
    ]
    again = stub.Train(spec)
    a, b = (stub.GetWeights(pb.GetWeightsRequest(model=m.model_id)).tensors for m in (first, again))
    assert [t.SerializeToString() for t in a] == [t.SerializeToString() for t in b]


@pytest.mark.parametrize(
    ("scales", "message"),
    [
        (
            {"layers.2.bias": 0},
            "learning_rate_scale[layers.2.bias]: is not a parameter; expected layers.0.weight,"
            " layers.0.bias, layers.1.weight, layers.1.bias",
        ),
        (
            {"layers.0.bias": -0.5},
            "learning_rate_scale[layers.0.bias]: -0.5 is not a finite factor >= 0",
        ),
        (
            {"layers.0.bias": float("nan")},
            "learning_rate_scale[layers.0.bias]: nan is not a finite",
        ),
        (
            {"layers.0.bias": float("inf")},
            "learning_rate_scale[layers.0.bias]: inf is not a finite",
        ),
        (
            {"layers.1.weight": 2000.0},
            "learning_rate_scale[layers.1.weight]: 2000.0 x learning_rate 1.0 = 2000.0 exceeds"
            " the limit 1000.0",
        ),
        (
            dict.fromkeys(
                ["layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias"], 0
            ),
            "learning_rate_scale: freezes every tensor (all 0): nothing trains",
        ),
    ],
)
def test_bad_factors_are_invalid_arguments_naming_the_bound(
    client: Client, scales, message
) -> None:
    with pytest.raises(ClientError) as err:
        client.train(gate="xor", hidden_sizes=[2], optimizer="sgd", learning_rate=1.0,
                     learning_rate_scale=scales)  # fmt: skip
    assert err.value.code == "INVALID_ARGUMENT"
    assert message in err.value.message


def test_a_family_recipe_checks_and_echoes_its_factors(client: Client) -> None:
    with pytest.raises(ClientError) as err:
        client.train_family(2, "fam-bad-scale", widths=(0, 2),
                            learning_rate_scale={"layers.2.weight": 0})  # fmt: skip
    assert err.value.code == "INVALID_ARGUMENT"
    assert "learning_rate_scale[layers.2.weight]: is not a parameter; " in err.value.message
    assert "expected layers.0.weight, layers.0.bias, layers.1.weight, layers.1.bias" in (
        err.value.message
    )
    family = client.train_family(2, "fam-scale", widths=(0, 2), seed=0,
                                 learning_rate_scale={"layers.1.weight": 0.5})  # fmt: skip
    assert family.recipe["learning_rate_scale"] == {"layers.1.weight": 0.5}
    assert family.fit == 16  # width 0 ignores layers.1.*; width 2 trains it at half the rate


def test_the_family_engine_freezes_a_tensor_in_every_function() -> None:
    limits = Limits()
    spec = TrainSpec(
        truth_table_task(2, [0, 1, 1, 0], limits), hidden_sizes=(2,), method="manual",
        restarts=2, seed=4, steps=300, early_stop=False, learning_rate_scale={"layers.1.bias": 0},
    )  # fmt: skip
    recipe = resolve(spec, limits)
    tables = np.array([[0, 1, 1, 0], [1, 0, 0, 1], [0, 0, 0, 1]], dtype=np.uint8)
    got = train_tables(tables, recipe)
    assert got.fit.sum() >= 2  # trained for real (XNOR with its output bias held at 0 may not)
    # xavier draws a zero bias: every function's output bias is still exactly 0.
    assert np.all(got.weights["layers.1.bias"] == 0.0)
    assert np.any(got.weights["layers.0.bias"] != 0.0)  # the other bias trained


def test_the_cli_flag_freezes_a_bias_and_says_so(server, capsys, tmp_path) -> None:
    start = tmp_path / "start.json"
    start.write_text(json.dumps({"layers.0.weight": [[0.1], [0.2]], "layers.0.bias": [-0.75]}))
    code, out, err = run_main(
        capsys, "--target", server.target, "train", "--gate", "and", "--hidden", "none",
        "--initial-weights", str(start), "--lr-scale", "layers.0.bias=0",
        "--lr-scale", "layers.0.weight=0.5", "--steps", "30", "--no-early-stop", "--json",
    )  # fmt: skip
    assert code == 0, err
    info = json.loads(out)
    assert info["spec"]["learning_rate_scale"] == {"layers.0.weight": 0.5, "layers.0.bias": 0.0}
    with Client(server.target) as client:
        assert client.get_weights(info["model_id"]).tensors["layers.0.bias"].tolist() == [-0.75]
    code, out, _ = run_main(capsys, "--target", server.target, "model", info["model_id"])
    assert code == 0 and "layers.0.bias lr x0" in out and "layers.0.weight lr x0.5" in out
    code, _, err = run_main(
        capsys, "--target", server.target, "train", "--gate", "and", "--lr-scale", "layers.0.bias"
    )
    assert code == 2 and "--lr-scale: 'layers.0.bias' is not NAME=FACTOR" in err
