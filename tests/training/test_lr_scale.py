"""Per-tensor learning-rate scales: 0 freezes a tensor exactly, a factor scales its steps alike in
every method, bad names and factors name the field, and the stored spec records them."""

from __future__ import annotations

import numpy as np
import pytest

from gatenet.client import ClientError
from gatenet.server.errors import InvalidArgument
from gatenet.server.training.family import tables as tbl
from gatenet.server.training.family.search import FamilyPlan, train_family
from gatenet.server.training.recipe import resolve
from gatenet.server.training.spec import Limits, TrainSpec
from gatenet.server.training.tasks import gate_task
from gatenet.server.training.trainer import train

LIMITS = Limits()
START = {
    "layers.0.weight": np.array([[0.5, -0.4, 0.3], [-0.2, 0.6, -0.7]], np.float32),
    "layers.0.bias": np.array([0.1, -0.3, 0.25], np.float32),
    "layers.1.weight": np.array([[0.4], [-0.5], [0.6]], np.float32),
    "layers.1.bias": np.array([-0.15], np.float32),
}


def run(method: str, optimizer: str, scales: dict[str, float], **extra):
    spec = TrainSpec(
        gate_task("xor", 0, LIMITS),
        hidden_sizes=(3,),
        method=method,
        optimizer=optimizer,
        momentum=0.9 if optimizer == "sgd" else None,
        steps=200,
        early_stop=False,
        initial_weights=START,
        learning_rate_scale=scales,
        seed=0,
        **extra,
    )
    return train(resolve(spec, LIMITS)).weights


@pytest.mark.parametrize(
    ("method", "optimizer"),
    [("manual", "adam"), ("manual", "sgd"), ("autograd", "adam"), ("autograd", "sgd")],
)
def test_a_zero_factor_freezes_exactly_and_the_rest_train(method: str, optimizer: str) -> None:
    got = run(method, optimizer, {"layers.0.bias": 0.0, "layers.1.bias": 0.0})
    np.testing.assert_array_equal(got["layers.0.bias"], START["layers.0.bias"])
    np.testing.assert_array_equal(got["layers.1.bias"], START["layers.1.bias"])
    assert not np.array_equal(got["layers.0.weight"], START["layers.0.weight"])


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_manual_and_autograd_scale_alike(optimizer: str) -> None:
    scales = {"layers.0.bias": 0.25, "layers.1.weight": 0.5}
    manual, autograd = run("manual", optimizer, scales), run("autograd", optimizer, scales)
    for name in START:
        np.testing.assert_allclose(manual[name], autograd[name], atol=2e-4)
    plain = run("manual", optimizer, {})
    assert not np.allclose(plain["layers.0.bias"], manual["layers.0.bias"], atol=1e-3)


def test_the_perceptron_freezes_its_bias() -> None:
    def perceptron(scales):
        spec = TrainSpec(
            gate_task("and", 0, LIMITS), method="perceptron", learning_rate_scale=scales, steps=20
        )
        return train(resolve(spec, LIMITS))

    assert perceptron(None).summary.fit  # AND needs its bias (-1 here) ...
    frozen = perceptron({"layers.0.bias": 0.0})  # ... which stays at 0: w oscillates, never fits
    assert frozen.weights["layers.0.bias"].tolist() == [0.0] and not frozen.summary.fit


@pytest.mark.parametrize(
    ("scales", "message"),
    [
        ({"layers.2.bias": 0.0}, "learning_rate_scale['layers.2.bias']: names no parameter"),
        ({"layers.0.bias": -1.0}, "-1.0 is not a finite factor >= 0"),
        ({"layers.0.bias": float("nan")}, "nan is not a finite factor >= 0"),
        ({"layers.0.bias": 1e6}, "exceeds the limit 1000"),
    ],
)
def test_bad_scales_name_the_field(scales: dict[str, float], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message.replace("[", r"\[").replace("]", r"\]")):
        resolve(
            TrainSpec(gate_task("xor", 0, LIMITS), hidden_sizes=(3,), learning_rate_scale=scales),
            LIMITS,
        )


def test_a_family_trains_with_a_frozen_output_bias() -> None:
    spec = TrainSpec(
        gate_task("and", 0, LIMITS),
        hidden_sizes=(),
        restarts=4,
        seed=0,
        learning_rate_scale={"layers.0.bias": 0.0},
    )
    result = train_family(FamilyPlan(tbl.all_tables(2), (0,), False, resolve(spec, LIMITS)))
    # Through the origin (xavier's zero bias, frozen), a sigmoid unit cannot give row 00
    # anything but 0.5: no function fits with the margin.
    assert result.fit == 0
    assert (result.margin <= 0).all()


def test_the_stored_spec_records_the_scales(client) -> None:
    info = client.train(gate="xor", learning_rate_scale={"layers.1.bias": 0.25}, seed=0)
    assert info.spec["learning_rate_scale"] == {"layers.1.bias": 0.25}
    assert client.get_model(info.model_id).spec["learning_rate_scale"] == {"layers.1.bias": 0.25}
    with pytest.raises(ClientError) as err:
        client.train(gate="xor", learning_rate_scale={"layers.9.weight": 0})
    assert (
        err.value.code == "INVALID_ARGUMENT"
        and "learning_rate_scale['layers.9.weight']" in err.value.message
    )
    family = client.train_family(
        2, "lr-fam", hidden=2, learning_rate_scale={"layers.1.bias": 0.5}, seed=0
    )
    assert family.recipe["learning_rate_scale"] == {"layers.1.bias": 0.5}
