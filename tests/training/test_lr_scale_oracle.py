"""learning_rate_scale against torch.optim's own parameter groups, through the real server;
the stored spec trains bit-equal again; the CLI's --lr-scale end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from gatenet.client import Client
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
SCALES = {"layers.0.bias": 0.0, "layers.1.weight": 0.25, "layers.1.bias": 3.0}


def oracle(optimizer: str, lr: float, steps: int) -> dict[str, np.ndarray]:
    """A plain torch loop: one parameter per tensor, one torch.optim group each."""
    params = {name: torch.tensor(value, requires_grad=True) for name, value in START.items()}
    groups = [{"params": [p], "lr": lr * SCALES.get(n, 1.0)} for n, p in params.items()]
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
def test_factors_step_as_torch_optim_parameter_groups(client: Client, method, optimizer, lr):
    recipe = dict(
        gate="xor", hidden_sizes=[3], activation="sigmoid", loss="bce", reduction="mean",
        steps=60, early_stop=False, initial_weights=START, restarts=1, method=method,
        optimizer=optimizer, learning_rate=lr,
    )  # fmt: skip
    got = client.get_weights(client.train(**recipe, learning_rate_scale=SCALES)).tensors
    want = oracle(optimizer, lr, 60)
    for name in START:
        np.testing.assert_allclose(got[name], want[name], rtol=0, atol=2e-6, err_msg=name)
    assert got["layers.0.bias"].tolist() == np.float32(START["layers.0.bias"]).tolist()
    plain = client.get_weights(client.train(**recipe)).tensors  # the factors mattered
    assert np.abs(plain["layers.1.weight"] - got["layers.1.weight"]).max() > 1e-3


def test_the_stored_spec_with_factors_trains_bit_equal_again(server, open_channel) -> None:
    stub = pb_grpc.GateServiceStub(open_channel(server.target))
    first = stub.Train(
        pb.TrainRequest(
            gate=pb.GateTask(name="xor"),
            network=pb.Network(hidden_sizes=[3]),
            learning_rate_scale={"layers.1.bias": 0.0, "layers.0.weight": 0.5},
            steps=200,
        )
    )
    spec = stub.GetModel(pb.GetModelRequest(model=first.model_id)).spec
    assert dict(spec.learning_rate_scale) == {"layers.0.weight": 0.5, "layers.1.bias": 0.0}
    again = stub.Train(spec)
    a, b = (stub.GetWeights(pb.GetWeightsRequest(model=m.model_id)).tensors for m in (first, again))
    assert [t.SerializeToString() for t in a] == [t.SerializeToString() for t in b]


def test_the_cli_flag_freezes_a_bias_and_the_model_says_so(server, capsys, tmp_path) -> None:
    start = tmp_path / "start.json"
    start.write_text(json.dumps({"layers.0.weight": [[0.1], [0.2]], "layers.0.bias": [-0.75]}))
    code, out, err = run_main(
        capsys, "--target", server.target, "train", "--gate", "and", "--hidden", "none",
        "--initial-weights", str(start), "--lr-scale", "layers.0.bias=0,layers.0.weight=0.5",
        "--steps", "30", "--no-early-stop", "--json",
    )  # fmt: skip
    assert code == 0, err
    info = json.loads(out)
    assert info["spec"]["learning_rate_scale"] == {"layers.0.weight": 0.5, "layers.0.bias": 0.0}
    with Client(server.target) as client:
        assert client.get_weights(info["model_id"]).tensors["layers.0.bias"].tolist() == [-0.75]
    code, out, _ = run_main(capsys, "--target", server.target, "model", info["model_id"])
    assert code == 0 and "layers.0.bias lr x0" in out and "layers.0.weight lr x0.5" in out
