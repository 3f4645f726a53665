"""HTTP benchmark: V2 REST infer on gatenet's HTTP port against MLServer and an HTTP FLOOR.

Run: `.venv/bin/python bench/http_rest.py` (loopback, about three minutes; the first run builds
MLServer's venv with scripts/ensure-mlserver.sh). One table: calls/s (1 row) and rows/s
(1024 rows) of V2 REST infer with 16 requests in flight, the same JSON body for every
server, from the same generator (h2load in HTTP/1.1 mode: C on one thread, so the servers
are the bottleneck); then gRPC Predict on gatenet with its HTTP port on and off.

- gatenet: the real server (`gatenet serve`'s build_server) with the model imported.
- MLServer 1.7.1 (its own venv) serving the same 2-4-1 tanh network through a custom MLModel
  (bench/mlserver_model.py), in its main process (parallel_workers 0, as gatenet answers
  small calls on its loop), metrics off.
- FLOOR: the same stack as gatenet's HTTP port (aiohttp on a LoopThread) answering each case
  with gatenet's own answer bytes, prebuilt: what the HTTP call alone costs.
- FLOOR+parse (a reference, no target): FLOOR that also parses the JSON body (orjson, as
  gatenet does) before answering: the least any V2 REST server must do per call.
- FLOOR+WORK (a reference, no target): FLOOR+parse that also runs the forward with plain numpy
  and writes the answer with orjson, checking nothing (no bounds, datatypes, auth, metrics or
  log line): the bare work of a V2 REST infer on this stack, which the 0.8x FLOOR goal is
  best read against.

Every server runs in its own process; the rounds alternate the order.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
IN_FLIGHT = 16
SECONDS = 3.0
ROUNDS = 3
BIG_ROWS = 1024
MLSERVER_PORTS = (31310, 31311)  # MLServer takes fixed ports: HTTP and gRPC
TARGETS = {"MLServer": 1.5, "FLOOR": 0.8}  # gatenet / other, at least
PREDICT = "/gatenet.v1.GateService/Predict"


def _weights() -> dict[str, np.ndarray]:
    """A fixed 2-4-1 tanh network (both servers load these values)."""
    rng = np.random.default_rng(3)
    return {
        "w0": rng.normal(0, 2, (2, 4)).astype(np.float32),
        "b0": rng.normal(0, 1, 4).astype(np.float32),
        "w1": rng.normal(0, 2, (4, 1)).astype(np.float32),
        "b1": rng.normal(0, 1, 1).astype(np.float32),
    }


def _body(rows: int) -> bytes:
    """A V2 REST infer body: `rows` rows of 0/1 FP32 values as JSON data."""
    values = np.random.default_rng(rows).integers(0, 2, (rows, 2)).astype(float).tolist()
    tensor = {"name": "inputs", "datatype": "FP32", "shape": [rows, 2], "data": values}
    return json.dumps({"inputs": [tensor]}).encode()


# -- servers, each in its own process ------------------------------------------------------


def _serve_gatenet(http: bool) -> None:
    """Child: a gatenet server with the model imported; prints its ports, runs until stdin ends."""
    from safetensors.numpy import save

    from gatenet.client import Client
    from gatenet.server.app import build_server
    from gatenet.server.config import Settings

    settings = Settings(
        port=0,
        http_port=0 if http else -1,
        metrics_port=-1,
        log_level="WARNING",
        store="memory",
        drain_delay=0.0,
        max_predict_rows=BIG_ROWS,
    )
    server = build_server(settings)
    server.start()
    w = _weights()
    tensors = {
        "layers.0.weight": w["w0"],
        "layers.0.bias": w["b0"],
        "layers.1.weight": w["w1"],
        "layers.1.bias": w["b1"],
    }
    with Client(server.target) as client:
        model_id = client.import_model(save(tensors, metadata={"activation": "tanh"})).model_id
    http_port = server.http.port if server.http is not None else -1
    print(json.dumps({"grpc": server.port, "http": http_port, "model": model_id}), flush=True)
    sys.stdin.read()
    server.stop(0, 0)


def _serve_floor(answers: str, mode: str) -> None:
    """Child: aiohttp on a LoopThread (as gatenet's HTTP port) answering prebuilt bytes;
    mode "parse": after parsing the JSON body; "work": the answer computed (_work)."""
    import asyncio
    import socket

    import orjson
    from aiohttp import web

    from gatenet.server.rpc.loop import LoopThread

    replies = {k: v.encode() for k, v in json.loads(Path(answers).read_text()).items()}

    w = _weights()

    async def infer(request: web.Request) -> web.Response:
        body = await request.read()
        if mode == "work":
            answer = _work(orjson.loads(body), request.match_info["name"], w)
            return web.Response(body=answer, content_type="application/json")
        if mode == "parse":
            orjson.loads(body)
        return web.Response(
            body=replies[request.match_info["name"]], content_type="application/json"
        )

    async def start(sock: socket.socket) -> None:
        app = web.Application()
        app.router.add_post("/v2/models/{name}/infer", infer)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        await web.SockSite(runner, sock).start()

    sock = socket.create_server(("127.0.0.1", 0), backlog=1024)
    loop = LoopThread("floor-http")
    loop.run(start(sock))
    print(json.dumps({"http": sock.getsockname()[1]}), flush=True)
    sys.stdin.read()
    loop.run(asyncio.sleep(0))


def _work(call: dict[str, Any], name: str, w: dict[str, np.ndarray]) -> bytes:
    """FLOOR+WORK's answer: the forward in plain numpy, written by orjson; no checks."""
    import orjson

    rows = np.asarray(call["inputs"][0]["data"], dtype=np.float32).reshape(-1, 2)
    logits = np.tanh(rows @ w["w0"] + w["b0"]) @ w["w1"] + w["b1"]
    probability = (1 / (1 + np.exp(-logits))).astype(np.float32).ravel()
    shape = [len(probability), 1]
    outputs = [
        {"name": "probability", "datatype": "FP32", "shape": shape, "data": probability},
        {"name": "label", "datatype": "BOOL", "shape": shape, "data": probability > 0.5},
    ]
    answer = {"model_name": name, "model_version": "1", "outputs": outputs}
    return orjson.dumps(answer, option=orjson.OPT_SERIALIZE_NUMPY)


class Child:
    """A server process: its first stdout line is its ports; closing stdin stops it."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"{args}: the server process ended before it served")
        self.info: dict[str, Any] = json.loads(line)

    def stop(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


class MLServer:
    """`mlserver start` on a model folder holding the bench's weights and runtime."""

    def __init__(self, python: str, folder: Path) -> None:
        model = folder / "gate"
        model.mkdir(parents=True)
        np.savez(model / "weights.npz", **_weights())
        shutil.copy(Path(__file__).with_name("mlserver_model.py"), model / "mlserver_model.py")
        (model / "model-settings.json").write_text(
            json.dumps(
                {
                    "name": "gate",
                    "implementation": "mlserver_model.GateModel",
                    "parameters": {"uri": str(model / "weights.npz")},
                }
            )
        )
        http, grpc = MLSERVER_PORTS
        (folder / "settings.json").write_text(
            json.dumps(
                {
                    "host": "127.0.0.1",
                    "http_port": http,
                    "grpc_port": grpc,
                    "metrics_endpoint": None,
                    "parallel_workers": 0,
                    "debug": False,
                }
            )
        )
        mlserver = Path(python).with_name("mlserver")
        self.log = open(folder / "mlserver.log", "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [str(mlserver), "start", str(folder)], stdout=self.log, stderr=subprocess.STDOUT
        )
        self.url = f"http://127.0.0.1:{http}"
        deadline = time.monotonic() + 120
        while True:  # MLServer has no start-up handshake but its ready route
            try:
                with urllib.request.urlopen(self.url + "/v2/models/gate/ready", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"MLServer did not start; see {folder / 'mlserver.log'}")
            time.sleep(0.5)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=60)
        self.log.close()


# -- load ----------------------------------------------------------------------------------


def _h2load(url: str, body: str, content_type: str, extra: Sequence[str] = ()) -> float:
    """Calls/s of h2load posting `body` to `url` for SECONDS; every answer must be a 2xx."""
    command = [
        "h2load",
        *extra,
        *("-t", "1", "-D", f"{SECONDS:g}", "-d", body, "-H", f"content-type: {content_type}"),
        url,
    ]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    finished = re.search(r"finished in ([\d.]+)(m?s),", out)
    requests = re.search(r"requests: .* (\d+) succeeded, (\d+) failed, (\d+) errored", out)
    codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    if finished is None or requests is None or codes is None:
        raise SystemExit(f"h2load printed what this bench cannot read:\n{out}")
    calls, failed, errored = (int(v) for v in requests.groups())
    # With -D, a request still in flight at the end may have its status counted, not its call.
    if (
        failed
        or errored
        or int(codes.group(1)) < calls
        or int(codes.group(3))
        or int(codes.group(4))
    ):
        raise SystemExit(f"{url}: h2load: {out[-600:]}")
    seconds = float(finished.group(1)) / (1000 if finished.group(2) == "ms" else 1)
    return calls / seconds


def _http1(url: str, body: str) -> float:
    return _h2load(url, body, "application/json", ("--h1", "-c", str(IN_FLIGHT)))


def _grpc(target: str, body: str) -> float:
    """gRPC Predict, 16 calls in flight over 4 connections (as bench/predict.py's h2load)."""
    extra = ("-c", "4", "-m", "4", "-H", "te: trailers")
    return _h2load(f"http://{target}{PREDICT}", body, "application/grpc", extra)


def _post(url: str, body: bytes) -> bytes:
    request = urllib.request.Request(url, body, {"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return answer.read()


def _check_same(gatenet: bytes, other: bytes, name: str) -> None:
    """Both servers answer the same labels and (to float32 rounding) probabilities."""
    ours = {o["name"]: o["data"] for o in json.loads(gatenet)["outputs"]}
    theirs = {o["name"]: o["data"] for o in json.loads(other)["outputs"]}
    if ours["label"] != theirs["label"] or not np.allclose(
        ours["probability"], theirs["probability"], atol=1e-5
    ):
        raise SystemExit(f"gatenet and {name} answer differently: not the same model")


def _rate(rates: list[float]) -> str:
    return f"{statistics.median(rates):,.0f}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument(
        "--serve", choices=("gatenet", "gatenet-no-http", "floor", "floor-parse", "floor-work")
    )
    parser.add_argument("--answers", default="")
    args = parser.parse_args(argv)
    if args.serve == "gatenet" or args.serve == "gatenet-no-http":
        _serve_gatenet(args.serve == "gatenet")
        return 0
    if args.serve in ("floor", "floor-parse", "floor-work"):
        _serve_floor(args.answers, mode=args.serve.partition("-")[2])
        return 0
    if shutil.which("h2load") is None:
        raise SystemExit("h2load is missing: scripts/ensure-tools.sh installs nghttp2-client")
    made = subprocess.run(
        [str(REPO / "scripts" / "ensure-mlserver.sh")], capture_output=True, text=True, check=True
    )
    mlserver_python = str(REPO / made.stdout.strip().splitlines()[-1])
    cases = {"1 row": 1, f"{BIG_ROWS} rows": BIG_ROWS}
    with tempfile.TemporaryDirectory(prefix="gatenet-bench-http-") as tmp:
        folder = Path(tmp)
        gatenet, no_http = Child("--serve", "gatenet"), Child("--serve", "gatenet-no-http")
        mlserver = MLServer(mlserver_python, folder / "mlserver")
        try:
            model = gatenet.info["model"]
            bodies, answers = {}, {}
            for label, rows in cases.items():
                path = folder / f"body-{rows}.json"
                path.write_bytes(_body(rows))
                bodies[label] = str(path)
                url = f"http://127.0.0.1:{gatenet.info['http']}/v2/models/{model}/infer"
                answers[f"rows{rows}"] = _post(url, path.read_bytes()).decode()
                theirs = _post(f"{mlserver.url}/v2/models/gate/infer", path.read_bytes())
                _check_same(answers[f"rows{rows}"].encode(), theirs, "MLServer")
            (folder / "answers.json").write_text(json.dumps(answers))
            floor = Child("--serve", "floor", "--answers", str(folder / "answers.json"))
            parsing = Child("--serve", "floor-parse", "--answers", str(folder / "answers.json"))
            working = Child("--serve", "floor-work", "--answers", str(folder / "answers.json"))
            try:
                urls = {
                    "gatenet": f"http://127.0.0.1:{gatenet.info['http']}/v2/models/{model}/infer",
                    "MLServer": f"{mlserver.url}/v2/models/gate/infer",
                    "FLOOR": f"http://127.0.0.1:{floor.info['http']}/v2/models/rows{{}}/infer",
                    "FLOOR+parse": (
                        f"http://127.0.0.1:{parsing.info['http']}/v2/models/rows{{}}/infer"
                    ),
                    "FLOOR+WORK": (
                        f"http://127.0.0.1:{working.info['http']}/v2/models/rows{{}}/infer"
                    ),
                }
                for label, rows in cases.items():  # FLOOR+WORK computes what gatenet does
                    work = _post(urls["FLOOR+WORK"].format(rows), Path(bodies[label]).read_bytes())
                    _check_same(answers[f"rows{rows}"].encode(), work, "FLOOR+WORK")
                rates: dict[tuple[str, str], list[float]] = {}
                for label, body in bodies.items():  # warm every server and path once
                    for url in urls.values():
                        _http1(url.format(cases[label]), body)
                for r in range(args.rounds):
                    for label, body in bodies.items():
                        order = list(urls.items())
                        turn = r % len(order)
                        for name, url in order[turn:] + order[:turn]:
                            rate = _http1(url.format(cases[label]), body)
                            rates.setdefault((label, name), []).append(rate)
                grpc_rates = _grpc_on_off(gatenet, no_http, folder, args.rounds)
            finally:
                floor.stop()
                parsing.stop()
                working.stop()
        finally:
            mlserver.stop()
            gatenet.stop()
            no_http.stop()
    print(_report(rates, cases, grpc_rates, args.rounds))
    return 0


def _grpc_on_off(
    gatenet: Child, no_http: Child, folder: Path, rounds: int
) -> dict[str, list[float]]:
    """gRPC Predict calls/s of 1 row on gatenet with its HTTP port on and off."""
    from gatenet.v1 import gatenet_pb2 as pb

    rates: dict[str, list[float]] = {}
    for name, child in (("on", gatenet), ("off", no_http)):
        message = pb.PredictRequest(
            model=child.info["model"], inputs=[0.0, 1.0]
        ).SerializeToString()
        path = folder / f"predict-{name}.grpc"
        path.write_bytes(b"\0" + len(message).to_bytes(4, "big") + message)
        _grpc(f"127.0.0.1:{child.info['grpc']}", str(path))  # warm
    for r in range(rounds):
        for name, child in sorted((("on", gatenet), ("off", no_http)), reverse=bool(r % 2)):
            target = f"127.0.0.1:{child.info['grpc']}"
            rates.setdefault(name, []).append(_grpc(target, str(folder / f"predict-{name}.grpc")))
    return rates


def _report(
    rates: dict[tuple[str, str], list[float]],
    cases: dict[str, int],
    grpc_rates: dict[str, list[float]],
    rounds: int,
) -> str:
    header = [
        "V2 REST infer",
        "unit",
        "gatenet",
        "MLServer",
        "FLOOR",
        "÷ MLServer",
        "target",
        "met",
        "÷ FLOOR",
        "target",
        "met",
        "FLOOR+parse",
        "÷ FLOOR+parse",
        "FLOOR+WORK",
        "÷ FLOOR+WORK",
    ]
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, rows in cases.items():
        median = {
            name: statistics.median(rates[label, name]) * rows
            for name in ("gatenet", "MLServer", "FLOOR", "FLOOR+parse", "FLOOR+WORK")
        }
        cells = [label, "calls/s" if rows == 1 else "rows/s"]
        cells += [f"{median[n]:,.0f}" for n in ("gatenet", "MLServer", "FLOOR")]
        for other in ("MLServer", "FLOOR"):
            ratio = median["gatenet"] / median[other]
            cells += [
                f"{ratio:.2f}",
                f"≥ {TARGETS[other]:.1f}",
                "yes" if ratio >= TARGETS[other] else "**no**",
            ]
        for bare in ("FLOOR+parse", "FLOOR+WORK"):
            cells += [f"{median[bare]:,.0f}", f"{median['gatenet'] / median[bare]:.2f}"]
        out.append("| " + " | ".join(cells) + " |")
    on, off = statistics.median(grpc_rates["on"]), statistics.median(grpc_rates["off"])
    spread = [a / b for a, b in zip(grpc_rates["on"], grpc_rates["off"], strict=True)]
    out += [
        "",
        "| gRPC Predict, 1 row, 16 in flight | HTTP port on | HTTP port off | on ÷ off (range) |",
        "|---|---|---|---|",
        f"| calls/s | {on:,.0f} | {off:,.0f} | "
        f"{on / off:.2f} ({min(spread):.2f}–{max(spread):.2f}) |",
        "",
        f"Notes: h2load --h1, {IN_FLIGHT} connections (one request in flight on each), "
        f"{SECONDS:g} s per run, {rounds} rounds (medians), the order rotating; the same JSON "
        "body (FP32 rows of 0/1 as `data`) for every server, every answer a 2xx; gatenet, "
        "MLServer and FLOOR+WORK checked to answer the same labels and probabilities. gRPC "
        "Predict by h2load over 4 connections x 4 streams. Load average at the end: "
        f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} cores.",
    ]
    return "\n".join(out)


if __name__ == "__main__":
    raise SystemExit(main())
