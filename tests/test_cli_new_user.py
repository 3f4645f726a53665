"""What a new user meets with the `gatenet` command (issue 21, items 16, 17, 20, 21), each
through the real command against a real server."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest

from gatenet.client import AsyncClient, Client, cli
from gatenet.client.options import GATES
from gatenet.v1 import gatenet_pb2 as pb
from gatenet.v1 import gatenet_pb2_grpc as pb_grpc

SERVICE = "gatenet.v1.GateService"


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run the gatenet command in-process: (exit code, stdout, stderr)."""
    try:
        code = cli.main(list(args))
    except SystemExit as exc:  # argparse usage errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def handled(server, method: str, code: str, kind: str = "server_stream") -> float:
    value = server.metrics_registry.get_sample_value(
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


# -- 21: small CLI and client edges -------------------------------------------------------


def test_hidden_0_is_refused_pointing_to_none(capsys):
    for value in ("0", "4,0"):
        code, out, err = run_main(
            capsys, "--target", "127.0.0.1:1", "train", "--gate", "xor", "--hidden", value
        )
        assert (code, out) == (2, "")
        assert err.startswith(f"error: --hidden: {value!r}") and "--hidden none" in err, err
        assert "usage:" not in err


@pytest.mark.parametrize("value", ["-1", "0", "nan", "inf"])
def test_a_timeout_must_be_positive_seconds(capsys, value):
    code, out, err = run_main(capsys, "--target", "127.0.0.1:1", "--timeout", value, "models")
    assert (code, out) == (2, "")
    assert err.startswith("error: timeout: ") and "positive" in err, err
    with pytest.raises(ValueError, match="timeout: -1.0 is not a positive number of seconds"):
        Client("127.0.0.1:1", timeout=-1.0)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("0,1,,1", "--table: '0,1,,1': value 2 is empty"),
        ("a,b", "--table: 'a,b' is not 0/1 outputs like 0,1,1,0"),
    ],
)
def test_a_bad_table_says_what_is_wrong_without_the_usage(capsys, table, message):
    code, out, err = run_main(capsys, "--target", "127.0.0.1:1", "train", "--table", table)
    assert (code, out) == (2, "")
    assert err == f"error: {message}\n"


def test_an_empty_value_in_a_predict_row_is_refused(capsys):
    code, out, err = run_main(capsys, "--target", "127.0.0.1:1", "predict", "m", "0,,1")
    assert (code, out) == (2, "")
    assert err.startswith("error: row: '0,,1': value 1 is empty"), err


def test_log_without_loss_is_refused(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    out_file = str(tmp_path / "m.png")
    code, out, err = run_main(
        capsys, "--target", "127.0.0.1:1", "plot", "m", "-o", out_file, "--log"
    )
    assert (code, out) == (2, "")
    assert err == "error: --log sets the loss axis: use it with --loss\n"


def test_a_nan_input_names_its_row_and_column(server, capsys):
    with Client(server.target) as c:
        c.train(gate="or", seed=0, name="nan-rows")
    code, _, err = run_main(
        capsys, "--target", server.target, "predict", "nan-rows", "0,1", "1,nan"
    )
    assert code == 1
    assert err == (
        "error: INVALID_ARGUMENT: inputs: row 1, column 1 is nan; inputs must be finite\n"
    )


def test_summaries_never_print_minus_zero(server, capsys):
    from gatenet.client import render
    from gatenet.client.results import ModelInfo

    info = ModelInfo(
        model_id="0" * 32, name="", num_inputs=2, fit=False, accuracy=0.75, final_loss=0.5,
        steps=1, restarts=1, restart_index=0, restarts_fit=0, seed_used=0,
        margin_reached=-0.0001, train_seconds=0.01, stopped_by="steps",
        spec={"gate": {"name": "XOR"}},
    )  # fmt: skip
    assert "(margin 0.000)" in render.model_info(info)
    # the real case: a perceptron on XOR ends with a row exactly at p = 0.5 or just past it
    code, out, err = run_main(
        capsys, "--target", server.target, "train", "--gate", "xor", "--method", "perceptron",
        "--steps", "3",
    )  # fmt: skip
    assert code == 0, err
    assert "-0.000" not in out


def test_a_model_from_initial_weights_says_so(server, capsys, tmp_path):
    weights = tmp_path / "w.json"
    weights.write_text(json.dumps({"layers.0.weight": [[1.0], [1.0]], "layers.0.bias": [-1.5]}))
    code, out, err = run_main(
        capsys, "--target", server.target, "train", "--gate", "and", "--hidden", "none",
        "--initial-weights", str(weights), "--steps", "1",
    )  # fmt: skip
    assert code == 0, err
    recipe = next(line for line in out.splitlines() if line.startswith("recipe:"))
    assert recipe.endswith(", initial weights") and "xavier" not in recipe, recipe


def test_the_client_takes_the_protos_names(server):
    with Client(server.target) as c:
        info = c.train(gate="xor", hidden_sizes=[3], learning_rate=0.05, steps=20, seed=1)
        assert info.spec["learning_rate"] == 0.05
        assert info.spec["network"]["hidden_sizes"] == [3]
        with pytest.warns(DeprecationWarning) as caught:
            old = c.train(gate="xor", hidden=[3], lr=0.05, steps=20, seed=1)
        assert sorted(str(w.message) for w in caught) == [
            "hidden= is deprecated; use hidden_sizes= (the proto's name)",
            "lr= is deprecated; use learning_rate= (the proto's name)",
        ]
        assert all(w.filename == __file__ for w in caught)  # they point at the caller
        assert old.spec["learning_rate"] == 0.05
        with pytest.raises(ValueError, match="both lr and learning_rate"):
            c.train(gate="xor", lr=0.1, learning_rate=0.2)


@pytest.mark.parametrize(
    ("args", "code", "status"),
    [
        (["model", "no-such-model"], 1, "NOT_FOUND"),
        (["train", "--gate", "xor", "--steps", "0"], 1, "INVALID_ARGUMENT"),
        (["train", "--table", "0,1,1"], 2, "INVALID_ARGUMENT"),
        (["train", "--gate", "xor", "--hidden", "0"], 2, "INVALID_ARGUMENT"),
        (["train", "--gate", "xor", "--activation", "swish"], 2, "INVALID_ARGUMENT"),
    ],
)
def test_under_json_a_failure_is_one_error_object(server, capsys, args, code, status):
    got, out, err = run_main(capsys, "--target", server.target, "--json", *args)
    assert got == code
    document = json.loads(out)
    assert list(document) == ["error"] and document["error"]["code"] == status
    assert document["error"]["message"] and err.startswith(("error: ", "usage: "))


def test_an_unreachable_server_under_json_is_an_error_object(capsys):
    code, out, _ = run_main(capsys, "--json", "--target", "127.0.0.1:1", "--timeout", "2", "models")
    assert code == 1
    assert json.loads(out)["error"]["code"] == "UNAVAILABLE"


def test_help_shows_the_readmes_default_target(capsys, monkeypatch):
    monkeypatch.delenv("GATENET_TARGET", raising=False)
    code, out, _ = run_main(capsys, "--help")
    assert code == 0 and "now 127.0.0.1:50051" in out and "localhost" not in out
    assert Client().target == "127.0.0.1:50051"


def test_gate_completion_offers_the_gates(tmp_path, monkeypatch):
    """What argcomplete answers a shell completing `gatenet train --gate ` (its protocol)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "not-a-gate.txt").write_text("")
    out = tmp_path / "completions"
    line = "gatenet train --gate "
    env = {
        **os.environ,
        "_ARGCOMPLETE": "1",
        "_ARGCOMPLETE_IFS": "\n",
        "_ARGCOMPLETE_STDOUT_FILENAME": str(out),
        "COMP_LINE": line,
        "COMP_POINT": str(len(line)),
    }
    script = Path(sys.executable).parent / "gatenet"
    result = subprocess.run([str(script)], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    offered = [word.rstrip() for word in out.read_text().split("\n")]
    assert offered == list(GATES)
