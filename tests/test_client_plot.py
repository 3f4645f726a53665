"""`gatenet plot`: PNGs of the requested size whose colours say what the model predicts."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from cli_run import run_main

from gatenet.client import Client

imread = pytest.importorskip("matplotlib.image").imread  # only with the plot extra
plot = pytest.importorskip("gatenet.client.cli.plot")


@pytest.fixture(scope="module")
def xor(server) -> str:
    with Client(server.target, timeout=60) as client:
        info = client.train(gate="xor", hidden_sizes=[4], activation="tanh", seed=0, restarts=8)
    assert info.fit
    return info.model_id


def test_the_png_has_exactly_the_requested_size(server, xor, tmp_path, capsys):
    t = ("--target", server.target)
    for size, extra in (("333x222", []), ("640x480", ["--loss"]), ("257x511", ["--loss", "--log"])):
        path = tmp_path / f"{size}.png"
        code, out, _ = run_main(capsys, *t, "plot", xor, "-o", str(path), "--size", size, *extra)
        assert (code, out) == (0, f"wrote {path} ({size})\n")
        width, height = map(int, size.split("x"))
        assert imread(str(path)).shape[:2] == (height, width)
    code, out, _ = run_main(capsys, *t, "plot", xor, "-o", str(tmp_path / "default.png"))
    assert out.endswith("(800x600)\n") and imread(str(tmp_path / "default.png")).shape[:2] == (
        600,
        800,
    )


def test_xor_corners_are_coloured_by_their_labels(server, xor, tmp_path, capsys):
    path, size = tmp_path / "xor.png", (500, 400)
    assert (
        run_main(
            capsys, "--target", server.target, "plot", xor, "-o", str(path), "--size", "500x400"
        )[0]
        == 0
    )
    image = imread(str(path))[..., :3]
    box = (*plot.LIMITS, *plot.LIMITS)

    def colour(x: float, y: float) -> np.ndarray:
        row, column = plot.pixel(x, y, size, box)
        return image[row - 2 : row + 3, column - 2 : column + 3].reshape(-1, 3).mean(axis=0)

    # Just outside each corner (the markers sit on the corners): the surface's own colour.
    c00, c11 = colour(-0.12, -0.12), colour(1.12, 1.12)
    c01, c10 = colour(-0.12, 1.12), colour(1.12, -0.12)
    assert np.abs(c00 - c11).max() < 0.2 and np.abs(c01 - c10).max() < 0.2  # alike
    assert np.abs(c00 - c01).max() > 0.4  # the two groups differ
    red, blue = 0, 2
    assert c00[blue] > c00[red] and c01[red] > c01[blue]  # label 0 blue, label 1 red


def test_more_inputs_draw_one_bar_per_truth_table_row(client, tmp_path, capsys):
    info = client.train(
        truth_table=[0, 1, 1, 0, 1, 0, 0, 1], seed=3, restarts=8, name="plot-parity3"
    )
    path = tmp_path / "table.png"
    code, out, _ = run_main(
        capsys,
        "--target",
        client.target,
        "plot",
        "plot-parity3",
        "-o",
        str(path),
        "--size",
        "600x500",
    )
    assert code == 0 and imread(str(path)).shape[:2] == (500, 600)
    assert info.num_inputs == 3


def test_without_matplotlib_one_line_says_how_to_install(server, xor, tmp_path):
    code = (
        "import sys\n"
        "sys.modules['matplotlib'] = None  # as if it were not installed\n"
        "from gatenet.client import cli\n"
        f"sys.exit(cli.main(['--target', {server.target!r}, 'plot', {xor!r}, '-o', 'x.png']))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == "error: gatenet plot needs matplotlib: pip install 'gatenet[plot]'\n"
    assert not (tmp_path / "x.png").exists()
