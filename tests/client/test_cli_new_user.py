"""What a new user meets with the `gatenet` command (issue 21, items 16, 17, 20), each
through the real command against a real server."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest

from gatenet.client import AsyncClient, Client
from gatenet.v1 import gatenet_pb2 as pb
from gatenet.v1 import gatenet_pb2_grpc as pb_grpc
from gatenet_testing.cli_run import run_main

SERVICE = "gatenet.v1.GateService"


def handled(server, method: str, code: str, kind: str = "server_stream") -> float:
    value = server.prometheus_registry.get_sample_value(
        "grpc_server_handled_total",
        {"grpc_type": kind, "grpc_service": SERVICE, "grpc_method": method, "grpc_code": code},
    )
    return value or 0.0


def wait_handled(server, method: str, total: int, codes: tuple[str, ...]) -> dict[str, float]:
    """The server's handled counts by code once `total` calls have finished there (it counts
    a call after answering it, so the client may see the end first)."""
    deadline = time.monotonic() + 10
    while True:
        counts = {code: handled(server, method, code) for code in codes}
        if sum(counts.values()) >= total or time.monotonic() > deadline:
            return counts
        time.sleep(0.01)


# -- 16: export into a directory that does not exist yet ----------------------------------


def test_export_creates_a_missing_destination_directory(server, capsys, tmp_path, monkeypatch):
    with Client(server.target) as c:
        model = c.train(gate="xor", seed=0, name="export-dir")
    monkeypatch.chdir(tmp_path)
    code, out, err = run_main(capsys, "--target", server.target, "export", "export-dir", "models/")
    assert code == 0, err
    written = sorted(p.name for p in (tmp_path / "models").iterdir())
    assert written == [f"{model.model_id}.json", f"{model.model_id}.safetensors"]
    assert out.splitlines()[0] == (
        f"wrote models/{model.model_id}.safetensors "
        f"({(tmp_path / 'models' / written[1]).stat().st_size} bytes)"
    )
    code, out, err = run_main(
        capsys, "--target", server.target, "export", "export-dir", "-o", "more/", "--format", "json"
    )
    assert code == 0, err
    size = (tmp_path / "more" / written[0]).stat().st_size
    assert out == f"wrote more/{model.model_id}.json ({size} bytes)\n"
    nested = tmp_path / "a" / "b"
    code, _, err = run_main(capsys, "--target", server.target, "export", "export-dir", str(nested))
    assert code == 0, err
    assert len(list(nested.iterdir())) == 2


# -- 17: --stream reads the stream to its end ---------------------------------------------


def test_train_stream_ends_ok_on_the_server(make_server, capsys):
    server = make_server()
    runs = 8  # before the fix, 1 to 4 of every 5 ended CANCELLED
    for _ in range(runs):
        code, out, err = run_main(
            capsys, "--target", server.target, "train", "--gate", "xor", "--stream"
        )
        assert code == 0, err
    counts = wait_handled(server, "TrainStream", runs, ("OK", "CANCELLED"))
    assert counts == {"OK": runs, "CANCELLED": 0}


class SlowToEnd(pb_grpc.GateServiceServicer):
    """A TrainStream that, like a real server, takes a moment to end after its last event
    (here 0.3 s: wide enough to see, every time, a client that cancels at the model)."""

    def __init__(self) -> None:
        self.active_at_end: list[bool] = []

    def TrainStream(self, request, context):
        yield pb.TrainEvent(progress=pb.TrainProgress(step=0, restarts=1))
        yield pb.TrainEvent(model=pb.ModelInfo(model_id="m" * 32, summary=pb.TrainSummary()))
        time.sleep(0.3)
        self.active_at_end.append(context.is_active())


@pytest.fixture
def slow_to_end() -> Iterator[tuple[SlowToEnd, str]]:
    servicer = SlowToEnd()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    pb_grpc.add_GateServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield servicer, f"127.0.0.1:{port}"
    server.stop(None)


def test_a_stream_is_read_to_its_status_before_the_model_is_handed_over(slow_to_end, capsys):
    servicer, target = slow_to_end
    code, out, err = run_main(capsys, "--target", target, "train", "--gate", "xor", "--stream")
    assert code == 0, err
    with Client(target) as c:
        for event in c.train_stream(gate="xor"):
            if hasattr(event, "model_id"):
                break  # the natural way to stop: the model is the last event

    async def leave_at_the_model() -> None:
        async with AsyncClient(target) as c:
            events = c.train_stream(gate="xor")
            async for event in events:
                if hasattr(event, "model_id"):
                    break
            await events.aclose()

    asyncio.run(leave_at_the_model())
    assert servicer.active_at_end == [True, True, True]  # none was cancelled at the model


def test_leaving_a_stream_before_the_model_still_cancels(make_server):
    server = make_server()
    with Client(server.target) as c:
        stream = c.train_stream(gate="xor", steps=1_000_000, early_stop=False, check_every=1)
        next(stream)
        stream.close()
    counts = wait_handled(server, "TrainStream", 1, ("OK", "CANCELLED"))
    assert counts == {"OK": 0, "CANCELLED": 1}


def test_json_stream_prints_one_object(server, capsys):
    code, out, _ = run_main(
        capsys, "--target", server.target, "train", "--gate", "or", "--stream", "--json"
    )
    assert code == 0 and json.loads(out)["fit"] is True


# -- 20: plot writes the format its file's extension names --------------------------------

MAGIC = {"png": b"\x89PNG", "svg": b"<?xml", "pdf": b"%PDF", "jpg": b"\xff\xd8\xff"}


@pytest.mark.parametrize("extension", sorted(MAGIC))
def test_plot_writes_the_format_its_extension_names(server, capsys, tmp_path, extension):
    pytest.importorskip("matplotlib")
    with Client(server.target) as c:
        c.train(gate="and", seed=0, name=f"plot-{extension}")
    path = tmp_path / f"and.{extension.upper()}"  # the extension's case does not matter
    code, out, err = run_main(
        capsys, "--target", server.target, "plot", f"plot-{extension}", "-o", str(path)
    )
    assert code == 0, err
    assert path.read_bytes().startswith(MAGIC[extension])
    assert out == f"wrote {path} (800x600)\n"


@pytest.mark.parametrize("name", ["and.txt", "and", "and.bmp"])
def test_plot_refuses_a_format_it_cannot_write(capsys, tmp_path, name):
    pytest.importorskip("matplotlib")
    path = tmp_path / name
    code, out, err = run_main(capsys, "--target", "127.0.0.1:1", "plot", "m", "-o", str(path))
    assert (code, out) == (2, "")
    assert err.startswith(f"error: -o {path}: ") and "png" in err and "svg" in err, err
    assert not path.exists()
