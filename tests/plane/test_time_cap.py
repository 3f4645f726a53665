"""The time cap through the real server: the heaviest recipe hands back its best by the cap, and
the stored spec of a run the cap stopped trains the same weights again."""

from __future__ import annotations

import time

import grpc
import pytest

from gatenet.server.training.network import layer_shapes
from gatenet.server.training.shapes import parameter_count
from gatenet.server.training.spec import Limits
from gatenet.v1 import gatenet_pb2 as pb
from gatenet.v1 import gatenet_pb2_grpc as pb_grpc

# Each starts servers of its own, whose workers warm torch up: make test's second step.
# Bounds on wall time, or load on purpose: on one xdist worker, one module at a time.
pytestmark = [pytest.mark.slow, pytest.mark.timed]

CAP = 10.0  # seconds: room for a few of the heaviest recipe's steps (1.5-3 s each here)


def heaviest(limits: Limits) -> pb.TrainRequest:
    """The heaviest Train the limits allow: the most rows (a 12-input gate) through two hidden
    layers near the parameter limit, with as many restarts as the batch bound admits."""
    inputs, hidden = limits.max_table_inputs, [920, 904]
    rows = 2**inputs
    params = parameter_count(layer_shapes(inputs, tuple(hidden)))
    restarts = limits.max_batch_elements // (params + rows * (sum(hidden) + 1))
    return pb.TrainRequest(
        gate=pb.GateTask(name="xor", num_inputs=inputs),
        network=pb.Network(hidden_sizes=hidden),
        restarts=restarts,
        steps=limits.max_steps,
        early_stop=False,
    )


def test_the_heaviest_recipe_hands_back_its_best_by_the_cap(make_server, open_channel):
    srv = make_server(training_workers=1, max_train_seconds=CAP)
    stub = pb_grpc.GateServiceStub(open_channel(srv.target))
    request = heaviest(Limits())
    assert request.restarts > 1
    ended = []
    for _ in range(4):
        start = time.monotonic()
        try:
            info = stub.Train(request)
            ended.append((info.summary.stopped_by, info.summary.steps))
        except grpc.RpcError as err:
            ended.append((err.code().name, 0))
        took = time.monotonic() - start
        assert took <= CAP + 2.0, f"run {len(ended)} took {took:.1f} s: {ended}"
    assert all(by == "time" and steps >= 1 for by, steps in ended), ended


def test_the_spec_of_a_run_the_cap_stopped_trains_the_same_weights(make_server, open_channel):
    capped = make_server(max_train_seconds=0.5)
    free = make_server()
    recipe = pb.TrainRequest(
        gate=pb.GateTask(name="xor"),
        network=pb.Network(hidden_sizes=[8]),
        method=pb.METHOD_AUTOGRAD,
        optimizer=pb.OPTIMIZER_SGD,
        schedule=pb.SCHEDULE_ONLINE,
        steps=1_000_000,
        early_stop=False,
        restarts=4,
        seed=5,
    )
    first = pb_grpc.GateServiceStub(open_channel(capped.target))
    info = first.Train(recipe)
    assert info.summary.stopped_by == "time"
    stored = first.GetModel(pb.GetModelRequest(model=info.model_id))
    assert stored.spec.steps == info.summary.steps < 1_000_000

    again = pb_grpc.GateServiceStub(open_channel(free.target))
    retrained = again.Train(stored.spec)
    assert retrained.summary.stopped_by == "steps"
    assert retrained.summary.steps == info.summary.steps
    assert retrained.summary.final_loss == info.summary.final_loss
    weights = [
        stub.GetWeights(pb.GetWeightsRequest(model=m.model_id)).tensors
        for stub, m in ((first, info), (again, retrained))
    ]
    assert weights[0] == weights[1]
