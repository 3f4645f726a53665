"""What Client and AsyncClient share: target, deadline, retries, credentials, token, stubs."""

from __future__ import annotations

import os
from typing import Any, ClassVar, Generic, TypeVar

import grpc
from grpc_health.v1 import health_pb2_grpc

from gatenet.v1 import gatenet_pb2_grpc as pb_grpc

from .channel import (
    DEFAULT_TARGET,
    call_metadata,
    check_timeout,
    credentials,
    open_channel,
    security,
)

C = TypeVar("C", grpc.Channel, grpc.aio.Channel)


class ClientBase(Generic[C]):
    """A client's settings and its channel; the two subclasses differ only in how they call."""

    _aio: ClassVar[bool]  # open a grpc.aio channel (lazily, in the caller's loop)

    def __init__(
        self,
        target: str = DEFAULT_TARGET,
        *,
        timeout: float | None = None,
        retries: int = 3,
        tls: bool = False,
        root_certificates: bytes | str | os.PathLike[str] | None = None,
        certificate_chain: bytes | str | os.PathLike[str] | None = None,
        private_key: bytes | str | os.PathLike[str] | None = None,
        token: str | None = None,
        channel: C | None = None,
    ) -> None:
        self.target = target
        # default deadline (seconds) for every call; None = no deadline
        self.timeout = check_timeout(timeout)
        self.retries = retries  # extra attempts on UNAVAILABLE, idempotent calls only
        self.metadata = call_metadata(token)  # sent with every call
        self._credentials = credentials(tls, root_certificates, certificate_chain, private_key)
        # What this client speaks, so a refused connection can name a likely TLS mismatch.
        self._security = security(self._credentials, certificate_chain) if channel is None else ""
        self._owns_channel = channel is None  # an injected channel belongs to the caller
        self._channel: C | None = channel
        self._stub_cache: dict[str, Any] | None = None
        if not self._aio:
            # A sync client may be shared by threads: make the channel now, not racily later.
            # An aio channel belongs to the event loop it was made in, and __init__ may run
            # before asyncio.run(), so AsyncClient makes it on first use.
            self._stubs()

    def _stubs(self) -> dict[str, Any]:
        """The stubs by Rpc.service, on the injected channel or one opened now."""
        if self._stub_cache is None:
            if self._channel is None:
                self._channel = open_channel(self.target, self._credentials, aio=self._aio)
            self._stub_cache = {
                "gate": pb_grpc.GateServiceStub(self._channel),
                "health": health_pb2_grpc.HealthStub(self._channel),
            }
        return self._stub_cache

    def _stub_method(self, service: str, method: str) -> Any:
        return getattr(self._stubs()[service], method)

    def _release(self) -> C | None:
        """Forget the channel; return it when this client opened it (so the caller closes it)."""
        channel, owned = self._channel, self._owns_channel
        if owned:
            self._channel, self._stub_cache = None, None
        return channel if owned else None
