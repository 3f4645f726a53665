"""A model readied in the training worker (models/trained.py): it crosses the pipe as its
buffers and serves exactly as one built on the loop, and the worker's code knows no wire."""

from __future__ import annotations

import dataclasses
import pickle
import subprocess
import sys

import numpy as np
import pytest

from gatenet.server.models.compiled import CompiledModel
from gatenet.server.models.trained import finish
from gatenet.server.storage.codec import decode_tensors
from gatenet.server.training.recipe import resolve
from gatenet.server.training.spec import Limits, TrainSpec
from gatenet.server.training.tasks import gate_task, truth_table_task
from gatenet.server.training.trainer import train

LIMITS = Limits()


def _weights(sizes: tuple[int, ...], rng: np.random.Generator) -> dict[str, np.ndarray]:
    named = {}
    for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:], strict=False)):
        named[f"layers.{i}.weight"] = rng.normal(size=(n_in, n_out)).astype(np.float32)
        named[f"layers.{i}.bias"] = rng.normal(size=n_out).astype(np.float32)
    return named


@pytest.mark.parametrize("sizes", [(2, 4, 1), (3, 1), (9, 5, 1)])  # 9 inputs: no truth table
def test_a_compiled_model_that_crossed_the_pipe_answers_as_the_original(sizes):
    rng = np.random.default_rng(len(sizes))
    model = CompiledModel(_weights(sizes, rng), "sigmoid")
    copy = pickle.loads(pickle.dumps(model, pickle.HIGHEST_PROTOCOL))
    n = sizes[0]
    bits = rng.integers(0, 2, size=(16, n)).astype("<f4").tobytes()
    real = rng.normal(size=(16, n)).astype("<f4").tobytes()
    for rows, count in ((bits, 16), (bits[: 4 * n], 1), (real, 16)):
        for mine, theirs in zip(copy.answer(rows, count), model.answer(rows, count), strict=True):
            assert mine.tobytes() == theirs.tobytes()
    assert copy.nbytes == model.nbytes
    assert all(np.array_equal(copy.weights()[k], v) for k, v in model.weights().items())


def test_a_trained_model_is_readied_to_store_and_serve():
    recipe = resolve(TrainSpec(dataset=gate_task("xor", 0, LIMITS), seed=0), LIMITS)
    result = train(recipe)
    made = finish(recipe, result)
    assert made.finite and made.summary.fit
    assert made.compiled is not None
    labels = made.compiled.answer(np.array([0, 0, 0, 1, 1, 0, 1, 1], "<f4").tobytes(), 4)[1]
    assert labels.tolist() == [0, 1, 1, 0]
    stored = decode_tensors("0" * 32, made.tensors)
    assert all(np.array_equal(stored[k], v) for k, v in result.weights.items())
    assert made.summary_json["stopped_by"] == "early_stop"


def test_a_run_without_a_loss_curve_writes_no_loss_curve_member():
    recipe = resolve(TrainSpec(dataset=truth_table_task(2, [0, 1, 1, 1], LIMITS)), LIMITS)
    made = finish(recipe, dataclasses.replace(train(recipe), loss_curve=[]))
    assert made.curve_json == [] and '"loss_curve"' not in made.tail_text


def test_the_worker_side_code_imports_no_protobuf_grpc_or_prometheus():
    """The training worker runs finish(): it must stay as free of the wire as training/."""
    code = (
        "import sys, gatenet.server.models.trained, gatenet.server.training.pool\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('google', 'grpc', 'prometheus_client') or m.startswith('gatenet.v1')]\n"
        "print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
