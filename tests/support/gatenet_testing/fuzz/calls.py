"""What one fuzz call is, and the models and files the calls may refer to."""

from __future__ import annotations

import dataclasses

GATE = "/gatenet.v1.GateService/"
HEALTH = "/grpc.health.v1.Health/"
REFLECTION = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"
UNKNOWN_LABEL = "(unknown method)"
Metadata = tuple[tuple[str, str], ...]  # call headers: the admin token when auth is on


# -- what the calls may refer to -------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Targets:
    """Models and files the calls refer to; `kept` ones are never deleted by a call."""

    kept: tuple[tuple[str, int], ...]  # (id or name, num_inputs)
    disposable: tuple[str, ...]  # ids or names a DeleteModel may remove
    safetensors: bytes  # a real GetWeights(include_safetensors) file
    weights_json: str  # a real `gatenet weights --json` document


@dataclasses.dataclass(frozen=True)
class Call:
    """One fuzzed call: where it goes, its raw request bodies, its deadline, how it was made."""

    label: str  # the method as counted: "Train", "Health/Watch", UNKNOWN_LABEL, ...
    path: str  # the method's full path on the wire
    shape: str  # "unary", "server_stream" or "bidi"
    bodies: tuple[bytes, ...]  # exactly one unless bidi (then any number, none too)
    timeout: float  # seconds
    kind: str  # the mutation that made it, for reproducers
    gzip: bool = False  # sent compressed: the server inflates it, within its size limit
    metadata: tuple[tuple[str, str | bytes], ...] = ()  # the call headers (authorization)
    auth: str = ""  # what the authorization header is (fuzz/auth.py): "admin", "bad:...", ...

    def describe(self, limit: int = 120) -> str:
        """A short account of the call: its path, mutation, deadline and the bodies' first bytes."""
        path = self.path if len(self.path) <= limit else f"{self.path[:limit]}…"
        shown = [b[:limit].hex() + ("…" if len(b) > limit else "") for b in self.bodies]
        sizes = [len(b) for b in self.bodies]
        how = (" gzip" if self.gzip else "") + (f" auth={self.auth}" if self.auth else "")
        return f"{path} [{self.kind}]{how} timeout={self.timeout:.2f}s bytes={sizes} hex={shown}"
