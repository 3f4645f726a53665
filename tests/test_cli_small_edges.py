"""Small edges of the `gatenet` command and the client (issue 21, item 21), each through the
real command or client, against a real server where one is involved."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cli_run import run_main

from gatenet.client import Client
from gatenet.vocabulary.gates import GATE_NAMES


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
    from gatenet.client.cli import render
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
    assert offered == list(GATE_NAMES)
