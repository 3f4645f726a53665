"""GateService over HTTP/JSON, derived from its descriptor: grpc-gateway without the hop.

Every method that takes one request (unary or server-streaming) gets a GatewayMethod: the
JSON body -> its request message (proto_json.py) -> the GateService handler, called in-process
with a small context -> the answer as proto3 JSON, or, for a stream, one JSON line per message.
Errors go through the gRPC transport's one mapping (rpc/status.py) to a gRPC code, then to the
HTTP status grpc-gateway gives it, in grpc-gateway's body: {"code", "message", "details"}.
Client-streaming methods (ImportModelChunked) are not served: a body is one message already.
No HTTP framework here: the HTTP server mounts `POST /v1/<Method>` on method(name).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, cast

import grpc
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message import Message

from gatenet.server import offload
from gatenet.server.errors import DeadlineExceeded, InvalidArgument, clip
from gatenet.server.http import proto_json
from gatenet.server.http.codes import HTTP_STATUS
from gatenet.server.rpc.service import BYTES_METHODS, GateService
from gatenet.server.rpc.status import set_status
from gatenet.v1 import gatenet_pb2 as pb

SERVICE = pb.DESCRIPTOR.services_by_name["GateService"]
NDJSON = "application/x-ndjson"  # the content type of a streaming method's answer
# grpc-gateway's per-call timeout header, in gRPC's wire format: up to 8 digits and a unit.
TIMEOUT_HEADER = "grpc-timeout"
_UNITS = {"H": 3600.0, "M": 60.0, "S": 1.0, "m": 1e-3, "u": 1e-6, "n": 1e-9}


@dataclass(frozen=True)
class HttpCall:
    """What the HTTP server knows of a request besides its body."""

    # The client's address as gRPC writes a peer (peer_address()), so a client counts as the same
    # caller on both ports (the per-client training limit drops the port).
    peer: str
    # time.monotonic() by which the call must end; None: the grpc-timeout header's, if any.
    deadline: float | None = None
    headers: Sequence[tuple[str, str]] = ()  # lowercase names


def peer_address(host: str, port: int) -> str:
    """A client address in gRPC's peer form: ipv4:1.2.3.4:5 or ipv6:[::1]:5."""
    return f"ipv6:[{host}]:{port}" if ":" in host else f"ipv4:{host}:{port}"


class _Context:
    """The part of grpc.aio.ServicerContext that GateService and status.set_status use."""

    def __init__(self, call: HttpCall) -> None:
        self.call = call
        self._code: grpc.StatusCode | None = None
        self._details = ""

    def peer(self) -> str:
        return self.call.peer

    def time_remaining(self) -> float | None:
        deadline = self.call.deadline
        return None if deadline is None else max(0.0, deadline - time.monotonic())

    def invocation_metadata(self) -> Sequence[tuple[str, str]]:
        return self.call.headers

    def set_code(self, code: grpc.StatusCode) -> None:
        self._code = code

    def set_details(self, details: str) -> None:
        self._details = details

    def code(self) -> grpc.StatusCode | None:
        return self._code

    def details(self) -> str:
        return self._details


class _Outcome:
    """How a stream began: whether a message went out, and the HTTP status that fits."""

    def __init__(self) -> None:
        self.sent = False
        self.status = 200


class GatewayMethod:
    """One GateService method at POST /v1/<name>."""

    def __init__(self, service: GateService, method: MethodDescriptor) -> None:
        self.name: str = method.name
        self.full_name = f"/{SERVICE.full_name}/{method.name}"  # what auth's roles are keyed by
        self.streaming: bool = method.server_streaming
        self._request: type[Message] = getattr(pb, method.input_type.name)
        self._response: type[Message] = getattr(pb, method.output_type.name)
        self._bytes = method.name in BYTES_METHODS  # the handler takes and returns wire bytes
        self._handler: Callable[..., Any] = getattr(service, method.name)

    async def unary(self, body: bytes, call: HttpCall) -> tuple[int, bytes]:
        """The HTTP status and JSON body answering `body`."""
        context = _Context(call)
        try:
            call = context.call = _timed(call)
            request = await self._decode(body)
            async with _deadline(call.deadline):
                response = await self._handler(request, context)
            return 200, await self._encode(response)
        except Exception as exc:  # noqa: BLE001 - mapped to a status right here
            return self._error(context, exc)

    def stream(self, body: bytes, call: HttpCall) -> AsyncIterator[bytes]:
        """One JSON line per message; an error (the status is sent by then) as a last line
        {"error": {"code", "message", "details"}}."""
        return self._lines(body, call, _Outcome())

    async def opened(self, body: bytes, call: HttpCall) -> tuple[int, AsyncGenerator[bytes, None]]:
        """stream() with its first line awaited, and the HTTP status to send: the error's when
        the call failed before its first message (a bad body, a spec refused), as grpc-gateway
        does, else 200."""
        outcome = _Outcome()
        lines = self._lines(body, call, outcome)
        first = await anext(lines, None)
        return outcome.status, _starting_with(first, lines)

    async def _lines(
        self, body: bytes, call: HttpCall, outcome: _Outcome
    ) -> AsyncGenerator[bytes, None]:
        context = _Context(call)
        try:
            call = context.call = _timed(call)
            request = await self._decode(body)
            # aclosing: a client that goes away closes the handler too (TrainStream stops training).
            async with contextlib.aclosing(self._handler(request, context)) as messages:
                while True:
                    async with _deadline(call.deadline):
                        message = await anext(messages, None)
                    if message is None:
                        break
                    outcome.sent = True
                    yield await self._encode(message) + b"\n"
        except Exception as exc:  # noqa: BLE001 - mapped to a status right here
            status, error = self._error(context, exc)
            if not outcome.sent:
                outcome.status = status
            yield b'{"error":' + error + b"}\n"

    async def _decode(self, body: bytes) -> Any:
        large = len(body) > offload.LARGE_BYTES
        request = await offload.run_if(large, proto_json.parse, body, self._request, large)
        return request.SerializeToString() if self._bytes else request

    async def _encode(self, response: Any) -> bytes:
        if self._bytes:
            response = self._response.FromString(response)
        large = response.ByteSize() > offload.LARGE_BYTES
        return await offload.run_if(large, proto_json.dumps, response, large)

    def _error(self, context: _Context, exc: Exception) -> tuple[int, bytes]:
        """The HTTP status and the grpc-gateway error body for `exc`."""
        # The gRPC transport's one mapping, onto the few context methods it uses.
        set_status(cast(grpc.aio.ServicerContext, context), exc, self.full_name)
        code = context.code() or grpc.StatusCode.UNKNOWN
        return HTTP_STATUS[code], error_json(code, context.details())


class Gateway:
    """GateService's methods as HTTP/JSON, by name."""

    def __init__(self, service: GateService) -> None:
        self._methods = {
            method.name: GatewayMethod(service, method)
            for method in SERVICE.methods
            if not method.client_streaming  # one HTTP body is one request
        }

    def method(self, name: str) -> GatewayMethod | None:
        """The method served at /v1/<name>; None for a name that is not served."""
        return self._methods.get(name)

    def names(self) -> list[str]:
        """The methods served, in the descriptor's order."""
        return list(self._methods)


async def _starting_with(
    first: bytes | None, rest: AsyncGenerator[bytes, None]
) -> AsyncGenerator[bytes, None]:
    """`first`, then the lines of `rest`; closing this closes `rest`."""
    async with contextlib.aclosing(rest):
        if first is not None:
            yield first
        async for line in rest:
            yield line


def _timed(call: HttpCall) -> HttpCall:
    """The call with the deadline its grpc-timeout header sets, when the server set none."""
    if call.deadline is not None:
        return call
    value = next((v for k, v in call.headers if k == TIMEOUT_HEADER), None)
    if value is None:
        return call
    digits, unit = value[:-1], value[-1:]
    if not (digits.isascii() and digits.isdigit() and len(digits) <= 8 and unit in _UNITS):
        raise InvalidArgument(
            TIMEOUT_HEADER, f"{clip(value)!r} is not 1-8 digits and a unit (H, M, S, m, u, n)"
        )
    return replace(call, deadline=time.monotonic() + int(digits) * _UNITS[unit])


def error_json(code: grpc.StatusCode, message: str) -> bytes:
    """grpc-gateway's error body: the gRPC code's number, the message, no details."""
    error = {"code": code.value[0], "message": message, "details": []}
    return json.dumps(error, separators=(",", ":")).encode()


@contextlib.asynccontextmanager
async def _deadline(deadline: float | None) -> AsyncIterator[None]:
    """Cancel the body at `deadline` (as gRPC cancels a handler) and raise DeadlineExceeded."""
    if deadline is None:
        yield
        return
    timeout = asyncio.timeout(max(0.0, deadline - time.monotonic()))
    try:
        async with timeout:
            yield
    except TimeoutError:
        if not timeout.expired():
            raise
        raise DeadlineExceeded(
            "deadline exceeded: the call's deadline passed before it ended"
        ) from None
