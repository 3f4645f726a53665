"""The `gatenet` command: flag parsing, output, exit codes, and end to end against the real
server (as a subprocess, the way a user runs it)."""

from __future__ import annotations

import json
import subprocess
import sys
import types

import numpy as np
import pytest
from cli_run import run_main

from gatenet.client import build_train_request, cli
from gatenet.client.cli.commands import train_options
from gatenet.v1 import gatenet_pb2 as pb


def gatenet(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the gatenet command in a fresh interpreter."""
    return subprocess.run(
        [sys.executable, "-m", "gatenet.client", *args], capture_output=True, text=True, timeout=120
    )


def request_for(*args: str) -> pb.TrainRequest:
    """The TrainRequest `gatenet train ARGS` would send."""
    return build_train_request(**train_options(cli.build_parser().parse_args(["train", *args])))


# -- flags to requests (no server) --------------------------------------------------------


def test_every_train_flag_reaches_the_request():
    flags = (
        "--gate xor --inputs 3 --hidden 10,10 --activation sigmoid --method autograd --loss mse"
        " --reduction sum --optimizer sgd --lr 0.5 --momentum 0.9 --schedule mini-batch"
        " --batch-size 2 --steps 300 --init normal --seed 42 --no-early-stop --margin 0.2"
        " --restarts 4 --check-every 5 --name x3"
    )
    request = request_for(*flags.split())
    assert (request.gate.name, request.gate.num_inputs) == ("xor", 3)
    assert list(request.network.hidden_sizes) == [10, 10]
    assert request.network.activation == pb.ACTIVATION_SIGMOID
    assert (request.method, request.loss, request.reduction, request.optimizer) == (
        pb.METHOD_AUTOGRAD,
        pb.LOSS_MSE,
        pb.REDUCTION_SUM,
        pb.OPTIMIZER_SGD,
    )
    assert (request.learning_rate, request.momentum) == (0.5, 0.9)
    assert (request.schedule, request.batch_size, request.steps) == (pb.SCHEDULE_MINI_BATCH, 2, 300)
    assert (request.init, request.seed, request.early_stop) == (pb.INIT_NORMAL, 42, False)
    assert (request.margin, request.restarts, request.check_every) == (0.2, 4, 5)
    assert request.name == "x3"


def test_unset_flags_leave_server_defaults():
    request = request_for("--gate", "and")
    assert not request.HasField("network") and not request.HasField("early_stop")
    assert request.schedule == pb.SCHEDULE_UNSPECIFIED


def test_hidden_none_is_no_hidden_layer():
    request = request_for("--gate", "and", "--hidden", "none")
    assert request.HasField("network") and not request.network.hidden_sizes
    assert request.network.no_hidden_layers


def test_activation_alone_leaves_the_widths_to_the_server():
    request = request_for("--gate", "xor", "--activation", "relu")
    assert request.network.activation == pb.ACTIVATION_RELU
    assert not request.network.hidden_sizes and not request.network.no_hidden_layers


def test_table_examples_and_initial_weights_files(tmp_path):
    assert request_for("--table", "0,1,1,1").truth_table.num_inputs == 2
    csv = tmp_path / "and.csv"
    csv.write_text("a,b,target\n0,0,0\n0,1,0\n1,0,0\n1,1,1\n")
    request = request_for("--examples", str(csv))
    assert request.examples.num_inputs == 2
    assert list(request.examples.targets) == [0, 0, 0, 1]
    weights = tmp_path / "w.json"
    weights.write_text(json.dumps({"layers.0.weight": [[1.0], [1.0]], "layers.0.bias": [-1.5]}))
    request = request_for("--gate", "and", "--hidden", "none", "--initial-weights", str(weights))
    assert [(t.name, list(t.shape)) for t in request.initial_weights] == [
        ("layers.0.weight", [2, 1]),
        ("layers.0.bias", [1]),
    ]


def test_bad_choice_is_a_usage_error_listing_choices(capsys):
    code, _, err = run_main(capsys, "train", "--gate", "xor", "--activation", "swish")
    assert code == 2
    assert "invalid choice: 'swish'" in err and "sigmoid" in err and "relu" in err


def test_a_task_is_required(capsys):
    code, _, err = run_main(capsys, "train", "--steps", "10")
    assert code == 2 and "--gate" in err


def test_client_side_validation_is_a_usage_error(capsys):
    code, out, err = run_main(capsys, "--target", "127.0.0.1:1", "train", "--table", "0,1,1")
    assert code == 2 and out == ""
    assert err.startswith("error: truth_table: length 3") and "Traceback" not in err


def test_global_flags_work_after_the_subcommand(monkeypatch):
    monkeypatch.setenv("GATENET_TARGET", "env-host:1")
    parser = cli.build_parser()
    assert parser.parse_args(["models"]).target == "env-host:1"
    args = parser.parse_args(["predict", "m", "0,1", "--json", "--target", "h:2"])
    assert (args.json, args.target, args.rows) == (True, "h:2", ["0,1"])
    args = parser.parse_args(["--json", "--target", "h:3", "predict", "m", "0,1"])
    assert (args.json, args.target) == (True, "h:3")


def test_serve_forwards_every_argument(monkeypatch):
    seen = []
    app = types.SimpleNamespace(main=lambda argv: seen.append(argv) or 3)
    monkeypatch.setattr(cli.importlib, "import_module", lambda name: app)
    assert cli.main(["--target", "x:1", "serve", "--port", "0", "--json", "--help"]) == 3
    assert seen == [["--port", "0", "--json", "--help"]]


def test_serve_without_the_server_extra_says_how_to_install(monkeypatch, capsys):
    def missing(name: str) -> None:
        raise ModuleNotFoundError("No module named 'torch'", name="torch")

    monkeypatch.setattr(cli.importlib, "import_module", missing)
    code, _, err = run_main(capsys, "serve", "--port", "0")
    assert code == 2
    assert err.strip() == "gatenet serve needs the server extra: pip install 'gatenet[server]'"


def test_serve_help_is_the_servers():
    result = gatenet("serve", "--help")
    assert result.returncode == 0
    assert "--metrics-port" in result.stdout and "--target" not in result.stdout


def test_the_command_imports_no_torch():
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import gatenet.client.cli"],
        capture_output=True,
        text=True,
        check=True,
    )
    modules = {line.split("|")[-1].strip() for line in out.stderr.splitlines()}
    assert "gatenet.client.cli" in modules and "torch" not in modules


def test_unreachable_server_names_the_target(capsys):
    code, out, err = run_main(capsys, "--target", "127.0.0.1:1", "health", "--timeout", "5")
    assert code == 1 and out == ""
    assert err.startswith("error: cannot reach the gatenet server at 127.0.0.1:1")
    assert "Traceback" not in err


# -- end to end against the real server ----------------------------------------------------


def test_train_predict_weights_models_delete(server):
    t = ("--target", server.target)
    trained = gatenet(*t, "train", "--gate", "xor", "--seed", "0", "--restarts", "8", "--json")
    assert trained.returncode == 0, trained.stderr
    info = json.loads(trained.stdout)
    assert info["fit"] is True and info["accuracy"] == 1.0
    for key in ("model_id", "final_loss", "steps", "train_seconds", "name", "spec"):
        assert key in info
    model = info["model_id"]

    predicted = gatenet(*t, "predict", model, "0,0", "0,1", "1,0", "1,1", "--json")
    assert json.loads(predicted.stdout)["labels"] == [0, 1, 1, 0]
    assert len(json.loads(predicted.stdout)["probabilities"]) == 4

    weights = json.loads(gatenet(*t, "weights", model, "--json").stdout)
    w0 = weights["tensors"]["layers.0.weight"]
    assert weights["model_id"] == model and len(w0["values"]) == np.prod(w0["shape"])
    assert w0["shape"][0] == 2 and weights["tensors"]["layers.1.bias"]["shape"] == [1]

    listed = json.loads(gatenet(*t, "models", "--json").stdout)["models"]
    assert model in [m["model_id"] for m in listed]

    deleted = gatenet(*t, "delete", model, "--json")
    assert json.loads(deleted.stdout) == {"model_id": model, "deleted": True}
    after = gatenet(*t, "predict", model, "0,1")
    assert after.returncode == 1 and after.stdout == ""
    assert after.stderr.startswith("error: NOT_FOUND: ") and "Traceback" not in after.stderr


def test_bad_values_show_the_servers_message(server):
    result = gatenet("--target", server.target, "train", "--gate", "xor", "--steps", "0")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith("error: INVALID_ARGUMENT: steps")
    result = gatenet("--target", server.target, "train", "--gate", "xor", "--margin", "0.7")
    assert result.returncode == 1 and "INVALID_ARGUMENT: margin" in result.stderr


def test_human_output(server, capsys):
    t = ("--target", server.target)
    code, out, _ = run_main(
        capsys, *t, "train", "--gate", "and", "--name", "cli-and", "--seed", "3"
    )
    assert code == 0
    assert "fit:" in out and "task:        and" in out and "(cli-and)" in out
    code, out, _ = run_main(capsys, *t, "predict", "cli-and", "0,0", "1,1")
    assert code == 0 and out.splitlines()[1].split() == ["ROW", "INPUTS", "PROBABILITY", "LABEL"]
    assert out.splitlines()[-1].split()[-1] == "1"
    code, out, _ = run_main(capsys, *t, "models", "--name-prefix", "cli-and")
    assert out.splitlines()[0].split()[:3] == ["ID", "NAME", "TASK"] and "cli-and" in out
    code, out, _ = run_main(capsys, *t, "model", "cli-and")
    assert code == 0 and "accuracy:" in out
    code, out, _ = run_main(capsys, *t, "weights", "cli-and")
    assert "layers.0.weight" in out
    assert run_main(capsys, *t, "delete", "cli-and")[1].startswith("deleted ")


def test_stream_shows_progress_on_stderr_only(server, capsys):
    t = ("--target", server.target)
    code, out, err = run_main(capsys, *t, "train", "--gate", "or", "--steps", "100", "--stream")
    assert code == 0 and "step " in err and "fit:" in out
    code, out, err = run_main(
        capsys, *t, "train", "--gate", "or", "--steps", "100", "--stream", "--json"
    )
    assert code == 0 and err == "" and json.loads(out)["steps"] <= 100


def test_examples_file_and_safetensors(server, tmp_path, capsys):
    safetensors = pytest.importorskip("safetensors.numpy")
    csv = tmp_path / "or.csv"
    csv.write_text("0,0,0\n0,1,1\n1,0,1\n1,1,1\n")
    t = ("--target", server.target, "--json")
    code, out, _ = run_main(capsys, *t, "train", "--examples", str(csv), "--hidden", "none")
    assert code == 0 and json.loads(out)["fit"] is True
    model = json.loads(out)["model_id"]
    blob = tmp_path / "or.safetensors"
    code, out, _ = run_main(capsys, *t, "weights", model, "--safetensors", str(blob))
    loaded = safetensors.load_file(str(blob))
    w = json.loads(out)["tensors"]["layers.0.weight"]
    np.testing.assert_array_equal(loaded["layers.0.weight"].ravel(), w["values"])
    rows = tmp_path / "rows.csv"
    rows.write_text("x,y\n0,0\n1,1\n")
    code, out, _ = run_main(capsys, *t, "predict", model, "--file", str(rows))
    assert json.loads(out)["labels"] == [0, 1]


def test_health_exit_codes(server, capsys):
    code, out, _ = run_main(capsys, "--target", server.target, "health")
    assert (code, out.strip()) == (0, "SERVING")
    code, out, _ = run_main(capsys, "--target", server.target, "--json", "health", "--service", "x")
    assert code == 1 and json.loads(out) == {"status": "SERVICE_UNKNOWN"}


def test_token_from_flag_or_environment(make_server, monkeypatch, capsys):
    srv = make_server(auth_token="s3cret")
    t = ("--target", srv.target, "--json")
    code, _, err = run_main(capsys, *t, "models")
    assert code == 1 and err.startswith("error: UNAUTHENTICATED: ")
    code, _, err = run_main(capsys, *t, "--token", "wrong", "models")
    assert code == 1 and err.startswith("error: UNAUTHENTICATED: ")
    code, out, _ = run_main(capsys, *t, "--token", "s3cret", "models")
    assert code == 0 and json.loads(out) == {"models": []}
    monkeypatch.setenv("GATENET_TOKEN", "s3cret")
    assert run_main(capsys, *t, "models")[0] == 0
