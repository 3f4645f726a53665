"""Channel set-up and the retry policy shared by Client and AsyncClient."""

from __future__ import annotations

import os
import random
import time
from typing import Any

import grpc

from .errors import ClientError

DEFAULT_TARGET = "localhost:50051"
# Weights of a large network pass the 4 MB default; the server enforces its own limit.
_MESSAGE_LIMIT = 64 * 1024 * 1024
CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", _MESSAGE_LIMIT),
    ("grpc.max_send_message_length", _MESSAGE_LIMIT),
]
BACKOFF_BASE = 0.1  # seconds before the first retry; doubles each time
BACKOFF_MAX = 2.0


def credentials(
    tls: bool, root_certificates: bytes | str | os.PathLike[str] | None
) -> grpc.ChannelCredentials | None:
    """TLS credentials when asked for (root_certificates implies TLS), else None."""
    if not tls and root_certificates is None:
        return None
    if root_certificates is not None and not isinstance(root_certificates, bytes):
        with open(root_certificates, "rb") as f:  # a path to a PEM bundle
            root_certificates = f.read()
    return grpc.ssl_channel_credentials(root_certificates=root_certificates)


def open_channel(target: str, creds: grpc.ChannelCredentials | None, *, aio: bool) -> Any:
    """A new sync or asyncio channel to target."""
    module: Any = grpc.aio if aio else grpc
    if creds is None:
        return module.insecure_channel(target, options=CHANNEL_OPTIONS)
    return module.secure_channel(target, creds, options=CHANNEL_OPTIONS)


def call_metadata(token: str | None) -> tuple[tuple[str, str], ...]:
    """Per-call metadata: the bearer token, if any."""
    return (("authorization", f"Bearer {token}"),) if token else ()


class Attempts:
    """Deadline and retry bookkeeping for one logical call (several attempts on UNAVAILABLE)."""

    def __init__(self, timeout: float | None, retries: int) -> None:
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self.left = retries
        self.attempt = 0

    def timeout(self) -> float | None:
        """Seconds left for the next attempt; the deadline covers every attempt together."""
        return None if self.deadline is None else max(0.0, self.deadline - time.monotonic())

    def retry_after(self, error: ClientError) -> float | None:
        """Seconds to wait before retrying after error, or None to give up."""
        if error.code != "UNAVAILABLE" or self.left <= 0:
            return None
        delay = min(BACKOFF_MAX, BACKOFF_BASE * 2.0**self.attempt) * random.uniform(0.5, 1.0)
        if self.deadline is not None and time.monotonic() + delay >= self.deadline:
            return None
        self.left -= 1
        self.attempt += 1
        return delay
