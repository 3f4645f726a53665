"""Settings: typed defaults < GATENET_* environment < command-line flags.

Bad values stop start-up with one clear line naming the flag and its bound.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any
from urllib.parse import urlsplit

from gatenet.server.training.spec import Limits
from gatenet.server.variables import OTHER_PREFIXES, OTHER_VARIABLES, closest


class SettingError(ValueError):
    """A setting (or a file it names) that stops start-up: `gatenet serve` exits 2."""


@dataclass(frozen=True)
class Settings:
    """Everything an operator can set; requests carry hyperparameters, settings carry limits."""

    host: str = "127.0.0.1"  # gRPC bind address (0.0.0.0 inside a container)
    port: int = 50051  # gRPC port; 0 picks a free one
    http_port: int = 8080  # HTTP/JSON port (V2 REST) on the same host; 0 picks one, -1 disables
    metrics_host: str = "127.0.0.1"  # /metrics bind address
    metrics_port: int = 8000  # /metrics port; 0 picks a free one, -1 disables
    max_models: int = 100_000  # models stored before Train gets RESOURCE_EXHAUSTED
    training_workers: int = 1  # worker processes that train (leave a core for Predict)
    max_queued_trainings: int = 16  # trainings waiting for a worker before RESOURCE_EXHAUSTED
    max_trainings_per_client: int = 8  # in flight per token (or per peer address without auth)
    max_train_seconds: float = 60.0  # wall-time cap of one training; it then hands back its best
    max_family_seconds: float = 600.0  # wall-time cap of one TrainFamily (65,536 functions)
    max_message_bytes: int = 4 * 1024 * 1024  # gRPC receive/send limit
    max_predict_rows: int = 65_536  # rows in one Predict
    max_predict_work: int = 1_000_000_000  # rows x multiply-adds per row of one Predict (~50 ms)
    grace_seconds: float = 10.0  # drain time for in-flight RPCs on SIGTERM
    drain_delay: float = 2.0  # seconds NOT_SERVING but still answering, so balancers move away
    max_connection_age: float = 30.0  # seconds before a client connection is asked to reconnect
    tls_cert: str = ""  # PEM certificate chain: serve TLS (with tls_key)
    tls_key: str = ""  # PEM private key of tls_cert
    tls_client_ca: str = ""  # PEM CA bundle: require client certificates it signed (mTLS)
    log_level: str = "INFO"  # DEBUG, INFO, WARNING, ERROR
    log_format: str = "json"  # json (one object per line) or text
    auth_token: str = ""  # one admin token: calls then need "authorization: Bearer <token>"
    tokens_file: str = ""  # lines "TOKEN ROLE" (read, train, admin); auth on when set
    auth_reflection: bool = False  # reflection needs a token too (it is open by default)
    store: str = "sqlite"  # where models live: sqlite, memory or redis://HOST:PORT/DB
    data_dir: str = "./gatenet-data"  # the sqlite store's folder, created if missing
    cache_bytes: int = 256 * 1024 * 1024  # models held ready for Predict, by their bytes (LRU)
    warm_models: int = 1000  # most recent models cached at start-up
    otlp_endpoint: str = ""  # http(s)://HOST:PORT of an OTLP/gRPC collector: export traces
    trace_sample_ratio: float = 1.0  # fraction of new traces kept (a caller's sampled flag wins)
    limits: Limits = field(default_factory=Limits)  # bounds on one Train request

    def validated(self) -> Settings:
        """Return self, or raise SettingError naming the first bad setting."""
        _check(0 <= self.port <= 65535, "port", self.port, "0..65535")
        _check(-1 <= self.metrics_port <= 65535, "metrics-port", self.metrics_port, "-1..65535")
        _check(-1 <= self.http_port <= 65535, "http-port", self.http_port, "-1..65535")
        _check(self.max_models >= 1, "max-models", self.max_models, ">= 1")
        _check(1 <= self.training_workers <= 64, "training-workers", self.training_workers, "1..64")
        _check(
            self.max_queued_trainings >= 0,
            "max-queued-trainings",
            self.max_queued_trainings,
            ">= 0",
        )
        _check(self.cache_bytes >= 1024, "cache-bytes", self.cache_bytes, ">= 1024")
        _check(self.warm_models >= 0, "warm-models", self.warm_models, ">= 0")
        _check(
            self.max_message_bytes >= 1024, "max-message-bytes", self.max_message_bytes, ">= 1024"
        )
        _check(self.max_predict_rows >= 1, "max-predict-rows", self.max_predict_rows, ">= 1")
        # At least one row of the largest network Train or ImportModel accepts.
        most = self.limits.max_parameters
        _check(
            self.max_predict_work >= most,
            "max-predict-work",
            self.max_predict_work,
            f">= {most} (one row of a {most}-parameter model)",
        )
        _check(self.grace_seconds >= 0, "grace-seconds", self.grace_seconds, ">= 0")
        _check(self.drain_delay >= 0, "drain-delay", self.drain_delay, ">= 0")
        _check(self.max_connection_age > 0, "max-connection-age", self.max_connection_age, "> 0")
        _check(
            0 < self.max_train_seconds <= 86_400,
            "max-train-seconds",
            self.max_train_seconds,
            "0 < s <= 86400",
        )
        _check(
            0 < self.max_family_seconds <= 86_400,
            "max-family-seconds",
            self.max_family_seconds,
            "0 < s <= 86400",
        )
        _check(
            self.max_trainings_per_client >= 1,
            "max-trainings-per-client",
            self.max_trainings_per_client,
            ">= 1",
        )
        if self.tls_cert and not self.tls_key:
            raise SettingError("--tls-cert needs --tls-key")
        if self.tls_key and not self.tls_cert:
            raise SettingError("--tls-key needs --tls-cert")
        if self.tls_client_ca and not (self.tls_cert and self.tls_key):
            raise SettingError("--tls-client-ca needs --tls-cert and --tls-key")
        _check(
            self.log_level.upper() in _LOG_LEVELS,
            "log-level",
            self.log_level,
            "|".join(_LOG_LEVELS),
        )
        _check(self.log_format in ("json", "text"), "log-format", self.log_format, "json|text")
        _check(
            0.0 <= self.trace_sample_ratio <= 1.0,
            "trace-sample-ratio",
            self.trace_sample_ratio,
            "0..1",
        )
        if self.otlp_endpoint:
            _check_endpoint(self.otlp_endpoint)
        return self


_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

# Flags exposed on the command line; each also reads GATENET_<NAME> from the environment.
_HELP = {
    "host": "gRPC and HTTP bind address",
    "port": "gRPC port (0 = any free port)",
    "http_port": "HTTP/JSON port on --host: V2 REST and /v1/<Method> (0 = any free port, -1 = off)",
    "metrics_host": "Prometheus /metrics bind address",
    "metrics_port": "Prometheus /metrics port (0 = any free port, -1 = off)",
    "max_models": "models stored before Train is refused with RESOURCE_EXHAUSTED",
    "training_workers": "worker processes that train models",
    "max_queued_trainings": "trainings that may wait for a worker",
    "max_message_bytes": "largest gRPC message accepted or sent",
    "max_predict_rows": "rows accepted in one Predict",
    "max_predict_work": "rows x multiply-adds per row (about the model's weights) accepted in "
    "one Predict or ModelInfer",
    "grace_seconds": "seconds in-flight RPCs get to finish on SIGTERM/SIGINT",
    "drain_delay": "seconds NOT_SERVING yet still answering on SIGTERM, before the grace",
    "max_connection_age": "seconds before a connection is asked to reconnect (spreads clients)",
    "max_trainings_per_client": "trainings one token (or peer address) may have in flight",
    "max_train_seconds": "wall-time cap of one training; it then returns its best so far",
    "max_family_seconds": "wall-time cap of one TrainFamily; it then returns what fit so far",
    "tls_cert": "PEM certificate chain: serve gRPC and HTTP over TLS (needs --tls-key)",
    "tls_key": "PEM private key for --tls-cert",
    "tls_client_ca": "PEM CA bundle: require client certificates signed by it (mTLS)",
    "log_level": "DEBUG, INFO, WARNING or ERROR",
    "log_format": "json (one object per line) or text",
    "auth_token": "one admin token: require 'authorization: Bearer <token>' on every call "
    "but health; prefer the env variable, flags show in ps",
    "tokens_file": "file of 'TOKEN ROLE' lines (roles: read, train, admin); turns auth on",
    "auth_reflection": "with auth on, reflection needs a token too (true/false)",
    "store": "where models live: sqlite (under --data-dir), memory, or redis://HOST:PORT/DB",
    "data_dir": "folder of the sqlite store, created if missing",
    "cache_bytes": "bytes of models held ready for Predict (least recently used go first)",
    "warm_models": "most recent models loaded into the cache at start-up",
    "otlp_endpoint": "http://HOST:PORT (or https://) of an OTLP/gRPC collector: export a span "
    "per call to it (needs the tracing extra); empty = tracing off",
    "trace_sample_ratio": "fraction of new traces sampled (0..1); a caller's traceparent "
    "decides for its own trace",
}


def setting_names() -> set[str]:
    """The GATENET_* variable of every setting."""
    return {f"GATENET_{f.name.upper()}" for f in fields(Settings) if f.name != "limits"}


@dataclass(frozen=True)
class Described:
    """One setting as the docs show it: flag, variable, default and help."""

    name: str
    flag: str
    env: str
    default: object
    help: str


def described_settings() -> list[Described]:
    """Every setting in declaration order: the one source of the docs and env files."""
    defaults = Settings()
    return [
        Described(
            f.name,
            "--" + f.name.replace("_", "-"),
            f"GATENET_{f.name.upper()}",
            getattr(defaults, f.name),
            _HELP[f.name],
        )
        for f in fields(Settings)
        if f.name != "limits"
    ]


def _check_endpoint(endpoint: str) -> None:
    parsed = urlsplit(endpoint)
    try:
        port = parsed.port
    except ValueError:
        port = None
    if parsed.scheme not in ("http", "https") or not parsed.hostname or port is None:
        raise SettingError(
            f"--otlp-endpoint = {endpoint!r} is not a collector address; "
            "allowed: http://HOST:PORT or https://HOST:PORT"
        )


def _check(ok: bool, name: str, value: object, allowed: str) -> None:
    if not ok:
        raise SettingError(f"--{name} = {value!r} is out of range; allowed: {allowed}")


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _convert(name: str, kind: type, raw: str, source: str) -> object:
    if kind is bool:
        if raw.lower() in _TRUE + _FALSE:
            return raw.lower() in _TRUE
        raise SettingError(f"{source} = {raw!r} is not true or false")
    try:
        return kind(raw)
    except ValueError:
        raise SettingError(f"{source} = {raw!r} is not a valid {kind.__name__}") from None


def build_parser() -> argparse.ArgumentParser:
    """The `gatenet serve` flags, defaults shown as the typed defaults."""
    parser = argparse.ArgumentParser(
        prog="gatenet serve",
        description="Run the gatenet gRPC service. Every flag also reads GATENET_<FLAG> "
        "(e.g. GATENET_PORT); flags win over the environment.",
    )
    defaults = Settings()
    for f in fields(Settings):
        if f.name == "limits":
            continue
        flag = "--" + f.name.replace("_", "-")
        parser.add_argument(
            flag,
            dest=f.name,
            default=None,
            metavar=type(getattr(defaults, f.name)).__name__.upper(),
            help=f"{_HELP[f.name]} (default {getattr(defaults, f.name)!r}, "
            f"env GATENET_{f.name.upper()})",
        )
    return parser


def load_settings(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Typed defaults, overridden by GATENET_* variables, overridden by flags."""
    environ = os.environ if environ is None else environ
    args = build_parser().parse_args(argv)
    _refuse_unknown_variables(environ)
    settings = Settings()
    changes: dict[str, Any] = {}
    for f in fields(Settings):
        if f.name == "limits":
            continue
        kind = type(getattr(settings, f.name))
        env_name = f"GATENET_{f.name.upper()}"
        if env_name in environ:
            changes[f.name] = _convert(f.name, kind, environ[env_name], env_name)
        flag_value = getattr(args, f.name)
        if flag_value is not None:
            changes[f.name] = _convert(f.name, kind, flag_value, "--" + f.name.replace("_", "-"))
    return replace(settings, **changes).validated()


def _refuse_unknown_variables(environ: Mapping[str, str]) -> None:
    """A misspelled GATENET_* variable would be silently ignored: stop instead."""
    known = setting_names() | set(OTHER_VARIABLES)
    for name in sorted(environ):
        if not name.startswith("GATENET_") or name in known or name.startswith(OTHER_PREFIXES):
            continue
        close = closest(name, known)
        hint = f"; did you mean {close}?" if close else " (`gatenet serve --help` lists them)"
        raise SettingError(f"{name} is not a gatenet setting{hint}")
