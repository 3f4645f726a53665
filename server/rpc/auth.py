"""Bearer tokens with roles: read < train < admin. Health is always open.

Tokens are held as SHA-256 digests and compared in constant time, so neither
memory nor timing gives one away. The scheme is case-insensitive (RFC 6750).
"""

from __future__ import annotations

import contextvars
import hashlib
import hmac
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from gatenet.server.config import SettingError
from gatenet.server.errors import PermissionDenied, Unauthenticated

ROLES = ("read", "train", "admin")  # each includes the ones before it
# The role each method needs; anything not listed (and not open) needs "read".
_NEEDS = {
    "/gatenet.v1.GateService/Train": "train",
    "/gatenet.v1.GateService/TrainStream": "train",
    "/gatenet.v1.GateService/TrainFamily": "train",
    "/gatenet.v1.GateService/ImportModel": "train",
    "/gatenet.v1.GateService/ImportModelChunked": "train",
    "/gatenet.v1.GateService/DeleteModel": "admin",
}
_HEALTH = "/grpc.health.v1.Health/"
_REFLECTION = "/grpc.reflection."
# The authenticated caller of the call running in this context; each call runs in a task of its
# own, so one call's identity never reaches another's.
_CALLER: contextvars.ContextVar[str | None] = contextvars.ContextVar("gatenet_caller", default=None)


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def read_tokens_file(path: str) -> list[tuple[str, str]]:
    """(token, role) pairs from lines "TOKEN ROLE"; '#' starts a comment. SettingError names a bad
    line by number (never its token), an unreadable file, or a file without tokens."""
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise SettingError(f"--tokens-file {path}: cannot read it: {reason}") from None
    pairs = []
    seen: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), 1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        if len(words) != 2 or words[1] not in ROLES:
            raise SettingError(
                f"--tokens-file {path} line {number}: want 'TOKEN ROLE', ROLE one of "
                f"{', '.join(ROLES)}"
            )
        if words[0] in seen:  # which role would it have? Say so rather than pick one
            raise SettingError(
                f"--tokens-file {path} line {number}: the token of line {seen[words[0]]} again"
            )
        seen[words[0]] = number
        pairs.append((words[0], words[1]))
    if not pairs:  # no tokens would mean no auth: a file named to protect must not open the door
        raise SettingError(f"--tokens-file {path}: no tokens in it")
    return pairs


class Auth:
    """Which calls a token may make."""

    def __init__(self, tokens: Iterable[tuple[str, str]], open_reflection: bool = True) -> None:
        self._roles = [(_digest(token), role) for token, role in tokens]
        self._open = (_HEALTH, _REFLECTION) if open_reflection else (_HEALTH,)

    def tokens_by_role(self) -> dict[str, int]:
        """How many tokens each role has (for the start-up line; never the tokens)."""
        return {role: sum(r == role for _, r in self._roles) for role in ROLES}

    def check(self, method: str, metadata: Iterable[Any] | None) -> None:
        """Return if the call may go ahead; else raise Unauthenticated or PermissionDenied."""
        if method.startswith(self._open):
            return
        given = next((v for k, v in metadata or () if k == "authorization"), None)
        if given is None:
            raise Unauthenticated("authorization: missing; send 'authorization: Bearer <token>'")
        token = bearer_token(str(given))
        if token is None:
            raise Unauthenticated("authorization: not a bearer token; send 'Bearer <token>'")
        digest = _digest(token)
        role = self._role(digest)
        if role is None:
            raise Unauthenticated("authorization: the bearer token is not accepted")
        # Whom the call counts against: the token, however its header was spelled.
        _CALLER.set("token:" + digest.hex()[:16])
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


def bearer_token(header: str) -> str | None:
    """The token of an `authorization` value: scheme case-insensitive, any spaces around."""
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def caller() -> str | None:
    """The authenticated identity of the current call ("token:<digest>"); None without auth."""
    return _CALLER.get()
