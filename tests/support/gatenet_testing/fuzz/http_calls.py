"""HTTP fuzz: seeded requests to every route of the HTTP port (V2 REST and /v1) — mutated and
random bodies, odd headers, methods and paths — and a runner that sends them and judges each.

Case `i` of seed `s` is made from Random(f"{s}:{i}") alone, so one failing case replays by
itself (`case(seed, i, ...)`). A finding is an answer of 500 or more (no drain runs here,
so 503 is one too), a connection closed without an answer, or a 4xx from a gatenet route
whose body is not `{"error": "..."}` (V2) or `{"code", "message"}` (/v1).
"""

from __future__ import annotations

import http.client
import json
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import quote

ROUTES = (
    "/v2/health/live",
    "/v2/health/ready",
    "/v2",
    "/v2/models/{name}",
    "/v2/models/{name}/versions/{version}",
    "/v2/models/{name}/ready",
    "/v2/models/{name}/versions/{version}/ready",
    "/v2/models/{name}/infer",
    "/v2/models/{name}/versions/{version}/infer",
    "/v1/{method}",
)
# gatenet's own RPCs: the read-only ones run; the rest are sent without a usable token (so
# the fuzz never trains or deletes), and unknown names must be a clean 404.
V1_READ = ("Predict", "GetModel", "ListModels", "GetWeights")
V1_GUARDED = ("Train", "TrainStream", "ImportModel", "DeleteModel")
V1_UNKNOWN = ("Nope", "predict", "ImportModelChunked", "x" * 200)
METHODS = ("GET", "POST", "POST", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "FUZZ")
HEADER = "Inference-Header-Content-Length"
_NAMES = ("", "x" * 300, "..", "%2e%2e", "%00", "é", "a b", "no-such-model", "1" * 32, "%ZZ")
_DATATYPES = ("FP32", "FP64", "INT32", "INT64", "UINT8", "BOOL", "BYTES", "", "fp32", 7, None)
_VALUES = (0, 1, -1, 0.5, 1e308, -1e308, 2**63, 2**64, True, False, None, "1", [], {}, [1, 2])


@dataclass
class Case:
    """One request: method, path, headers and body; `route` is its template (for tables)."""

    index: int
    route: str
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


def _tensor(rng: random.Random, rows: int) -> dict[str, object]:
    return {
        "name": "inputs",
        "datatype": "FP32",
        "shape": [rows, 2],
        "data": [[rng.randint(0, 1), rng.randint(0, 1)] for _ in range(rows)],
    }


def _mutate_json(rng: random.Random, value: object, depth: int = 0) -> object:
    """The value with one field replaced, dropped or retyped somewhere inside it."""
    if isinstance(value, dict) and value and depth < 4:
        key = rng.choice(list(value))
        out = dict(value)
        roll = rng.random()
        if roll < 0.2:
            del out[key]
        elif roll < 0.6:
            out[key] = _mutate_json(rng, value[key], depth + 1)
        else:
            out[key] = rng.choice(_VALUES + _DATATYPES)
        return out
    if isinstance(value, list) and value and depth < 4:
        out_list = list(value)
        i = rng.randrange(len(out_list))
        roll = rng.random()
        if roll < 0.3:
            out_list.append(rng.choice(_VALUES))
        elif roll < 0.5:
            del out_list[i]
        else:
            out_list[i] = _mutate_json(rng, value[i], depth + 1)
        return out_list
    return rng.choice(_VALUES + _DATATYPES)


def _random_json(rng: random.Random, depth: int = 0) -> object:
    roll = rng.random()
    if depth > 3 or roll < 0.4:
        return rng.choice(_VALUES + _DATATYPES)
    if roll < 0.7:
        return [_random_json(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    keys = ("inputs", "outputs", "parameters", "id", "name", "data", "shape", "datatype")
    return {rng.choice(keys): _random_json(rng, depth + 1) for _ in range(rng.randint(0, 4))}


def _infer_body(rng: random.Random, headers: dict[str, str]) -> bytes:
    rows = rng.choice((1, 1, 4, 1024))
    request: dict[str, object] = {"inputs": [_tensor(rng, rows)]}
    if rng.random() < 0.3:
        request["outputs"] = [{"name": rng.choice(("label", "probability", "x"))}]
    if rng.random() < 0.3:
        request["parameters"] = {"binary_data_output": rng.choice((True, False, 1, "yes"))}
    kind = rng.random()
    if kind < 0.2:  # valid
        return json.dumps(request).encode()
    if kind < 0.45:  # a field mutated
        return json.dumps(_mutate_json(rng, request)).encode()
    if kind < 0.55:  # random JSON
        return json.dumps(_random_json(rng)).encode()
    if kind < 0.7:  # binary tensor data, sizes right or wrong
        tensor = {"name": "inputs", "datatype": "FP32", "shape": [rows, 2]}
        size = rows * 8 + rng.choice((0, 0, -4, 4, -rows * 8 - 1))
        tensor["parameters"] = {"binary_data_size": size}
        header = json.dumps({"inputs": [tensor]}).encode()
        tail = bytes(rng.getrandbits(8) for _ in range(max(0, rows * 8 + rng.choice((0, 0, 3)))))
        headers[HEADER] = str(len(header) + rng.choice((0, 0, 0, -1, 1, 10**6, -(10**6))))
        return header + tail
    body = bytearray(json.dumps(request).encode())
    for _ in range(rng.randint(1, 8)):  # bytes flipped, cut or inserted
        roll, at = rng.random(), rng.randrange(len(body))
        if roll < 0.4:
            body[at] = rng.getrandbits(8)
        elif roll < 0.6:
            del body[at:]
            if not body:
                break
        else:
            body[at:at] = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 8)))
    return bytes(body)


def _v1_body(rng: random.Random, method: str, name: str, headers: dict[str, str]) -> bytes:
    requests = {
        "Predict": {
            "model": name,
            "inputs": [rng.randint(0, 1) for _ in range(2 * rng.choice((1, 4)))],
        },
        "GetModel": {"model": name},
        "GetWeights": {"model": name, "includeSafetensors": rng.random() < 0.5},
        "ListModels": {"pageSize": rng.choice((0, 1, 10, -1, 10**9))},
    }
    request = requests.get(method, {"gate": {"name": "XOR"}})
    kind = rng.random()
    if kind < 0.3:
        return json.dumps(request).encode()
    if kind < 0.6:
        return json.dumps(_mutate_json(rng, request)).encode()
    if kind < 0.7:
        return json.dumps(_random_json(rng)).encode()
    if kind < 0.75:
        return b""
    body = bytearray(json.dumps(request).encode())
    at = rng.randrange(len(body))
    body[at:at] = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 4)))
    return bytes(body)


def case(seed: int, index: int, names: Sequence[str], tokens: Sequence[str]) -> Case:
    """Case `index` of `seed` over these model refs and bearer tokens."""
    rng = random.Random(f"{seed}:{index}")
    roll = rng.random()
    route = rng.choice(ROUTES) if roll < 0.9 else "unmatched"
    name = rng.choice(names) if names and rng.random() < 0.6 else rng.choice(_NAMES)
    version = rng.choice(("1", "1", "2", "", "%20", "x" * 200))
    v1 = ""
    if route == "unmatched":
        path = rng.choice(("/", "/v1", "/v3/x", "/v2/models", "/v2//models/x", "/metrics", "/%"))
    else:
        if route == "/v1/{method}":
            v1 = rng.choice(V1_READ + V1_READ + V1_GUARDED + V1_UNKNOWN)
        path = route.replace("{name}", name or "x").replace("{version}", version or "1")
        path = path.replace("{method}", v1)
        path = quote(path, safe="/%")  # non-ASCII as UTF-8 escapes; broken escapes stay broken
    infer = route.endswith("/infer") or route.startswith("/v1/")
    method = "POST" if infer and rng.random() < 0.85 else rng.choice(METHODS)
    if not infer and rng.random() < 0.8:
        method = "GET"
    headers: dict[str, str] = {}
    roll = rng.random()
    if roll < 0.7 and tokens:
        headers["Authorization"] = f"Bearer {rng.choice(tokens)}"
    elif roll < 0.85:
        headers["Authorization"] = rng.choice(
            ("", "Bearer", "Bearer ", "Basic eDp5", "Bearer x" * 50)
        )
    if v1 in V1_GUARDED:
        headers["Authorization"] = rng.choice(("", "Bearer wrong", "Basic eDp5"))
    if method != "POST":
        body = b""
    elif v1:
        body = _v1_body(rng, v1, name, headers)
    else:
        body = _infer_body(rng, headers)
    if rng.random() < 0.1:
        headers["Content-Type"] = rng.choice(
            ("text/plain", "application/json; charset=latin-1", "x")
        )
    if rng.random() < 0.05:
        headers["Content-Encoding"] = rng.choice(("gzip", "deflate", "br", "zz"))
    if rng.random() < 0.05:
        headers[HEADER] = rng.choice(("", "-1", "x", "1e3", str(2**70)))
    return Case(index, route, method, path, headers, body)


def cases(seed: int, count: int, names: Sequence[str], tokens: Sequence[str]) -> list[Case]:
    """The first `count` cases of `seed`."""
    return [case(seed, i, names, tokens) for i in range(count)]


@dataclass
class Outcome:
    case: Case
    status: int  # 0: no answer
    seconds: float
    finding: str = ""


def _judge(c: Case, status: int, content_type: str, body: bytes) -> str:
    if status == 0:
        return "the connection closed without an answer"
    if status >= 500:
        return f"status {status}: {body[:200]!r}"
    if 400 <= status < 500 and content_type.startswith("application/json") and c.method != "HEAD":
        try:
            answer = json.loads(body)
            error = answer["error"] if "error" in answer else answer["message"]  # V2 or /v1
        except (ValueError, KeyError, TypeError):
            return f"status {status} without an error message: {body[:200]!r}"
        if len(error) > 2000:
            return f"status {status}: an error message of {len(error)} characters"
    return ""


def run(host: str, port: int, batch: Sequence[Case]) -> list[Outcome]:
    """Send each case on one keep-alive connection (a new one after the server closes it)."""
    outcomes = []
    conn = http.client.HTTPConnection(host, port, timeout=30)
    for c in batch:
        start = time.perf_counter()
        status, content_type, body = 0, "", b""
        for attempt in range(2):  # a connection the server closed after its last answer
            try:
                conn.request(c.method, c.path, body=c.body or None, headers=c.headers)
                answer = conn.getresponse()
                status, content_type, body = (
                    answer.status,
                    answer.getheader("Content-Type", ""),
                    answer.read(),
                )
                if answer.will_close:
                    conn.close()
                break
            except (http.client.HTTPException, ConnectionError) as exc:
                conn.close()
                if attempt:
                    body = repr(exc).encode()
        seconds = time.perf_counter() - start
        outcomes.append(Outcome(c, status, seconds, _judge(c, status, content_type, body)))
    conn.close()
    return outcomes


def findings(outcomes: Sequence[Outcome], seed: int) -> list[str]:
    """Each finding with how to replay it."""
    return [
        f"case({seed}, {o.case.index}): {o.case.method} {o.case.path[:80]} -> {o.finding}"
        for o in outcomes
        if o.finding
    ]
