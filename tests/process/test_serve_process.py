"""`gatenet serve` as a real process: settings precedence, bad settings, graceful stop."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from gatenet.client import Client, ClientError
from gatenet.server.config import load_settings

pytestmark = pytest.mark.slow  # real processes or many trainings: make test's second step


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_max_predict_work_reads_its_flag_and_variable():
    assert load_settings([], {}).max_predict_work == 1_000_000_000
    assert load_settings([], {"GATENET_MAX_PREDICT_WORK": "2000000"}).max_predict_work == 2_000_000
    flag = ["--max-predict-work", "3000000"]
    assert (
        load_settings(flag, {"GATENET_MAX_PREDICT_WORK": "2000000"}).max_predict_work == 3_000_000
    )


def test_flags_override_environment_override_defaults():
    env = {"GATENET_PORT": "6000", "GATENET_MAX_MODELS": "7", "GATENET_LOG_FORMAT": "text"}
    settings = load_settings(["--port", "6001"], env)
    assert settings.port == 6001
    assert settings.max_models == 7
    assert settings.log_format == "text"
    assert load_settings([], {}).port == 50051


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["--port", "70000"], {}, "--port = 70000"),
        (["--max-models", "0"], {}, "--max-models = 0"),
        ([], {"GATENET_TRAINING_WORKERS": "two"}, "GATENET_TRAINING_WORKERS = 'two'"),
        (["--log-format", "xml"], {}, "json|text"),
        (["--max-predict-work", "999999"], {}, "--max-predict-work = 999999 is out of range"),
        ([], {"GATENET_MAX_PREDICT_WORK": "1e9"}, "GATENET_MAX_PREDICT_WORK = '1e9'"),
    ],
)
def test_bad_settings_name_the_setting(argv, env, message):
    with pytest.raises(ValueError, match=message.replace("|", r"\|")):
        load_settings(argv, env)


def _gatenet(*args: str, **kwargs) -> subprocess.Popen:
    exe = os.path.join(os.path.dirname(sys.executable), "gatenet")
    return subprocess.Popen(
        [exe, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs
    )


def test_a_misspelled_variable_stops_start_up_naming_the_closest_setting():
    env = {**os.environ, "GATENET_PROT": "1"}
    proc = _gatenet("serve", "--port", "0", "--metrics-port", "-1", env=env)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert err.strip().splitlines() == [
        "gatenet serve: GATENET_PROT is not a gatenet setting; did you mean GATENET_PORT?"
    ]


def test_client_variables_are_not_mistaken_for_typos():
    env = {"GATENET_TARGET": "h:1", "GATENET_TOKEN": "t", "GATENET_CI_PORT": "5"}
    assert load_settings([], env).port == 50051


def test_bad_setting_stops_start_up_with_one_clear_line():
    proc = _gatenet("serve", "--port", "-5")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert err.strip().splitlines()[-1] == (
        "gatenet serve: --port = -5 is out of range; allowed: 0..65535"
    )


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_trains_then_stops_gracefully_on_signal(sig, tmp_path):
    port = free_port()
    proc = _gatenet(
        "serve",
        "--port",
        str(port),
        "--metrics-port",
        "-1",
        "--grace-seconds",
        "5",
        "--log-format",
        "json",
        "--data-dir",
        str(tmp_path / "data"),  # the default store, in a folder of its own
    )
    try:
        with Client(f"127.0.0.1:{port}", timeout=10) as c:
            deadline = time.monotonic() + 60
            while True:  # poll until the process has bound and warmed up its workers
                try:
                    if c.health() == "SERVING":
                        break
                except ClientError:
                    if time.monotonic() > deadline:
                        raise
                time.sleep(0.1)
            model = c.train(gate="xor").model_id
            assert c.predict(model, [[1, 0]]).labels.tolist() == [1]
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert '"msg": "stopped"' in err
    finally:
        if proc.poll() is None:
            proc.kill()


def test_a_taken_metrics_port_stops_start_up_with_one_line():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = _gatenet("serve", "--port", "0", "--metrics-port", str(port), "--store", "memory")
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and f":{port} (--metrics-port)" in lines[0], err


def test_warnings_are_json_log_lines():
    """In a process of its own: pytest records warnings itself, around every test."""
    script = (
        "import warnings\n"
        "from gatenet.server import logs\n"
        "logs.configure('INFO', 'json')\n"
        "warnings.warn('overflow encountered', RuntimeWarning, stacklevel=1)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 0 and len(lines) == 1, done.stderr
    assert lines[0].startswith("{") and "overflow encountered" in lines[0]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--tokens-file", "TOKENS"], "line 1: want 'TOKEN ROLE'"),
        (
            ["--tls-cert", "/nonexistent/c.pem", "--tls-key", "/nonexistent/k.pem"],
            "--tls-cert /nonexistent/c.pem: cannot read it: No such file or directory",
        ),
        (["--tls-cert", "/nonexistent/c.pem"], "--tls-cert needs --tls-key"),
        (["--store", "mongodb://x"], "--store"),
    ],
)
def test_bad_security_and_store_settings_stop_start_up_with_one_line(tmp_path, flags, message):
    tokens = tmp_path / "tokens"
    tokens.write_text("only-a-token\n")
    flags = [str(tokens) if f == "TOKENS" else f for f in flags]
    proc = _gatenet("serve", "--port", "0", "--metrics-port", "-1", "--store", "memory", *flags)
    _, err = proc.communicate(timeout=60)
    lines = err.strip().splitlines()
    assert proc.returncode in (1, 2) and len(lines) == 1, err
    assert message in lines[0] and "only-a-token" not in lines[0]


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", ": no tokens in it"),
        ("# token role\n\n   # nothing here either\n", ": no tokens in it"),
        ("s3cret read\nother admin\ns3cret admin\n", " line 3: the token of line 1 again"),
    ],
)
def test_a_tokens_file_without_tokens_stops_start_up(tmp_path, text, why):
    """An empty tokens file would turn auth off: a protection never goes off silently (nor is
    a token's role left to chance)."""
    tokens = tmp_path / "tokens"
    tokens.write_text(text)
    proc = _gatenet(
        "serve", "--port", "0", "--metrics-port", "-1", "--store", "memory", "--tokens-file", tokens
    )
    try:
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:  # it started, open to anyone
            proc.kill()
            proc.communicate()
    assert proc.returncode == 2, err
    assert err.strip().splitlines() == [f"gatenet serve: --tokens-file {tokens}{why}"]


def _serving_line(*flags: str, env: dict[str, str] | None = None) -> tuple[dict, str]:
    """The 'serving' log line of a server started with flags, and everything it logged."""
    port = free_port()
    proc = _gatenet(
        "serve", "--port", str(port), "--metrics-port", "-1", "--store", "memory", *flags, env=env
    )
    try:
        with Client(f"127.0.0.1:{port}", timeout=5, retries=0) as c:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if c.health() == "SERVING":
                        break
                except ClientError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise
                time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    (serving,) = [line for line in lines if line["msg"] == "serving"]
    return serving, err


def test_the_start_up_line_says_whether_auth_is_on_and_counts_tokens_by_role(tmp_path):
    tokens = tmp_path / "tokens"
    tokens.write_text("r3ad-one read\nr3ad-two read  # a comment\nadm1n admin\n")
    env = {**os.environ, "GATENET_AUTH_TOKEN": "env-adm1n"}
    serving, err = _serving_line("--tokens-file", str(tokens), env=env)
    assert serving["auth"] == "on"
    assert serving["tokens"] == {"read": 2, "train": 0, "admin": 2}
    for secret in ("r3ad-one", "r3ad-two", "adm1n"):
        assert secret not in err
    serving, _ = _serving_line()
    assert serving["auth"] == "off" and serving["tokens"] == {"read": 0, "train": 0, "admin": 0}
