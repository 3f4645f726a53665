"""What the client raises: ClientError for a failed call (built from gRPC's error, with a hint
when TLS looks mismatched), MissingExtra for an optional dependency not installed."""

from __future__ import annotations

from collections.abc import Callable

import grpc


class ClientError(Exception):
    """A gRPC call failed: `code` is the status name, `message` the server's words."""

    def __init__(self, code: str, message: str, *, target: str = "") -> None:
        self.code = code
        self.message = message
        self.target = target  # where the call went: the CLI's "cannot reach" line names it
        super().__init__(f"{code}: {message}")

    @property
    def unreachable(self) -> bool:
        """True for UNAVAILABLE: no server answered at the target, or it answered that it
        cannot serve now (draining, store down); either way a retry may succeed."""
        return self.code == "UNAVAILABLE"

    def __reduce__(self) -> tuple[Callable[..., ClientError], tuple[str, str, str]]:
        # keep code, message and target through pickling (e.g. multiprocessing)
        return (_rebuild, (self.code, self.message, self.target))


class MissingExtra(ModuleNotFoundError):
    """An optional dependency is not installed; the message says which extra brings it."""


def _rebuild(code: str, message: str, target: str) -> ClientError:
    return ClientError(code, message, target=target)


# A TLS mismatch fails the connection, and gRPC reports what the socket saw: the likely cause,
# by what this client sent ("" = unknown: an injected channel) and what gRPC says.
_SECURITY_HINTS = (
    ("plaintext", "Socket closed", "the server may require TLS: --tls/--ca"),
    ("tls", "Socket closed", "the server may require a client certificate: --cert/--key"),
    ("mtls", "Socket closed", "the server may not accept this client certificate: --cert/--key"),
    ("tls", "WRONG_VERSION_NUMBER", "the server may not use TLS: drop --tls/--ca"),
    ("mtls", "WRONG_VERSION_NUMBER", "the server may not use TLS: drop --tls/--ca"),
    ("tls", "CERTIFICATE_VERIFY_FAILED", "the server's certificate is not signed by --ca"),
    ("mtls", "CERTIFICATE_VERIFY_FAILED", "the server's certificate is not signed by --ca"),
)


def security_hint(security: str, details: str) -> str:
    """The likely cause of a failed connection given the client's security, or ""."""
    return next(
        (hint for s, seen, hint in _SECURITY_HINTS if s == security and seen in details), ""
    )


# What grpcio says of a call this process cancelled itself (sync and aio alike).
_CANCELLED_HERE = "Locally cancelled by application!"
_DROPPED = "the server dropped the call before answering it (it may be stopping); retry"


def from_rpc_error(err: grpc.RpcError, target: str = "", security: str = "") -> ClientError:
    """Turn a grpc.RpcError (sync or aio) into a ClientError; security ("plaintext", "tls" or
    "mtls") lets an unreachable server's message name a likely TLS mismatch."""
    code = err.code() if callable(getattr(err, "code", None)) else None
    details = err.details() if callable(getattr(err, "details", None)) else None
    name = code.name if isinstance(code, grpc.StatusCode) else "UNKNOWN"
    if name == "CANCELLED" and details != _CANCELLED_HERE:
        # Not this client's doing: gRPC core cancels the calls that reached a stopping server
        # but no handler yet (grpc/grpc#41785), a proxy may reset a stream. Either way the
        # server did not answer, which is UNAVAILABLE: idempotent calls are retried.
        return ClientError("UNAVAILABLE", f"{_DROPPED} ({details or 'CANCELLED'})", target=target)
    message = details or str(err)
    hint = security_hint(security, message) if name == "UNAVAILABLE" else ""
    return ClientError(name, f"{message}; {hint}" if hint else message, target=target)
