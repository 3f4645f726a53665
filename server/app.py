"""Composition root: build the server from settings, run it, stop it gracefully."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Sequence
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2_grpc
from prometheus_client import CollectorRegistry, start_http_server

from gatenet.server import logs
from gatenet.server.auth import TokenAuthInterceptor
from gatenet.server.config import Settings, load_settings
from gatenet.server.loop import LoopThread
from gatenet.server.metrics import Metrics
from gatenet.server.observe import Observer
from gatenet.server.registry import Registry
from gatenet.server.service import GateService, add_to_server
from gatenet.server.workers import TrainingPool
from gatenet.v1 import gatenet_pb2

log = logging.getLogger("gatenet.server")

SERVICE_NAME = gatenet_pb2.DESCRIPTOR.services_by_name["GateService"].full_name
_METHODS = {
    m.name: ("server_stream" if m.server_streaming else "unary")
    for m in gatenet_pb2.DESCRIPTOR.services_by_name["GateService"].methods
}


class GatenetServer:
    """A built server: gRPC port, metrics port, training workers, health."""

    def __init__(self, settings: Settings, metrics_registry: CollectorRegistry | None = None):
        import torch

        self.settings = settings
        self.metrics_registry = metrics_registry or CollectorRegistry()
        self.metrics = Metrics(self.metrics_registry, torch_version=torch.__version__)
        self.metrics.init_methods(SERVICE_NAME, _METHODS)
        self.registry = Registry(settings.max_models)
        self.metrics.models.set(len(self.registry))
        self.pool = TrainingPool(settings.training_workers, settings.max_queued_trainings)
        self.health = health.aio.HealthServicer()
        self.metrics_port = -1
        self._metrics_http = None
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
        options = [
            ("grpc.max_receive_message_length", settings.max_message_bytes),
            ("grpc.max_send_message_length", settings.max_message_bytes),
            ("grpc.so_reuseport", 0),
        ]
        observer = Observer(self.metrics)
        server = grpc.aio.server(
            # Used only by synchronous handlers; gatenet's, health's and reflection's are async.
            migration_thread_pool=futures.ThreadPoolExecutor(
                max_workers=settings.request_threads, thread_name_prefix="gatenet-rpc"
            ),
            # No interceptor unless auth is on: calls then go straight to their handlers.
            interceptors=(
                [TokenAuthInterceptor(settings.auth_token, observer.observe)]
                if settings.auth_token
                else None
            ),
            options=options,
        )
        # Every handler is registered through this, which wraps it for metrics and logs.
        registrar = observer.registrar(server)
        service = GateService(settings, self.registry, self.pool, self.metrics)
        add_to_server(service, registrar)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, registrar)
        names = (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME)
        # What reflection.enable_server_reflection does for an aio server.
        reflection_pb2_grpc.add_ServerReflectionServicer_to_server(
            reflection.aio.ReflectionServicer(names), registrar
        )
        address = f"{settings.host}:{settings.port}"
        try:
            port = server.add_insecure_port(address)
        except RuntimeError as exc:
            raise OSError(f"cannot bind gRPC to {address}") from exc
        if port == 0:
            raise OSError(f"cannot bind gRPC to {address}")
        await self._set_health(health_pb2.HealthCheckResponse.NOT_SERVING)
        return server, port

    @property
    def target(self) -> str:
        """host:port a client on this machine dials."""
        host = (
            "127.0.0.1" if self.settings.host in ("0.0.0.0", "::", "[::]") else self.settings.host
        )
        return f"{host}:{self.port}"

    async def _set_health(self, status: int) -> None:
        for name in ("", SERVICE_NAME):
            await self.health.set(name, status)

    def start(self) -> None:
        """Bind, start the workers, then report SERVING."""
        if self.settings.metrics_port >= 0:
            self._metrics_http, _ = start_http_server(
                self.settings.metrics_port,
                addr=self.settings.metrics_host,
                registry=self.metrics_registry,
            )
            self.metrics_port = self._metrics_http.server_port
        self._loop.run(self.grpc.start())
        self.pool.start()
        self._loop.run(self._set_health(health_pb2.HealthCheckResponse.SERVING))
        log.info(
            "serving",
            extra={
                "fields": {
                    "grpc": self.target,
                    "metrics_port": self.metrics_port,
                    "training_workers": self.settings.training_workers,
                }
            },
        )

    def stop(self, grace: float | None = None) -> None:
        """NOT_SERVING first (so balancers drain us), then finish in-flight RPCs, then workers."""
        with self._stop_lock:
            if self._stopped.is_set():
                return
            grace = self.settings.grace_seconds if grace is None else grace
            self._loop.run(self.health.enter_graceful_shutdown())
            log.info("stopping", extra={"fields": {"grace_seconds": grace}})
            # Calls still running after the grace period are cancelled; their trainings with them.
            self._loop.run(self.grpc.stop(grace))
            self.pool.close()
            if self._metrics_http is not None:
                self._metrics_http.shutdown()
                self._metrics_http.server_close()
            self._loop.close()
            self._stopped.set()
        log.info("stopped")

    def wait(self) -> None:
        """Block until stop() has finished."""
        self._stopped.wait()


def build_server(
    settings: Settings | None = None, metrics_registry: CollectorRegistry | None = None
) -> GatenetServer:
    """A server bound to its ports (port 0 = any free one), not yet started."""
    return GatenetServer((settings or Settings()).validated(), metrics_registry)


def main(argv: Sequence[str] | None = None) -> int:
    """`gatenet serve`: run until SIGTERM/SIGINT, then drain and exit 0."""
    try:
        settings = load_settings(argv)
    except ValueError as exc:
        print(f"gatenet serve: {exc}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level, settings.log_format)
    try:
        server = build_server(settings)
    except OSError as exc:
        print(f"gatenet serve: {exc}", file=sys.stderr)
        return 1
    stopping = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server.start()
    while not stopping.wait(0.5):  # a timed wait keeps the main thread responsive to signals
        pass
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
