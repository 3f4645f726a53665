"""The Redis command lines of the compose scale profile and deploy/k8s, run by a real Redis 7
(Debian's redis-server): they start, and the store is AOF with an fsync per write."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from gatenet_testing.e2e_support import DEPLOY, find_tool, free_port, run, stop, wait_for

pytestmark = pytest.mark.e2e


def compose_redis_args() -> list[str]:
    """The scale profile's redis command, as docker-compose resolves it, minus the program."""
    result = run([find_tool("docker-compose"), "--profile", "scale", "config"])
    assert result.returncode == 0, result.stderr
    command = yaml.safe_load(result.stdout)["services"]["redis"]["command"]
    assert command[0] == "redis-server"
    return command[1:]


def k8s_redis_args() -> list[str]:
    docs = yaml.safe_load_all((DEPLOY / "k8s" / "redis.yaml").read_text())
    (statefulset,) = [d for d in docs if d["kind"] == "StatefulSet"]
    (container,) = statefulset["spec"]["template"]["spec"]["containers"]
    return container["args"]


def local(args: list[str], port: int, data: Path) -> list[str]:
    """The same arguments on a free loopback port and a temporary data folder."""
    out = list(args)
    for flag, value in (("--port", str(port)), ("--dir", str(data)), ("--bind", "127.0.0.1")):
        if flag in out:
            out[out.index(flag) + 1] = value
        else:
            out += [flag, value]
    return out


@contextmanager
def redis(args: list[str], tmp: Path) -> Iterator[int]:
    port = free_port()
    log = tmp / "redis.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [find_tool("redis-server"), *local(args, port, tmp)], stdout=out, stderr=out
        )
    try:
        ping = [find_tool("redis-cli"), "-h", "127.0.0.1", "-p", str(port), "ping"]
        wait_for("redis PONG", lambda: run(ping).stdout.strip() == "PONG", 30, log)
        yield port
    finally:
        stop(proc)


def cli(port: int, *command: str) -> str:
    result = run([find_tool("redis-cli"), "-h", "127.0.0.1", "-p", str(port), *command])
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.mark.parametrize("source", ["compose", "k8s"])
def test_redis_runs_with_an_fsynced_append_only_file(source, tmp_path):
    args = compose_redis_args() if source == "compose" else k8s_redis_args()
    with redis(args, tmp_path) as port:
        assert cli(port, "config", "get", "appendonly").split() == ["appendonly", "yes"]
        assert cli(port, "config", "get", "appendfsync").split() == ["appendfsync", "always"]
        assert cli(port, "set", "gatenet:probe", "1") == "OK"
        # Written through to the append-only files in the data folder before the reply.
        aof = b"".join(p.read_bytes() for p in tmp_path.rglob("*.aof*") if p.is_file())
        assert b"gatenet:probe" in aof
