"""The bench's model as an MLServer runtime: the 2-4-1 tanh network bench/http_rest.py serves on
gatenet too, with the same outputs (probability FP32 [n, 1], label BOOL [n, 1]).

Runs inside MLServer's venv (scripts/ensure-mlserver.sh); imports nothing from gatenet.
"""

from __future__ import annotations

import numpy as np
from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.types import InferenceRequest, InferenceResponse


class GateModel(MLModel):
    """Forward of the weights in parameters.uri (an .npz of w0, b0, w1, b1)."""

    async def load(self) -> bool:
        with np.load(self.settings.parameters.uri, allow_pickle=False) as weights:
            self._w0, self._b0 = weights["w0"], weights["b0"]
            self._w1, self._b1 = weights["w1"], weights["b1"]
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        rows = NumpyCodec.decode_input(payload.inputs[0]).astype(np.float32).reshape(-1, 2)
        hidden = np.tanh(rows @ self._w0 + self._b0)
        logits = hidden @ self._w1 + self._b1
        probability = (1 / (1 + np.exp(-logits))).astype(np.float32).reshape(-1, 1)
        return InferenceResponse(
            model_name=self.name,
            outputs=[
                NumpyCodec.encode_output("probability", probability),
                NumpyCodec.encode_output("label", probability > 0.5),
            ],
        )
