"""The one error type the client raises for a failed call, and the helper that builds it."""

from __future__ import annotations

from collections.abc import Callable

import grpc


class ClientError(Exception):
    """A gRPC call failed: `code` is the status name, `message` the server's words."""

    def __init__(self, code: str, message: str, *, target: str = "") -> None:
        self.code = code
        self.message = message
        self.target = target  # where the call went, so "unreachable" can say where
        super().__init__(f"{code}: {message}")

    @property
    def unreachable(self) -> bool:
        """True when the server could not be reached at all (as opposed to refusing)."""
        return self.code == "UNAVAILABLE"

    def __reduce__(self) -> tuple[Callable[..., ClientError], tuple[str, str, str]]:
        # keep code/message through pickling (e.g. multiprocessing)
        return (_rebuild, (self.code, self.message, self.target))


class MissingExtra(ModuleNotFoundError):
    """An optional dependency is not installed; the message says which extra brings it."""


def _rebuild(code: str, message: str, target: str) -> ClientError:
    return ClientError(code, message, target=target)


def from_rpc_error(err: grpc.RpcError, target: str = "") -> ClientError:
    """Turn a grpc.RpcError (sync or aio) into a ClientError."""
    code = err.code() if callable(getattr(err, "code", None)) else None
    details = err.details() if callable(getattr(err, "details", None)) else None
    name = code.name if isinstance(code, grpc.StatusCode) else "UNKNOWN"
    return ClientError(name, details or str(err), target=target)
