"""Send the fuzz calls concurrently as raw bytes and judge each answer."""

from __future__ import annotations

import asyncio
import dataclasses
import math
import time
from collections.abc import Iterator

import grpc
from grpc_health.v1 import health_pb2

from gatenet.v1 import gatenet_pb2 as pb
from gatenet_testing.fuzz import auth as fuzz_auth
from gatenet_testing.fuzz import inference as fuzz_inference
from gatenet_testing.fuzz.calls import (
    UNKNOWN_LABEL,
    Call,
)

# -- the runner ----------------------------------------------------------------------------------

# Characters of an error message. The longest the server writes from its own values lists a
# 9-layer network's 18 parameter names (~370); anything longer echoes client input.
MESSAGE_LIMIT = 400
# These calls run into their short deadlines on purpose; any other call gets 10 s, and running
# out of that is a hang.
SHORT_DEADLINES = ("Train", "TrainStream", "Health/Watch")
SERVING = health_pb2.HealthCheckResponse.SERVING


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What one call got back, and what was wrong with it ("" when nothing was)."""

    label: str  # Call.label
    kind: str  # Call.kind
    auth: str  # Call.auth
    code: str  # grpc.StatusCode name
    details: str
    seconds: float
    finding: str  # a fault of the server's ("INTERNAL: ...", "hang", "NaN with OK", ...)
    reproducer: str  # Call.describe() when there is a finding: bodies are not kept otherwise


async def send(channel: grpc.aio.Channel, call: Call) -> Outcome:
    """Send one call's raw bytes; record its code and judge an OK answer."""
    start = time.perf_counter()
    responses: list[bytes] = []
    code, details = "OK", ""
    options = {"timeout": call.timeout, "compression": grpc.Compression.Gzip if call.gzip else None}
    if call.metadata:
        options["metadata"] = call.metadata
    try:
        if call.shape == "unary":
            responses.append(await channel.unary_unary(call.path)(call.bodies[0], **options))
        else:
            if call.shape == "server_stream":
                stream = channel.unary_stream(call.path)(call.bodies[0], **options)
            else:
                stream = channel.stream_stream(call.path)(iter(call.bodies), **options)
            async for response in stream:
                responses.append(response)
    except grpc.aio.AioRpcError as err:
        code, details = err.code().name, err.details() or ""
    seconds = time.perf_counter() - start
    finding = _finding(call, code, details, responses)
    reproducer = call.describe() if finding else ""
    return Outcome(call.label, call.kind, call.auth, code, details, seconds, finding, reproducer)


def _finding(call: Call, code: str, details: str, responses: list[bytes]) -> str:
    if code in ("INTERNAL", "UNKNOWN"):
        return f"{code}: {details[:200]!r}"
    wrong_auth = fuzz_auth.finding(call.auth, call.label, code)
    if wrong_auth:
        return wrong_auth
    if len(details) > MESSAGE_LIMIT:
        return f"{code} with a {len(details)}-character message: {details[:120]!r}..."
    if "metadata size exceeds" in details:  # grpc refused the server's own status message
        return f"unbounded echo: {details[:200]!r}"
    if code == "DEADLINE_EXCEEDED" and call.label not in SHORT_DEADLINES:
        return f"hang: no answer within {call.timeout:.0f} s"
    return judge(call.label, responses) if code == "OK" else ""


def judge(label: str, responses: list[bytes]) -> str:
    """Why an OK answer is wrong, or "" when it is right as far as the request alone can tell."""
    if label == UNKNOWN_LABEL:
        return "a method nobody serves answered OK"
    if label.startswith("V2/"):
        return fuzz_inference.judge(label, responses[0])
    if label == "Predict":
        return _judge_predict(pb.PredictResponse.FromString(responses[0]))
    if label == "Train":
        return _judge_model(pb.ModelInfo.FromString(responses[0]))
    if label == "TrainStream":
        last = pb.TrainEvent.FromString(responses[-1]) if responses else pb.TrainEvent()
        if not last.HasField("model"):
            return "TrainStream ended OK without a model event"
        return _judge_model(last.model)
    if label == "GetWeights":
        weights = pb.GetWeightsResponse.FromString(responses[0])
        if not all(math.isfinite(v) for t in weights.tensors for v in t.values):
            return "GetWeights returned non-finite parameters with OK"
    if label == "Health/Check":
        status = health_pb2.HealthCheckResponse.FromString(responses[0]).status
        if status != SERVING:
            return f"health status {status} during the run"
    return ""


def _judge_predict(response: pb.PredictResponse) -> str:
    probabilities, labels = list(response.probabilities), list(response.labels)
    if not probabilities or len(probabilities) != len(labels):
        return f"{len(probabilities)} probabilities and {len(labels)} labels with OK"
    for i, (p, label) in enumerate(zip(probabilities, labels, strict=True)):
        if not 0.0 <= p <= 1.0:  # NaN fails this too
            return f"probability {p} at row {i} with OK"
        if label != (p > 0.5):
            return f"label {label} for probability {p} at row {i}"
    return ""


def _judge_model(info: pb.ModelInfo) -> str:
    summary = info.summary
    # An infinite loss is honest (BCE of a saturated wrong answer); NaN means NaN parameters.
    if math.isnan(summary.final_loss) or not math.isfinite(summary.margin_reached):
        return (
            f"a model registered with OK whose loss is {summary.final_loss} and margin "
            f"{summary.margin_reached} (NaN parameters?)"
        )
    if not 0.0 <= summary.accuracy <= 1.0:
        return f"accuracy {summary.accuracy} with OK"
    return ""


async def _run(target: str, calls: Iterator[Call], concurrency: int) -> list[Outcome]:
    outcomes: list[Outcome] = []
    async with grpc.aio.insecure_channel(target) as channel:

        async def worker() -> None:
            # One shared iterator: calls are made in seed order, one at a time, as sent.
            for call in calls:
                outcomes.append(await send(channel, call))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return outcomes


def run(target: str, calls: Iterator[Call], concurrency: int = 8) -> list[Outcome]:
    """Send every call, `concurrency` at a time, on one channel; the outcomes as they came."""
    return asyncio.run(_run(target, calls, concurrency))


def findings(outcomes: list[Outcome]) -> list[str]:
    """Every finding, with its reproducer."""
    return [f"{o.label}: {o.finding}\n    {o.reproducer}" for o in outcomes if o.finding]
