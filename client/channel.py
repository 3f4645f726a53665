"""Channel set-up and the retry policy shared by Client and AsyncClient."""

from __future__ import annotations

import math
import os
import random
import time
from typing import Any

import grpc

from .errors import ClientError

DEFAULT_TARGET = "127.0.0.1:50051"  # what `gatenet serve` binds by default
# Weights of a large network pass the 4 MB default; the server enforces its own limit.
_MESSAGE_LIMIT = 64 * 1024 * 1024
CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", _MESSAGE_LIMIT),
    ("grpc.max_send_message_length", _MESSAGE_LIMIT),
]
BACKOFF_BASE = 0.1  # seconds before the first retry; doubles each time
BACKOFF_MAX = 2.0


PEM = bytes | str | os.PathLike[str]  # PEM bytes, or the path of a PEM file


def _pem(value: PEM | None) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    with open(value, "rb") as f:
        return f.read()


def credentials(
    tls: bool,
    root_certificates: PEM | None,
    certificate_chain: PEM | None = None,
    private_key: PEM | None = None,
) -> grpc.ChannelCredentials | None:
    """TLS credentials when asked for (any certificate implies TLS), else None; a client
    certificate and key answer a server that requires them (mTLS)."""
    if not tls and root_certificates is None and certificate_chain is None:
        return None
    if (certificate_chain is None) != (private_key is None):
        raise ValueError("a client certificate needs its key, and a key its certificate")
    return grpc.ssl_channel_credentials(
        root_certificates=_pem(root_certificates),
        private_key=_pem(private_key),
        certificate_chain=_pem(certificate_chain),
    )


def security(creds: grpc.ChannelCredentials | None, certificate_chain: PEM | None) -> str:
    """ "plaintext", "tls" or "mtls" (TLS with a client certificate)."""
    if creds is None:
        return "plaintext"
    return "tls" if certificate_chain is None else "mtls"


def open_channel(target: str, creds: grpc.ChannelCredentials | None, *, aio: bool) -> Any:
    """A new sync or asyncio channel to target."""
    module: Any = grpc.aio if aio else grpc
    if creds is None:
        return module.insecure_channel(target, options=CHANNEL_OPTIONS)
    return module.secure_channel(target, creds, options=CHANNEL_OPTIONS)


def call_metadata(token: str | None) -> tuple[tuple[str, str], ...]:
    """Per-call metadata: the bearer token, if any."""
    return (("authorization", f"Bearer {token}"),) if token else ()


def check_timeout(timeout: float | None) -> float | None:
    """timeout itself if it is None (no deadline) or a positive, finite number of seconds."""
    if timeout is not None and not (isinstance(timeout, int | float) and 0 < timeout < math.inf):
        raise ValueError(f"timeout: {timeout!r} is not a positive number of seconds")
    return timeout


class Attempts:
    """Deadline and retry bookkeeping for one logical call (several attempts on UNAVAILABLE)."""

    def __init__(self, timeout: float | None, retries: int) -> None:
        check_timeout(timeout)
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
