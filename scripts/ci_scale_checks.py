"""The scale profile's end-to-end checks, run by scripts/ci-scale.sh on the stack it brought up.

Every gRPC call goes through the real `gatenet` CLI, every HTTP one through urllib; which
replica answered is read from the replicas' own /metrics (grpc_server_handled_total,
gatenet_http_requests_total), HAProxy's view from its /stats;csv.
  1. the stack: every replica healthy, HAProxy sees all three UP in both backends (gRPC and
     HTTP), Redis runs AOF with appendfsync always, every replica's store is that Redis;
  2. Train through HAProxy; the model is in Redis;
  3. Predict on each replica directly: all three answer, two of them from Redis alone;
     ListModels through HAProxy (round-robin) until every replica has answered and listed it;
  4. Predict through HAProxy: one replica (the model id's owner on the hash ring) answers all;
     V2 REST infer and /v1/Predict through HAProxy's HTTP front door: the same replica;
  5. SIGKILL that replica's container; Predict and V2 infer through HAProxy at once (the
     refused connection is retried on a survivor), then after HAProxy marks it DOWN in both
     backends: one survivor answers every gRPC and HTTP call.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

XOR_ROWS = ["0,0", "0,1", "1,0", "1,1"]
XOR_LABELS = [0, 1, 1, 0]
CALLS = 6  # Predicts per round through HAProxy
INFER = "/v2/models/{name}/infer"  # V2 REST infer's route label in gatenet_http_requests_total
BACKENDS = ("gatenet", "gatenet-http")  # haproxy.cfg's gRPC and HTTP backends


class CheckFailed(Exception):
    """A check did not hold; the message says what was seen."""


@dataclass(frozen=True)
class Replica:
    """One replica container: its name in compose and haproxy.cfg, ports and container id."""

    name: str
    grpc_port: int
    http_port: int
    metrics_port: int
    container: str

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"


@dataclass(frozen=True)
class Stack:
    """What ci-scale.sh brought up, and the tools to reach it."""

    gatenet: str
    docker: str
    lb: str
    lb_http: str  # http://HOST:PORT
    stats_url: str
    redis_container: str
    redis_port: int
    replicas: tuple[Replica, ...]
    deadline: float


STARTED = time.monotonic()


def say(text: str) -> None:
    """One step log line, in the stage's prefix, with the seconds since the checks began."""
    print(f"ci-scale: [{time.monotonic() - STARTED:5.1f}s] {text}", flush=True)


def run(args: list[str], timeout: float) -> str:
    """Run a command; its stdout, or CheckFailed with its stderr."""
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise CheckFailed(f"{' '.join(args[:4])}... took over {timeout:.0f} s") from exc
    if done.returncode != 0:
        raise CheckFailed(f"{' '.join(args)} exited {done.returncode}: {done.stderr.strip()}")
    return done.stdout


def cli(stack: Stack, target: str, *args: str) -> Any:
    """The gatenet CLI's --json answer from `target`."""
    command = [stack.gatenet, "--target", target, "--timeout", "60", "--json", *args]
    return json.loads(run(command, timeout=90))


def docker(stack: Stack, *args: str) -> str:
    return run([stack.docker, *args], timeout=30).strip()


def wait_until(what: str, ready: Callable[[], bool], stack: Stack) -> None:
    """Poll `ready` every 0.25 s (these states have no event to wait on) until the deadline."""
    while not ready():
        if time.monotonic() > stack.deadline:
            raise CheckFailed(f"timed out waiting for {what}")
        time.sleep(0.25)


def handled(replica: Replica, method: str) -> float | None:
    """grpc_server_handled_total{method, OK} of a replica; None when its /metrics is gone.

    A method starting with '/' is an HTTP route: gatenet_http_requests_total{route, 200}.
    """
    url = f"http://127.0.0.1:{replica.metrics_port}/metrics"
    try:
        text = urllib.request.urlopen(url, timeout=5).read().decode()
    except OSError:
        return None
    if method.startswith("/"):
        name, want = "gatenet_http_requests_total", {"route": method, "code": "200"}
    else:
        name, want = "grpc_server_handled_total", {"grpc_method": method, "grpc_code": "OK"}
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name and all(s.labels.get(k) == v for k, v in want.items())
    )


def counts(stack: Stack, method: str, replicas: tuple[Replica, ...]) -> dict[str, float]:
    """handled() of each replica, which must all answer."""
    got = {r.name: handled(r, method) for r in replicas}
    missing = [name for name, n in got.items() if n is None]
    if missing:
        raise CheckFailed(f"no /metrics from {missing}")
    return {name: n for name, n in got.items() if n is not None}


def delta(before: dict[str, float], after: dict[str, float]) -> dict[str, int]:
    return {name: int(after[name] - before[name]) for name in after}


def lb_status(stack: Stack, backend: str = "gatenet") -> dict[str, str]:
    """HAProxy's status of each server of a backend: UP, DOWN, "UP 1/2" (failing), ..."""
    text = urllib.request.urlopen(stack.stats_url, timeout=5).read().decode()
    rows = csv.DictReader(io.StringIO(text.lstrip("# ")))
    return {
        r["svname"]: r["status"]
        for r in rows
        if r["pxname"] == backend and r["svname"] not in ("FRONTEND", "BACKEND")
    }


def post(stack: Stack, path: str, body: dict[str, Any], **headers: str) -> Any:
    """POST JSON to HAProxy's HTTP front door; the JSON answer of a 200, else CheckFailed."""
    request = urllib.request.Request(
        stack.lb_http + path, json.dumps(body).encode(), {"content-type": "application/json"}
    )
    for key, value in headers.items():
        request.add_header(key, value)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as err:
        raise CheckFailed(f"POST {path} through HAProxy: HTTP {err.code} {err.read()!r}") from err
    except OSError as exc:
        raise CheckFailed(f"POST {path} through HAProxy: {exc}") from exc


def infer_xor(stack: Stack, model: str) -> None:
    """V2 REST infer of XOR's rows through HAProxy's HTTP front door."""
    rows = [[int(c) for c in row.split(",")] for row in XOR_ROWS]
    tensor = {"name": "inputs", "datatype": "FP32", "shape": [len(rows), 2], "data": rows}
    answer = post(stack, f"/v2/models/{model}/infer", {"inputs": [tensor]})
    labels = [o["data"] for o in answer["outputs"] if o["name"] == "label"]
    if labels != [[bool(x) for x in XOR_LABELS]]:
        raise CheckFailed(f"V2 infer through HAProxy: outputs {answer['outputs']}")


def predict_xor_v1(stack: Stack, model: str) -> None:
    """/v1/Predict through HAProxy's HTTP front door, with x-model-id as on gRPC."""
    inputs = [int(c) for row in XOR_ROWS for c in row.split(",")]
    answer = post(stack, "/v1/Predict", {"model": model, "inputs": inputs}, **{"x-model-id": model})
    if answer.get("labels") != XOR_LABELS:
        raise CheckFailed(f"/v1/Predict through HAProxy: {answer}")


def http_round(stack: Stack, model: str, live: tuple[Replica, ...]) -> str:
    """CALLS V2 infers and one /v1/Predict through HAProxy; the one live replica answering all."""
    before = {route: counts(stack, route, live) for route in (INFER, "/v1/Predict")}
    for _ in range(CALLS):
        infer_xor(stack, model)
    predict_xor_v1(stack, model)
    infers = delta(before[INFER], counts(stack, INFER, live))
    v1 = delta(before["/v1/Predict"], counts(stack, "/v1/Predict", live))
    # The hash picks one replica per id, but hash-balance-factor (bounded load) may send a
    # call on when the owner still counts the previous call's closing connection (HTTP/1.1:
    # a connection per call here): the owner is the replica that answered most, by far.
    owner = max(infers, key=lambda name: infers[name])
    if sum(infers.values()) != CALLS or infers[owner] <= CALLS // 2:
        raise CheckFailed(f"{CALLS} V2 infers of one id through HAProxy, answered: {infers}")
    if sum(v1.values()) != 1:
        raise CheckFailed(f"/v1/Predict with x-model-id: answered {v1}, want once")
    if infers[owner] < CALLS or v1[owner] != 1:
        say(f"bounded load spilled calls off the hash owner {owner}: infer {infers}, /v1 {v1}")
    return owner


def predict_xor(stack: Stack, target: str, model: str) -> None:
    labels = cli(stack, target, "predict", model, *XOR_ROWS)["labels"]
    if labels != XOR_LABELS:
        raise CheckFailed(f"{target}: xor labels {labels}, want {XOR_LABELS}")


def check_stack(stack: Stack) -> None:
    def healthy() -> bool:
        states = [
            docker(
                stack, "inspect", "-f", "{{.State.Status}}/{{.State.Health.Status}}", r.container
            )
            for r in stack.replicas
        ]
        bad = [s for s in states if s.startswith(("exited", "dead")) or s.endswith("unhealthy")]
        if bad:
            raise CheckFailed(f"replica containers: {states}")
        return all(s == "running/healthy" for s in states)

    wait_until("the replicas' healthchecks", healthy, stack)
    want = {r.name: "UP" for r in stack.replicas}
    for backend in BACKENDS:
        wait_until(
            f"HAProxy to see every replica UP in {backend}",
            lambda b=backend: _status_is(stack, want, b),
            stack,
        )
    say(f"replicas healthy, HAProxy: {lb_status(stack)} (HTTP: {lb_status(stack, BACKENDS[1])})")

    redis = f"redis://127.0.0.1:{stack.redis_port}/0"
    for r in stack.replicas:
        env = json.loads(docker(stack, "inspect", "-f", "{{json .Config.Env}}", r.container))
        if f"GATENET_STORE={redis}" not in env:
            raise CheckFailed(f"{r.name}: GATENET_STORE is not {redis}: {env}")
    for key, value in [("appendonly", "yes"), ("appendfsync", "always")]:
        got = redis_cli(stack, "config", "get", key).split()
        if got != [key, value]:
            raise CheckFailed(f"redis {key} = {got[1:]}, want {value}")
    say(f"every replica's store is {redis}; Redis runs appendonly yes, appendfsync always")


def _status_is(stack: Stack, want: dict[str, str], backend: str = "gatenet") -> bool:
    try:
        return lb_status(stack, backend) == want
    except OSError:  # the stats port opens a moment after the container starts
        return False


def redis_cli(stack: Stack, *args: str) -> str:
    return docker(
        stack, "exec", stack.redis_container, "redis-cli", "-p", str(stack.redis_port), *args
    )


def check_train(stack: Stack) -> str:
    before = counts(stack, "Train", stack.replicas)
    info = cli(stack, stack.lb, "train", "--gate", "xor")
    if info.get("fit") is not True or info.get("accuracy") != 1.0:
        raise CheckFailed(f"xor did not fit: {info}")
    model = str(info["model_id"])
    trained = delta(before, counts(stack, "Train", stack.replicas))
    trainers = [name for name, n in trained.items() if n]
    if sorted(trained.values()) != [0] * (len(trained) - 1) + [1]:
        raise CheckFailed(f"Train calls per replica: {trained}, want one in all")
    if redis_cli(stack, "exists", f"gatenet:model:{model}") != "1":
        raise CheckFailed(f"model {model} is not in Redis")
    say(f"Train through HAProxy: model {model}, trained by {trainers[0]}, stored in Redis")
    return model


def check_shared(stack: Stack, model: str) -> None:
    before = counts(stack, "Predict", stack.replicas)
    for r in stack.replicas:
        predict_xor(stack, r.target, model)
    answered = delta(before, counts(stack, "Predict", stack.replicas))
    if any(n != 1 for n in answered.values()):
        raise CheckFailed(f"direct Predict calls per replica: {answered}, want 1 each")
    say(f"Predict on each replica directly: all three answer XOR ({answered})")

    before = counts(stack, "ListModels", stack.replicas)
    listed: dict[str, int] = {}
    for _ in range(3 * len(stack.replicas)):
        ids = [m["model_id"] for m in cli(stack, stack.lb, "models")["models"]]
        if model not in ids:
            raise CheckFailed(f"ListModels through HAProxy lacks {model}: {ids}")
        listed = delta(before, counts(stack, "ListModels", stack.replicas))
        if all(listed.values()):
            break
    if not all(listed.values()):
        raise CheckFailed(f"ListModels through HAProxy did not reach every replica: {listed}")
    say(f"ListModels through HAProxy (round-robin): every replica answered and lists it ({listed})")


def predict_round(stack: Stack, model: str, live: tuple[Replica, ...]) -> dict[str, int]:
    """CALLS Predicts through HAProxy; the calls each live replica answered."""
    before = counts(stack, "Predict", live)
    for _ in range(CALLS):
        predict_xor(stack, stack.lb, model)
    answered = delta(before, counts(stack, "Predict", live))
    if sum(answered.values()) != CALLS:
        raise CheckFailed(f"{CALLS} Predicts through HAProxy, answered: {answered}")
    return answered


def check_failover(stack: Stack, model: str) -> None:
    answered = predict_round(stack, model, stack.replicas)
    owners = [name for name, n in answered.items() if n]
    if len(owners) != 1:
        raise CheckFailed(f"Predicts of one id through HAProxy spread over {answered}")
    (victim,) = [r for r in stack.replicas if r.name == owners[0]]
    say(f"Predict x{CALLS} through HAProxy: all answered by {victim.name} (x-model-id hash)")
    http_owner = http_round(stack, model, stack.replicas)
    if http_owner != victim.name:
        raise CheckFailed(f"HTTP calls for {model} reached {http_owner}, gRPC {victim.name}")
    say(
        f"V2 infer x{CALLS} and /v1/Predict through HAProxy's HTTP front door: answered "
        f"by {victim.name} (the path's and the header's model, on gRPC's ring)"
    )

    survivors = tuple(r for r in stack.replicas if r is not victim)
    before = counts(stack, "Predict", survivors)
    before_http = counts(stack, INFER, survivors)
    docker(stack, "kill", "--signal", "KILL", victim.container)
    killed = time.monotonic()
    state = docker(
        stack, "inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", victim.container
    )
    if state != "exited 137":
        raise CheckFailed(f"{victim.name} after docker kill: {state}, want exited 137")
    say(f"docker kill --signal KILL {victim.name}: {state}")

    # Whether HAProxy has noticed yet depends on the moment: say which case this run saw.
    seen = lb_status(stack)[victim.name]
    predict_xor(stack, stack.lb, model)
    at_once = delta(before, counts(stack, "Predict", survivors))
    if sum(at_once.values()) != 1:
        raise CheckFailed(f"Predict right after the kill, answered by survivors: {at_once}")
    say(
        f"Predict through HAProxy right after the kill ({victim.name} {seen} in HAProxy's view "
        f"when it was sent): a survivor answered ({at_once})"
    )
    seen = lb_status(stack, BACKENDS[1])[victim.name]
    infer_xor(stack, model)
    at_once = delta(before_http, counts(stack, INFER, survivors))
    if sum(at_once.values()) != 1:
        raise CheckFailed(f"V2 infer right after the kill, answered by survivors: {at_once}")
    say(
        f"V2 infer through HAProxy right after the kill ({victim.name} {seen} in HAProxy's HTTP "
        f"view when it was sent): a survivor answered ({at_once})"
    )

    want = {r.name: ("DOWN" if r is victim else "UP") for r in stack.replicas}
    for backend in BACKENDS:
        wait_until(
            f"HAProxy to mark {victim.name} DOWN in {backend}",
            lambda b=backend: _status_is(stack, want, b),
            stack,
        )
    say(
        f"HAProxy marked {victim.name} DOWN in both backends within "
        f"{time.monotonic() - killed:.1f} s of the kill"
    )

    answered = predict_round(stack, model, survivors)
    owners = [name for name, n in answered.items() if n]
    if len(owners) != 1:
        raise CheckFailed(f"after the kill, Predicts of one id spread over {answered}")
    state = docker(stack, "inspect", "-f", "{{.State.Status}}", victim.container)
    if state != "exited":
        raise CheckFailed(f"{victim.name} came back ({state}): the check proves nothing")
    say(f"Predict x{CALLS} through HAProxy with {victim.name} dead: all answered by {owners[0]}")
    http_owner = http_round(stack, model, survivors)
    if http_owner != owners[0]:
        raise CheckFailed(f"with {victim.name} dead, HTTP reached {http_owner}, gRPC {owners[0]}")
    say(f"V2 infer x{CALLS} and /v1/Predict through HAProxy with {victim.name} dead: {http_owner}")


def parse_replica(text: str) -> Replica:
    """NAME=GRPC_PORT:HTTP_PORT:METRICS_PORT:CONTAINER_ID"""
    name, _, rest = text.partition("=")
    grpc_port, http_port, metrics_port, container = rest.split(":")
    return Replica(name, int(grpc_port), int(http_port), int(metrics_port), container)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--gatenet", required=True, help="the gatenet CLI")
    parser.add_argument("--docker", required=True, help="the docker client")
    parser.add_argument("--lb", required=True, help="HAProxy's gRPC front, HOST:PORT")
    parser.add_argument("--lb-http", required=True, help="HAProxy's HTTP front, HOST:PORT")
    parser.add_argument("--stats-port", type=int, required=True, help="HAProxy's stats port")
    parser.add_argument("--redis", required=True, help="Redis: PORT:CONTAINER_ID")
    parser.add_argument(
        "--replica", type=parse_replica, action="append", required=True, help=parse_replica.__doc__
    )
    parser.add_argument("--seconds", type=float, default=180, help="time for all the checks")
    args = parser.parse_args(argv)
    redis_port, redis_container = args.redis.split(":")
    stack = Stack(
        gatenet=args.gatenet,
        docker=args.docker,
        lb=args.lb,
        lb_http=f"http://{args.lb_http}",
        stats_url=f"http://127.0.0.1:{args.stats_port}/stats;csv",
        redis_container=redis_container,
        redis_port=int(redis_port),
        replicas=tuple(args.replica),
        deadline=time.monotonic() + args.seconds,
    )
    try:
        check_stack(stack)
        model = check_train(stack)
        check_shared(stack, model)
        check_failover(stack, model)
    except CheckFailed as exc:
        print(f"ci-scale: FAILED: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
