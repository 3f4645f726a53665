"""Domain errors: stdlib only, so the training core can raise them without grpc.

Each message names the field, the value and what is allowed; server/status.py
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
    """A server limit (models held, trainings queued, message size) is reached."""


class Cancelled(GatenetError):
    """The client cancelled; nothing was registered."""


class DeadlineExceeded(GatenetError):
    """The client's deadline passed during training; nothing was registered."""


class Unavailable(GatenetError):
    """The server is shutting down or a worker died; retrying may succeed."""
