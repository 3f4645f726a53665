"""Optional bearer-token auth for GateService; health and reflection stay open for probes."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any

import grpc

_OPEN_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")


def _refuse(code: grpc.StatusCode, message: str) -> Callable[..., Any]:
    async def refuse(request: Any, context: grpc.aio.ServicerContext) -> None:
        # Set, not context.abort: abort would send the status before the call is counted.
        context.set_code(code)
        context.set_details(message)

    return refuse


Observe = Callable[[str, grpc.RpcMethodHandler], grpc.RpcMethodHandler]


class TokenAuthInterceptor(grpc.aio.ServerInterceptor):
    """Requires `authorization: Bearer <token>` on every GateService call.

    `observe` wraps the refusals the way every registered handler is wrapped, so a
    refused call is counted and logged with its code like any other.
    """

    def __init__(self, token: str, observe: Observe) -> None:
        self._expected = f"Bearer {token}".encode()
        self._observe = observe
        self._refusals: dict[tuple[str, grpc.StatusCode], grpc.RpcMethodHandler] = {}

    async def intercept_service(
        self, continuation: Callable, details: grpc.HandlerCallDetails
    ) -> Any:
        if details.method.startswith(_OPEN_PREFIXES):
            return await continuation(details)
        given = next(
            (v for k, v in details.invocation_metadata or () if k == "authorization"), None
        )
        if given is None:
            return await self._refusal(
                continuation,
                details,
                grpc.StatusCode.UNAUTHENTICATED,
                "authorization: missing; send 'authorization: Bearer <token>'",
            )
        if not hmac.compare_digest(given.encode(), self._expected):
            return await self._refusal(
                continuation,
                details,
                grpc.StatusCode.PERMISSION_DENIED,
                "authorization: the bearer token is not accepted",
            )
        return await continuation(details)

    async def _refusal(
        self,
        continuation: Callable,
        details: grpc.HandlerCallDetails,
        code: grpc.StatusCode,
        message: str,
    ) -> grpc.RpcMethodHandler | None:
        handler = await continuation(details)
        if handler is None:
            return None
        refusal = self._refusals.get((details.method, code))
        if refusal is None:
            factory = (
                grpc.unary_stream_rpc_method_handler
                if handler.response_streaming
                else grpc.unary_unary_rpc_method_handler
            )
            refusal = factory(
                _refuse(code, message), request_deserializer=handler.request_deserializer
            )
            refusal = self._refusals[details.method, code] = self._observe(details.method, refusal)
        return refusal
