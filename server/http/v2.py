"""The Open Inference Protocol over REST (KServe V2 HTTP/JSON), on the gRPC V2 service's use
cases: the same model lookup (id or name), tensors, bounds and errors (rpc/infer_codec.py).

Health answers with its status code as the protocol says (200 true, 4xx false); ready
is false until the store is open and from the start of a drain, as ServerReady is.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib import metadata
from typing import Any

import orjson
from aiohttp import web

from gatenet.server.http import infer_json
from gatenet.server.http.routes import Routes, read_body
from gatenet.server.plane import DataPlane
from gatenet.server.rpc import infer_codec
from gatenet.server.rpc.inference_service import SERVER_NAME, SERVICE_NAME
from gatenet.server.rpc.observe import note

_V2 = f"/{SERVICE_NAME}/"  # the gRPC method each route stands for, for its role
_JSON = "application/json"
_OUTPUT_TYPES = {infer_codec.PROBABILITY: "FP32", infer_codec.LABEL: "BOOL"}
_SHAPE = "inputs[0].shape"  # the field the work bound names
EXTENSIONS = ["binary_tensor_data"]  # Triton's, as tritonclient.http sends by default


def _version() -> str:
    try:
        return metadata.version("gatenet")
    except metadata.PackageNotFoundError:
        return ""


def _json(answer: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(answer), content_type=_JSON)


class V2Routes:
    """The V2 REST handlers over the data plane."""

    def __init__(
        self, plane: DataPlane, max_body: int, ready: Callable[[], Awaitable[bool]]
    ) -> None:
        self._predictor = plane.predictor
        self._max_body = max_body
        self._ready = ready
        self._metadata = {"name": SERVER_NAME, "version": _version(), "extensions": EXTENSIONS}

    def add_to(self, routes: Routes) -> None:
        """Every V2 route, with the gRPC V2 method whose role it needs."""
        routes.add("GET", "/v2/health/live", self.live, None, quiet=True)
        routes.add("GET", "/v2/health/ready", self.ready, None, quiet=True)
        routes.add("GET", "/v2", self.server_metadata, _V2 + "ServerMetadata")
        models = ("/v2/models/{name}", "/v2/models/{name}/versions/{version}")
        # aiohttp tries the /v2/models/... patterns in this order: the hot one first.
        for model in models:
            routes.add("POST", model + "/infer", self.infer, _V2 + "ModelInfer", quiet=True)
        for model in models:
            routes.add("GET", model, self.model_metadata, _V2 + "ModelMetadata")
            routes.add("GET", model + "/ready", self.model_ready, _V2 + "ModelReady", quiet=True)

    async def live(self, request: web.Request) -> web.Response:
        return _json({"live": True})

    async def ready(self, request: web.Request) -> web.Response:
        ready = await self._ready()
        return _json({"ready": ready}, 200 if ready else 400)

    async def server_metadata(self, request: web.Request) -> web.Response:
        return _json(self._metadata)

    async def model_metadata(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        model = await infer_codec.named_model(
            self._predictor, name, request.match_info.get("version", "")
        )
        tensor = [
            {
                "name": infer_codec.INPUT,
                "datatype": "FP32",
                "shape": [-1, model.compiled.num_inputs],
            }
        ]
        return _json(
            {
                "name": name,
                "versions": [infer_codec.VERSION],
                "platform": infer_codec.PLATFORM,
                "inputs": tensor,
                "outputs": [
                    {"name": output, "datatype": _OUTPUT_TYPES[output], "shape": [-1, 1]}
                    for output in infer_codec.OUTPUTS
                ],
            }
        )

    async def model_ready(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        await infer_codec.named_model(
            self._predictor, name, request.match_info.get("version", "")
        )  # 404 when not
        return _json({"name": name, "ready": True})

    async def infer(self, request: web.Request) -> web.Response:
        body = await read_body(request, self._max_body)
        name, version = request.match_info["name"], request.match_info.get("version", "")
        call = infer_json.decode(body, request.headers.get(infer_json.HEADER_LENGTH), name, version)
        # A cached model and a small forward: answered without a coroutine (as Predict is).
        predictor = self._predictor
        model = infer_codec.cached_model(predictor, name, version) or await infer_codec.named_model(
            predictor, name, version
        )
        note(model_id=model.model_id)  # for the call's log line and span
        rows, count = infer_codec.rows(call.call, model.compiled.num_inputs, predictor.max_rows)
        answer = predictor.answer_now(model, rows, count, _SHAPE) or await predictor.answer(
            model, rows, count, _SHAPE
        )
        body, header_length = infer_json.encode(call, *answer)
        if header_length is None:
            return web.Response(body=body, content_type=_JSON)
        return web.Response(
            body=body,
            content_type="application/octet-stream",
            headers={infer_json.HEADER_LENGTH: str(header_length)},
        )
