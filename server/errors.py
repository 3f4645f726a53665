"""Domain errors: stdlib only, so the training core can raise them without grpc.

Each message names the field, the value and what is allowed; server/rpc/status.py
maps each class to one gRPC status code.
"""

from __future__ import annotations


class GatenetError(Exception):
    """Base of every error a client may see; str(err) is safe to send."""


class InvalidArgument(GatenetError):
    """A request field is malformed or out of bounds."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


class NotFound(GatenetError):
    """No model has that id or name."""


class AlreadyExists(GatenetError):
    """A model already holds that name."""


class ResourceExhausted(GatenetError):
    """A server limit (models stored, trainings in flight, message size) is reached."""


class Cancelled(GatenetError):
    """The client cancelled; nothing was registered."""


class DeadlineExceeded(GatenetError):
    """The client's deadline, or the training cap inside one step, passed before a result;
    nothing was registered."""


class Unavailable(GatenetError):
    """The server is draining, the store is down or a worker died; retrying may succeed."""


class DataLoss(GatenetError):
    """A stored record is unreadable; the message names the model."""


class Unimplemented(GatenetError):
    """The method does not exist on this server."""


ECHO_LIMIT = 100  # characters of a client's value an error message repeats


def clip(value: str, limit: int = ECHO_LIMIT) -> str:
    """A client's value shortened for an error message: messages never echo unbounded input."""
    return value if len(value) <= limit else f"{value[:limit]}... ({len(value)} characters)"


class Unauthenticated(GatenetError):
    """The call carries no usable credentials."""


class PermissionDenied(GatenetError):
    """The credentials do not allow this call."""
