"""Models survive: real `gatenet serve` processes killed with SIGKILL, restarted on their data."""

from __future__ import annotations

import sqlite3
import threading
import time

import numpy as np
import pytest

from gatenet.client import Client, ClientError
from gatenet_testing.damaged_records import rewrite, unknown_activation
from gatenet_testing.serve_process import ServeProcess, alive, descendants, gatenet

ROWS = [[0, 0], [0, 1], [1, 0], [1, 1]]
# Bounds on wall time, or load on purpose: on one xdist worker, one module at a time.
pytestmark = [pytest.mark.slow, pytest.mark.timed]


def _snapshot(c: Client, model_id: str) -> tuple[list[float], dict[str, np.ndarray]]:
    weights = c.get_weights(model_id).tensors
    return c.predict(model_id, ROWS).probabilities.tolist(), weights


def test_acknowledged_models_survive_kill_9(tmp_path):
    data = str(tmp_path / "data")
    server = ServeProcess("--data-dir", data).start()
    before = {}
    try:
        with Client(server.target, timeout=60) as c:
            for i in range(8):
                info = c.train(gate=["xor", "and", "or", "nand"][i % 4], name=f"m{i}")
                before[info.model_id] = _snapshot(c, info.model_id)
            # One more training, in flight when the server dies: all there or absent.
            late = threading.Thread(
                target=lambda: _quietly(
                    lambda: c.train(gate="xor", steps=200_000, early_stop=False, name="late")
                )
            )
            late.start()
            time.sleep(0.5)
            server.kill()
            late.join(timeout=30)
    finally:
        server.stop()
    again = ServeProcess("--data-dir", data).start()
    try:
        with Client(again.target, timeout=60) as c:
            listed = {m.model_id: m for m in c.list_models()}
            assert set(before) <= set(listed), "an acknowledged model was lost"
            for model_id, (probabilities, weights) in before.items():
                got_p, got_w = _snapshot(c, model_id)
                assert got_p == probabilities
                for name, value in weights.items():
                    np.testing.assert_array_equal(got_w[name], value)
            extra = set(listed) - set(before)
            for model_id in extra:  # the interrupted Train, if it was stored, is whole
                assert listed[model_id].name == "late"
                assert c.predict(model_id, ROWS).labels.shape == (4,)
    finally:
        again.stop()


def test_an_acknowledged_family_survives_kill_9_with_every_member(tmp_path):
    """A TrainFamily answered OK is on disk: after SIGKILL, the restarted server lists it as
    one row, reads its capacity table back, and every member predicts its own table."""
    data = str(tmp_path / "data")
    server = ServeProcess("--data-dir", data).start()
    try:
        with Client(server.target, timeout=60) as c:
            family = c.train_family(2, "fam2", widths=(0, 2), seed=0)
            assert family.fit == 16
        server.kill()
    finally:
        server.stop()
    again = ServeProcess("--data-dir", data).start()
    try:
        with Client(again.target, timeout=60) as c:
            assert [m.name for m in c.list_models()] == ["fam2"]
            back = c.get_family("fam2")
            assert (back.fit, back.fit_by_width) == (family.fit, family.fit_by_width)
            for member in back.members:
                labels = c.predict(f"fam2/{member.table}", ROWS).labels.tolist()
                assert labels == [int(bit) for bit in member.table]
    finally:
        again.stop()


def _quietly(call) -> None:
    try:
        call()
    except ClientError:
        pass


def test_a_corrupt_record_is_skipped_named_and_counted(tmp_path):
    data = tmp_path / "data"
    server = ServeProcess("--data-dir", str(data), "--warm-models", "0").start()
    try:
        with Client(server.target, timeout=60) as c:
            good = c.train(gate="and", name="good").model_id
            bad = c.train(gate="or", name="bad").model_id
    finally:
        server.stop()
    with sqlite3.connect(data / "gatenet.db") as db:
        db.execute("UPDATE models SET tensors = ? WHERE model_id = ?", (b"\x00garbage", bad))
    server = ServeProcess("--data-dir", str(data)).start()
    try:
        with Client(server.target, timeout=60) as c:
            assert c.predict(good, [[1, 1]]).labels.tolist() == [1]
            with pytest.raises(ClientError) as err:
                c.predict(bad, [[1, 1]])
            assert err.value.code == "DATA_LOSS"
            assert bad in err.value.message
            assert c.health() == "SERVING"
    finally:
        server.stop()


def test_workers_die_with_their_server(tmp_path):
    server = ServeProcess("--store", "memory").start()
    assert server.proc is not None
    workers = descendants(server.proc.pid)
    assert workers, "the server has training workers"
    with Client(server.target, timeout=60) as c:
        long = threading.Thread(
            target=lambda: _quietly(
                lambda: c.train(gate="xor", steps=1_000_000, early_stop=False, restarts=64)
            )
        )
        long.start()
        time.sleep(2)
        server.kill()
        deadline = time.monotonic() + 1.0
        while alive(workers) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not alive(workers), "a training worker outlived its server by over a second"
        long.join(timeout=30)


def test_a_data_dir_in_use_stops_a_second_server_with_one_line(tmp_path):
    data = str(tmp_path / "data")
    first = ServeProcess("--data-dir", data).start()
    try:
        proc = gatenet("serve", "--port", "0", "--metrics-port", "-1", "--data-dir", data)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 1
        lines = err.strip().splitlines()
        assert len(lines) == 1 and "in use by another gatenet server" in lines[0], err
    finally:
        first.stop()


def test_a_data_dir_that_cannot_be_made_stops_start_up_with_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    proc = gatenet("serve", "--port", "0", "--metrics-port", "-1", "--data-dir", str(blocker / "d"))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and str(blocker) in lines[0], err


def test_a_record_with_an_unknown_activation_does_not_stop_start_up(tmp_path):
    data = tmp_path / "data"
    server = ServeProcess("--data-dir", str(data)).start()
    try:
        with Client(server.target, timeout=60) as c:
            good = c.train(gate="and", name="good").model_id
            bad = c.train(gate="or", name="bad").model_id
    finally:
        server.stop()
    rewrite(
        data, bad, unknown_activation
    )  # well-formed JSON, checksum to match: only the content is off
    server = ServeProcess("--data-dir", str(data)).start()  # warms both: must still serve
    assert server.proc is not None
    try:
        with Client(server.target, timeout=60, retries=0) as c:
            assert c.predict(good, [[1, 1]]).labels.tolist() == [1]
            for _ in range(3):
                with pytest.raises(ClientError) as err:
                    c.predict("bad", [[1, 1]])
                assert err.value.code == "DATA_LOSS" and bad in err.value.message
                assert "unknown activation 'tanj'" in err.value.message
            assert [m.model_id for m in c.list_models()] == [good, bad]
            assert c.delete_model("bad") == bad
    finally:
        server.proc.terminate()
        _, err_text = server.proc.communicate(timeout=30)
    logged = [line for line in err_text.splitlines() if "unreadable record" in line]
    assert len(logged) == 1 and bad in logged[0], err_text  # once, for three calls and a list
