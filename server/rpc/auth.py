"""Bearer tokens with roles: read < train < admin. Health is always open.

Tokens are held as SHA-256 digests and compared in constant time, so neither
memory nor timing gives one away. The scheme is case-insensitive (RFC 6750).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from gatenet.server.errors import PermissionDenied, Unauthenticated

ROLES = ("read", "train", "admin")  # each includes the ones before it
# The role each method needs; anything not listed (and not open) needs "read".
_NEEDS = {
    "/gatenet.v1.GateService/Train": "train",
    "/gatenet.v1.GateService/TrainStream": "train",
    "/gatenet.v1.GateService/ImportModel": "train",
    "/gatenet.v1.GateService/ImportModelChunked": "train",
    "/gatenet.v1.GateService/DeleteModel": "admin",
}
_HEALTH = "/grpc.health.v1.Health/"
_REFLECTION = "/grpc.reflection."


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def read_tokens_file(path: str) -> list[tuple[str, str]]:
    """(token, role) pairs from lines "TOKEN ROLE"; '#' starts a comment. ValueError names a bad
    line by number (never its token)."""
    pairs = []
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        if len(words) != 2 or words[1] not in ROLES:
            raise ValueError(
                f"--tokens-file {path} line {number}: want 'TOKEN ROLE', ROLE one of "
                f"{', '.join(ROLES)}"
            )
        pairs.append((words[0], words[1]))
    return pairs


class Auth:
    """Which calls a token may make."""

    def __init__(self, tokens: Iterable[tuple[str, str]], open_reflection: bool = True) -> None:
        self._roles = [(_digest(token), role) for token, role in tokens]
        self._open = (_HEALTH, _REFLECTION) if open_reflection else (_HEALTH,)

    def check(self, method: str, metadata: Iterable[Any] | None) -> None:
        """Return if the call may go ahead; else raise Unauthenticated or PermissionDenied."""
        if method.startswith(self._open):
            return
        given = next((v for k, v in metadata or () if k == "authorization"), None)
        if given is None:
            raise Unauthenticated("authorization: missing; send 'authorization: Bearer <token>'")
        scheme, _, token = str(given).strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("authorization: not a bearer token; send 'Bearer <token>'")
        role = self._role(_digest(token.strip()))
        if role is None:
            raise Unauthenticated("authorization: the bearer token is not accepted")
        needed = _NEEDS.get(method, "read")
        if ROLES.index(role) < ROLES.index(needed):
            name = method.rsplit("/", 1)[-1]
            raise PermissionDenied(
                f"authorization: role {role!r} cannot call {name}; it needs {needed!r}"
            )

    def _role(self, digest: bytes) -> str | None:
        found = None
        for known, role in self._roles:  # every entry compared: the time says nothing
            if hmac.compare_digest(known, digest):
                found = role
        return found
