"""Run `gatenet serve` as a real process on free loopback ports, for tests that kill it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from gatenet.client import Client, ClientError


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
        self.proc = gatenet(
            "serve",
            "--port",
            str(self.port),
            "--metrics-port",
            "-1",
            *self.flags,
            start_new_session=True,
        )
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
