"""Composition root: build the server from settings, run it, stop it gracefully."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2_grpc
from prometheus_client import CollectorRegistry, start_http_server
from threadpoolctl import threadpool_limits

from gatenet.server import core_log, logs, offload, tls
from gatenet.server.config import SettingError, Settings, load_settings
from gatenet.server.http.server import HttpServer
from gatenet.server.malloc import reuse_freed_memory
from gatenet.server.metrics import Metrics
from gatenet.server.models import trained
from gatenet.server.models.registry import CacheEvents, Registry
from gatenet.server.models.timed_store import TimedStore
from gatenet.server.plane import DataPlane
from gatenet.server.rpc import inference_service
from gatenet.server.rpc.auth import ROLES, Auth, read_tokens_file
from gatenet.server.rpc.handlers import WrappingServer
from gatenet.server.rpc.loop import LoopThread
from gatenet.server.rpc.service import GateService, add_to_server
from gatenet.server.storage import FORGET_ALL, StoreError, StoreUnavailable, open_store
from gatenet.server.training.pool import TrainingPool
from gatenet.v1 import gatenet_pb2

if TYPE_CHECKING:  # imported only when tracing is on (_tracing)
    from gatenet.server.tracing import Tracing

log = logging.getLogger("gatenet.server")

SERVICE_NAME = gatenet_pb2.DESCRIPTOR.services_by_name["GateService"].full_name
STORE_HEALTH = "gatenet.store"  # a health entry that says whether the store answers
_METHODS = {
    m.name: (
        "server_stream"
        if m.server_streaming
        else "client_stream"
        if m.client_streaming
        else "unary"
    )
    for m in gatenet_pb2.DESCRIPTOR.services_by_name["GateService"].methods
}
_STORE_CHECK_SECONDS = 1.0
# After the drain delay, new calls are answered UNAVAILABLE until none has come for this long,
# then the port closes: shorter than the client's first retry backoff (50-100 ms), so a gap
# comes soon after the clients' first refusals...
_REFUSE_QUIET_SECONDS = 0.03
# ...or at the latest after this long, for clients that keep calling without a backoff.
_REFUSE_LONGEST_SECONDS = 0.5


def _cache_events(metrics: Metrics) -> CacheEvents:
    events = CacheEvents()
    events.hit = metrics.cache_hits.inc
    events.miss = metrics.cache_misses.inc
    events.evicted = metrics.cache_evictions.inc
    events.held = metrics.cache_bytes.set
    return events


def _auth(settings: Settings) -> Auth | None:
    tokens = read_tokens_file(settings.tokens_file) if settings.tokens_file else []
    if settings.auth_token:
        tokens.append((settings.auth_token, "admin"))
    return Auth(tokens, open_reflection=not settings.auth_reflection) if tokens else None


def tune_process() -> None:
    """Set the process-wide state gatenet serves best with. main() calls it; a program that
    builds servers in-process (bench/limits.py) calls it itself: the constructor never does."""
    # BLAS would spread a big Predict's matmuls over every core and starve the event loop
    # (health p99 63 ms under 16,000-row Predicts of a 1M-parameter model, bench/limits.py).
    threadpool_limits(limits=1, user_api="blas")
    # Big bodies reuse freed pages instead of faulting in new ones on the loop (malloc.py).
    reuse_freed_memory()
    # The loop takes the GIL back from the codec thread within 1 ms (offload.py).
    offload.prefer_the_loop()


def _tracing(settings: Settings) -> Tracing | None:
    if not settings.otlp_endpoint:
        return None
    try:
        from gatenet.server.tracing import Tracing
    except ImportError as exc:
        raise SettingError(
            f"--otlp-endpoint needs OpenTelemetry ({exc.name} is missing): "
            "pip install 'gatenet[tracing]'"
        ) from None
    return Tracing(settings)


class GatenetServer:
    """A built server: gRPC port, metrics port, store and cache, training workers, health."""

    def __init__(self, settings: Settings, prometheus_registry: CollectorRegistry | None = None):
        # Files the settings name are read first: a bad one stops start-up before anything opens.
        self._auth = _auth(settings)
        self._credentials = tls.server_credentials(settings)
        self.tracing = _tracing(settings)  # None unless --otlp-endpoint: then a span per call
        self._http_tls = tls.http_context(settings)
        self.settings = settings
        self.prometheus_registry = prometheus_registry or CollectorRegistry()
        self.metrics = Metrics(self.prometheus_registry)
        self.metrics.init_methods(SERVICE_NAME, _METHODS)
        self.metrics.init_methods(inference_service.SERVICE_NAME, inference_service.METHODS)
        store = TimedStore(open_store(settings.store, settings.data_dir), self.metrics)
        self.registry = Registry(
            store, settings.cache_bytes, settings.max_models, _cache_events(self.metrics)
        )
        self.pool = TrainingPool(
            settings.training_workers,
            settings.max_queued_trainings,
            settings.max_trainings_per_client,
            settings.max_train_seconds,
            trained.finish,  # each worker readies its model to store and serve
        )
        self.health = health.aio.HealthServicer()
        self.metrics_port = -1
        self.http: HttpServer | None = None  # the HTTP/JSON port, unless --http-port -1
        self._metrics_http: Any = None
        self._background: list[asyncio.Task[None]] = []
        self._stop_lock = threading.Lock()
        self._stopped = threading.Event()
        # The aio server lives on this loop; the public API stays synchronous.
        self._loop = LoopThread("gatenet-aio")
        try:
            self.grpc, self.port = self._loop.run(self._build())
        except BaseException:
            self._loop.close()
            raise

    async def _build(self) -> tuple[grpc.aio.Server, int]:
        """Create the aio server on its loop (grpc.aio binds to the running loop) and bind it."""
        settings = self.settings
        server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", settings.max_message_bytes),
                ("grpc.max_send_message_length", settings.max_message_bytes),
                ("grpc.so_reuseport", 0),
                # Long-lived clients reconnect now and then, so new replicas get their share.
                ("grpc.max_connection_age_ms", int(settings.max_connection_age * 1000)),
                # A call in flight may run to its cap: a Train's, or a longer TrainFamily's.
                (
                    "grpc.max_connection_age_grace_ms",
                    int(max(settings.max_train_seconds, settings.max_family_seconds) * 1000),
                ),
            ],
        )
        # Every handler registers through this, which wraps it: observe, auth, decode, status.
        if self.tracing is None:
            wrapping = WrappingServer(server, self.metrics, self._auth, settings.max_message_bytes)
        else:  # the traced wrappers, chosen here: with tracing off no call pays for them
            from gatenet.server.rpc.traced import TracedWrappingServer

            wrapping = TracedWrappingServer(
                server, self.metrics, self._auth, settings.max_message_bytes, self.tracing
            )
        self._wrapping = wrapping
        plane = DataPlane(settings, self.registry, self.pool, self.metrics, self.tracing)
        # The HTTP gateway (server/http/gateway.py) calls this same servicer in-process.
        self.gate_service = GateService(settings, plane)
        add_to_server(self.gate_service, wrapping)
        inference_service.add_to_server(
            inference_service.InferenceService(settings, plane, self.health), wrapping
        )
        health_pb2_grpc.add_HealthServicer_to_server(self.health, wrapping)  # type: ignore[arg-type]
        names = (
            SERVICE_NAME,
            inference_service.SERVICE_NAME,
            health.SERVICE_NAME,
            reflection.SERVICE_NAME,
        )
        reflection_pb2_grpc.add_ServerReflectionServicer_to_server(
            reflection.aio.ReflectionServicer(names), wrapping
        )
        wrapping.add_catch_all()
        address = f"{settings.host}:{settings.port}"
        with core_log.held_back() as held:  # our one line says why, not gRPC's core lines
            try:
                if self._credentials is None:
                    port = server.add_insecure_port(address)
                else:
                    port = server.add_secure_port(address, self._credentials)
            except RuntimeError:
                port = 0
        if port == 0:
            if "Handshaker factory creation failed" in held.text:
                raise OSError(f"cannot serve TLS on {address}: gRPC refused --tls-cert/--tls-key")
            reason = held.reason()
            raise OSError(
                f"cannot bind gRPC to {address} (--host/--port)" + (f": {reason}" if reason else "")
            )
        held.release()
        if settings.http_port >= 0:
            self.http = HttpServer(
                settings,
                plane,
                self.metrics,
                self._auth,
                wrapping.drain,
                self._ready,
                self._http_tls,
                self.gate_service,
                self.tracing,
            )
        await self._set_health(health_pb2.HealthCheckResponse.NOT_SERVING)
        return server, port

    async def _ready(self) -> bool:
        """Whether the V2 service is SERVING (not before the store opens, nor once draining)."""
        # Check reads the status it holds; the context is used only for unknown services.
        check = health_pb2.HealthCheckRequest(service=inference_service.SERVICE_NAME)
        reply = await self.health.Check(check, None)  # type: ignore[arg-type]
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)

    @property
    def target(self) -> str:
        """host:port a client on this machine dials."""
        host = (
            "127.0.0.1" if self.settings.host in ("0.0.0.0", "::", "[::]") else self.settings.host
        )
        return f"{host}:{self.port}"

    async def _set_health(self, status: int) -> None:
        for name in ("", SERVICE_NAME, inference_service.SERVICE_NAME):
            await self.health.set(name, status)

    def start(self) -> None:
        """Open the store, start the workers and the port, then report SERVING."""
        if self.settings.metrics_port >= 0:
            try:
                self._metrics_http, _ = start_http_server(
                    self.settings.metrics_port,
                    addr=self.settings.metrics_host,
                    registry=self.prometheus_registry,
                )
            except OSError as exc:
                raise OSError(
                    f"cannot serve metrics on {self.settings.metrics_host}:"
                    f"{self.settings.metrics_port} (--metrics-port): {exc.strerror}"
                ) from None
            self.metrics_port = self._metrics_http.server_port
        opened = self._loop.run(self._open_store())
        self._loop.run(self.pool.start())
        self._loop.run(self.grpc.start())
        if self.http is not None:
            self._loop.run(self.http.start())
        # What start-up made (modules, warmed models) lives as long as the server: frozen, full
        # collections stop walking it. A 1024-row JSON body (~1,000 lists) set one off every
        # few requests, each walking it all: 2.6-8x fewer V2 REST calls/s (bench/http_rest.py).
        # Collected first, so no garbage is frozen with it.
        gc.collect()
        gc.freeze()
        if opened:
            self._loop.run(self._serving())
        else:  # NOT_SERVING (but answering health) until the store answers
            self._loop.run(self._serve_once_the_store_opens())
        log.info(
            "serving",
            extra={
                "fields": {
                    "grpc": self.target,
                    "http_port": -1 if self.http is None else self.http.port,
                    "metrics_port": self.metrics_port,
                    "store": self.registry.store.backend,
                    "models": self.registry.stored,
                    "cached": len(self.registry),
                    "training_workers": self.settings.training_workers,
                    "auth": "off" if self._auth is None else "on",
                    "tokens": {role: 0 for role in ROLES}
                    if self._auth is None
                    else self._auth.tokens_by_role(),
                }
            },
        )

    async def _open_store(self) -> bool:
        """Open the store and warm the cache; False while the store does not answer."""
        try:
            await self.registry.store.open()
            await self.registry.open(warm=self.settings.warm_models)
        except StoreUnavailable as exc:
            self.metrics.store_up.set(0)
            log.warning("store unavailable; NOT_SERVING until it answers: %s", exc)
            return False
        self.metrics.models.set(self.registry.stored)
        self.metrics.store_up.set(1)
        return True

    async def _serve_once_the_store_opens(self) -> None:
        async def retry() -> None:
            while not await self._open_store():
                await asyncio.sleep(_STORE_CHECK_SECONDS)
            await self._serving()
            log.info("store open; serving")

        self._background.append(asyncio.create_task(retry()))

    async def _serving(self) -> None:
        await self._set_health(health_pb2.HealthCheckResponse.SERVING)
        await self.health.set(STORE_HEALTH, health_pb2.HealthCheckResponse.SERVING)
        self._background += [
            asyncio.create_task(self._apply_invalidations()),
            asyncio.create_task(self._watch_store()),
        ]

    async def _apply_invalidations(self) -> None:
        """Models deleted through other replicas leave this cache too."""
        while True:
            try:
                async for model_id in self.registry.store.invalidations():
                    if model_id == FORGET_ALL:  # some deletes may have been missed
                        self.registry.clear()
                    else:
                        self.registry.forget(model_id)
                return
            except StoreError:
                await asyncio.sleep(_STORE_CHECK_SECONDS)

    async def _watch_store(self) -> None:
        """Say in health and metrics whether the store answers."""
        up = True
        while True:
            await asyncio.sleep(_STORE_CHECK_SECONDS)
            try:
                await self.registry.store.ping()
                now_up = True
            except StoreUnavailable:
                now_up = False
            if now_up != up:
                up = now_up
                log.warning("store " + ("back" if up else "unavailable"))
                if up:  # deletes by other replicas while we could not hear them: start afresh
                    self.registry.clear()
                self.metrics.store_up.set(1 if up else 0)
                status = health_pb2.HealthCheckResponse
                await self.health.set(STORE_HEALTH, status.SERVING if up else status.NOT_SERVING)

    def stop(self, grace: float | None = None, drain_delay: float | None = None) -> None:
        """Drain: NOT_SERVING at once and Health.Watch streams ended, while still answering for
        the drain delay (balancers move away), queued trainings refused; then new calls get
        UNAVAILABLE for a moment, the port closes and in-flight calls get the grace."""
        with self._stop_lock:
            if self._stopped.is_set():
                return
            grace = self.settings.grace_seconds if grace is None else grace
            delay = self.settings.drain_delay if drain_delay is None else drain_delay
            log.info("draining", extra={"fields": {"drain_delay": delay, "grace_seconds": grace}})
            self._loop.run(self.health.enter_graceful_shutdown())
            self._loop.run(self._wrapping.drain.end_streams())
            self._loop.run(self.pool.drain())
            time.sleep(delay)
            # A call queued in gRPC as the port closes is cancelled, and clients do not retry
            # CANCELLED: so new calls are refused with UNAVAILABLE first.
            refusing = self._wrapping.drain.refuse_calls(
                _REFUSE_QUIET_SECONDS, _REFUSE_LONGEST_SECONDS
            )
            self._loop.run(refusing)
            log.info("stopping", extra={"fields": {"grace_seconds": grace}})
            # Calls still running after the grace period are cut (UNAVAILABLE); their trainings too.
            self._loop.run(self._stop_ports(grace))
            self._loop.run(self.pool.close())
            self._loop.run(self._close_store())
            if self._metrics_http is not None:
                self._metrics_http.shutdown()
                self._metrics_http.server_close()
            self._loop.close()
            if self.tracing is not None:  # the spans still batched go out now
                self.tracing.shutdown()
            self._stopped.set()
        log.info("stopped")

    async def _stop_ports(self, grace: float) -> None:
        """Close both ports together; in-flight calls and requests share the grace."""
        http = self.http.stop(grace) if self.http is not None else asyncio.sleep(0)
        await asyncio.gather(self.grpc.stop(grace), http)

    async def _close_store(self) -> None:
        for task in self._background:
            task.cancel()
        for task in self._background:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.registry.store.close()

    def wait(self) -> None:
        """Block until stop() has finished."""
        self._stopped.wait()


def build_server(
    settings: Settings | None = None, prometheus_registry: CollectorRegistry | None = None
) -> GatenetServer:
    """A server bound to its ports (port 0 = any free one), not yet started."""
    return GatenetServer((settings or Settings()).validated(), prometheus_registry)


def main(argv: Sequence[str] | None = None) -> int:
    """`gatenet serve`: run until SIGTERM/SIGINT, then drain and exit 0."""
    try:
        settings = load_settings(argv)
    except ValueError as exc:
        print(f"gatenet serve: {exc}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level, settings.log_format)
    tune_process()
    # A signal writes its number to this pipe and the main thread, blocked reading it, wakes:
    # no polling, and nothing runs in the signal handler. Set before start-up, so a signal
    # while the store opens or the workers warm up stops us right after it.
    wake, woken = os.pipe()
    os.set_blocking(woken, False)
    signal.set_wakeup_fd(woken)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: None)
    try:
        server = build_server(settings)
        server.start()
    except SettingError as exc:  # a file a setting names is wrong: a usage error, like a value
        print(f"gatenet serve: {exc}", file=sys.stderr)
        return 2
    except (OSError, StoreError, ValueError) as exc:
        print(f"gatenet serve: {exc}", file=sys.stderr)
        return 1
    while os.read(wake, 1)[0] not in (signal.SIGTERM, signal.SIGINT):
        pass
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
