"""A gatenet model as an ONNX graph built from its weights with onnx's helpers (no torch)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from gatenet.vocabulary.layers import bias_name, weight_name

from ..layers import layers

OPSET = 17  # every op used (MatMul, Add, Sigmoid, Tanh, Relu, Greater, Cast) is older than this
IR_VERSION = 8  # the IR version of opset 17; onnx's newest would shut out older runtimes
INPUT = "inputs"  # [batch, n] float32
PROBABILITY = "probability"  # [batch, 1] float32: P(label = 1), as Predict returns
LABEL = "label"  # [batch, 1] int64: 1 where probability > 0.5, as Predict's labels
_NODES = {"sigmoid": "Sigmoid", "tanh": "Tanh", "relu": "Relu"}


def to_onnx(
    tensors: Mapping[str, np.ndarray], activation: str, *, model_id: str = ""
) -> onnx.ModelProto:
    """The network x @ W + b per layer, hidden activation, sigmoid output; checked by onnx."""
    found = layers(tensors)
    n = found[0][0].shape[0]
    nodes: list[onnx.NodeProto] = []
    initializers: list[onnx.TensorProto] = []
    x = INPUT
    for i, (weight, bias) in enumerate(found):
        last = i == len(found) - 1
        initializers.append(numpy_helper.from_array(weight, weight_name(i)))
        nodes.append(helper.make_node("MatMul", [x, weight_name(i)], [f"matmul{i}"]))
        x = f"matmul{i}"
        if bias is not None:
            initializers.append(numpy_helper.from_array(bias, bias_name(i)))
            nodes.append(helper.make_node("Add", [x, bias_name(i)], [f"linear{i}"]))
            x = f"linear{i}"
        out = PROBABILITY if last else f"hidden{i}"
        nodes.append(helper.make_node("Sigmoid" if last else _NODES[activation], [x], [out]))
        x = out
    half = numpy_helper.from_array(np.array(0.5, dtype=np.float32), "half")
    nodes.append(helper.make_node("Greater", [PROBABILITY, "half"], ["above_half"]))
    nodes.append(helper.make_node("Cast", ["above_half"], [LABEL], to=TensorProto.INT64))
    graph = helper.make_graph(
        nodes,
        f"gatenet_{model_id}" if model_id else "gatenet",
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, ["batch", n])],
        [
            helper.make_tensor_value_info(PROBABILITY, TensorProto.FLOAT, ["batch", 1]),
            helper.make_tensor_value_info(LABEL, TensorProto.INT64, ["batch", 1]),
        ],
        [*initializers, half],
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        ir_version=IR_VERSION,
        producer_name="gatenet",
    )
    helper.set_model_props(model, {"model_id": model_id, "activation": activation})
    onnx.checker.check_model(model, full_check=True)
    return model
