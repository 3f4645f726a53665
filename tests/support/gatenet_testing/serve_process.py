"""Real processes for tests, on free loopback ports: `gatenet serve`, redis-server."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from gatenet.client import Client, ClientError

READY_TIMEOUT = 10.0  # seconds for redis-server to answer PING (it replays the AOF first)


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def find_redis_server() -> str:
    """The redis-server binary; skip without it, fail under GATENET_REQUIRE_TOOLS."""
    found = shutil.which("redis-server")
    if found:
        return found
    if os.environ.get("GATENET_REQUIRE_TOOLS", "") not in ("", "0"):
        pytest.fail("redis-server not found and GATENET_REQUIRE_TOOLS is set")
    pytest.skip("redis-server not installed (scripts/ensure-tools.sh installs it)")


class RedisServer:
    """A real redis-server on a free loopback port, durable like production."""

    def __init__(self, exe: str, data_dir: Path, durable: bool = True) -> None:
        self.exe = exe
        self.dir = data_dir
        self.port = free_port()
        self.durable = durable
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start (or restart, on the same dir and AOF) and wait until it answers."""
        persistence = ["--appendonly", "yes", "--appendfsync", "always"] if self.durable else []
        args = [self.exe, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir)]
        args += [*persistence, "--save", "", "--logfile", str(self.dir / "redis.log")]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + READY_TIMEOUT
        while self.command(b"PING") != b"+PONG":
            if self.proc.poll() is not None or time.monotonic() > deadline:
                log = (self.dir / "redis.log").read_text()[-2000:]
                raise RuntimeError(f"redis-server did not start:\n{log}")
            time.sleep(0.02)

    def command(self, *args: bytes) -> bytes:
        """One inline command's first reply line; b"" if nothing answers."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b" ".join(args) + b"\r\n")
                return s.recv(4096).split(b"\r\n")[0]
        except OSError:
            return b""

    def kill(self) -> None:
        """SIGKILL: no shutdown, no final fsync."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None


def gatenet(*args: str, **kwargs: object) -> subprocess.Popen[str]:
    """The installed `gatenet` command as a child process, output captured."""
    exe = os.path.join(os.path.dirname(sys.executable), "gatenet")
    return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
        [exe, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs
    )


class ServeProcess:
    """One `gatenet serve` process; start() waits until it reports SERVING."""

    def __init__(self, *flags: str, port: int | None = None) -> None:
        self.port = port or free_port()
        self.flags = flags
        self.proc: subprocess.Popen[str] | None = None

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> ServeProcess:
        return self.spawn().wait_serving(timeout)

    def spawn(self) -> ServeProcess:
        """Start the process; wait_serving() waits for it to serve."""
        self.proc = gatenet(
            "serve",
            "--port",
            str(self.port),
            "--metrics-port",
            "-1",
            *self.flags,
            start_new_session=True,
        )
        return self

    def wait_serving(self, timeout: float = 60) -> ServeProcess:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        with Client(self.target, timeout=5, retries=0) as c:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"gatenet serve exited: {self.proc.communicate()[1]}")
                try:
                    if c.health() == "SERVING":
                        return self
                except ClientError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError("gatenet serve did not report SERVING")
                time.sleep(0.1)

    def kill(self) -> None:
        """kill -9 the server process only (its workers must notice by themselves)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.communicate(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.communicate()


def start_all(servers: list[ServeProcess]) -> list[ServeProcess]:
    """Start several servers together: each starts up while the others do."""
    for server in servers:
        server.spawn()
    return [server.wait_serving() for server in servers]


def stop_all(servers: Iterable[ServeProcess]) -> None:
    """Stop several servers together: each drains (--drain-delay) while the others do."""
    running = [s for s in servers if s.proc is not None and s.proc.poll() is None]
    for server in running:
        assert server.proc is not None
        server.proc.terminate()
    for server in running:
        server.stop()  # a second SIGTERM is ignored by a draining server


def descendants(pid: int) -> set[int]:
    """Every living process below `pid`, read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pids: set[int]) -> set[int]:
    """Those of `pids` still running (zombies count as gone)."""
    living = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            living.add(pid)
    return living


def serving(*flags: str) -> Iterator[ServeProcess]:
    """A fixture body: a started server, stopped afterwards."""
    server = ServeProcess(*flags).start()
    try:
        yield server
    finally:
        server.stop()
