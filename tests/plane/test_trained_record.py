"""A model readied in its training worker is the model the store keeps: Train's answer is what
GetModel says, before and after a restart, and Predict answers alike from the worker's compiled
model and from one compiled from the stored record."""

from __future__ import annotations

import pytest

from gatenet.v1 import gatenet_pb2 as pb
from gatenet.v1 import gatenet_pb2_grpc as pb_grpc

REQUESTS = {
    "gate": pb.TrainRequest(gate=pb.GateTask(name="XOR"), seed=5),
    "named table": pb.TrainRequest(
        name="trained-record-table",
        truth_table=pb.TruthTableTask(num_inputs=3, outputs=[0, 1, 1, 0, 1, 0, 0, 1]),
        network=pb.Network(hidden_sizes=[6], activation=pb.ACTIVATION_SIGMOID),
        seed=1,
    ),
    "examples, initial weights": pb.TrainRequest(
        examples=pb.ExamplesTask(num_inputs=2, inputs=[0, 0.5, 1, -2, 3, 1], targets=[0, 1, 1]),
        network=pb.Network(no_hidden_layers=True),
        initial_weights=[
            pb.Tensor(name="layers.0.weight", shape=[2, 1], values=[0.5, -0.5]),
            pb.Tensor(name="layers.0.bias", shape=[1], values=[0.25]),
        ],
        steps=30,
    ),
}
ROWS = {"gate": 2, "named table": 3, "examples, initial weights": 2}


def _rows(n: int) -> list[float]:
    """Every 0/1 row of n inputs (the truth table path), then real-valued ones (the forward)."""
    bits = [float((k >> i) & 1) for k in range(2**n) for i in range(n)]
    return bits + [0.3, -1.7, 2.5][:n] + [-0.25, 0.75, 9.0][:n]


def _predict(stub: pb_grpc.GateServiceStub, model_id: str, n: int) -> pb.PredictResponse:
    return stub.Predict(pb.PredictRequest(model=model_id, inputs=_rows(n), num_features=n))


pytestmark = pytest.mark.slow  # two servers, each with its worker pool


def test_train_answers_what_get_model_and_predict_say_after_a_restart(
    make_server, open_channel, tmp_path
):
    server = make_server(store="sqlite", data_dir=tmp_path)
    stub = pb_grpc.GateServiceStub(open_channel(server.target))
    answered = {case: stub.Train(request) for case, request in REQUESTS.items()}
    before = {}
    for case, info in answered.items():
        assert info.summary.steps > 0 and info.model_id
        assert stub.GetModel(pb.GetModelRequest(model=info.model_id)) == info, case
        before[case] = _predict(stub, info.model_id, ROWS[case])
    server.stop(0)
    again = make_server(store="sqlite", data_dir=tmp_path, warm_models=0)
    stub = pb_grpc.GateServiceStub(open_channel(again.target))
    for case, info in answered.items():
        assert stub.GetModel(pb.GetModelRequest(model=info.model_id)) == info, case
        assert _predict(stub, info.model_id, ROWS[case]) == before[case], case
