"""`gatenet plot FAMILY`: the capacity picture, drawn from GetFamily through the real server."""

from __future__ import annotations

import numpy as np
import pytest

from gatenet.server.training.family import npn
from gatenet_testing.cli_run import run_main

imread = pytest.importorskip("matplotlib.image").imread  # only with the plot extra
capacity = pytest.importorskip("gatenet.client.cli.capacity")


def cell_colour(fig, row: int, column: int) -> np.ndarray:
    """The RGB at the middle of cell (row, column) of the picture's grid, as drawn."""
    fig.canvas.draw()
    image = np.asarray(fig.canvas.buffer_rgba())[..., :3] / 255.0
    x, y = fig.axes[0].transData.transform((column + 0.5, row + 0.5))
    px, py = int(round(x)), image.shape[0] - int(round(y))
    # Beside the cell's middle, clear of the width written on it.
    return image[py - 5 : py - 3, px - 5 : px - 3].reshape(-1, 3).mean(axis=0)


def test_the_2_input_picture_colours_xor_and_xnor_apart(server, client, tmp_path, capsys) -> None:
    client.train_family(2, "plot-fam2", widths=(0, 2), seed=0)
    path = tmp_path / "cap.png"
    code, out, err = run_main(
        capsys, "--target", server.target, "plot", "plot-fam2", "-o", str(path), "--size", "700x500"
    )
    assert (code, out) == (0, f"wrote {path} (700x500)\n"), err
    assert imread(str(path)).shape[:2] == (500, 700)

    fig = capacity.figure(client.get_family("plot-fam2"), (700, 500))
    grid = np.asarray(fig.axes[0].collections[0].get_array()).reshape(4, 4)
    # Row = the outputs of rows 00, 01; column = of rows 10, 11; a cell holds its width's index.
    assert grid[0b01, 0b10] == grid[0b10, 0b01] == 2  # 0110 (XOR) and 1001 (XNOR): width 2
    assert (grid == 0).sum() == 14  # the 14 separable functions, width 0
    xor, and_ = cell_colour(fig, 0b01, 0b10), cell_colour(fig, 0b00, 0b01)
    assert np.abs(xor - cell_colour(fig, 0b10, 0b01)).max() < 0.02  # XOR, XNOR alike
    assert np.abs(xor - and_).max() > 0.3  # width 2 and width 0 are told apart
    labels = sorted(t.get_text() for t in fig.axes[0].texts)
    assert labels == ["0"] * 14 + ["2", "2"]  # each cell says its width, too


def test_a_list_of_4_input_functions_draws_their_npn_classes(server, client, tmp_path, capsys):
    # AND4, OR4 (one class), parity and its negation (one class), a threshold function.
    tables = ["0000000000000001", "0111111111111111", "0110100110010110", "1001011001101001",
              "0001011101111111"]  # fmt: skip
    client.train_family(4, "plot-fam4", tables=tables, widths=(0, 4), seed=0)
    fig = capacity.figure(client.get_family("plot-fam4"), (600, 450))
    assert "3 NPN classes" in fig.axes[0].get_title()
    cells = np.asarray(fig.axes[0].collections[0].get_array()).ravel()
    drawn = sorted(int(c) for c in cells if c >= 0)
    assert drawn[:2] == [0, 0] and drawn[2] >= 2  # two separable classes, parity needs more
    assert (cells == capacity.MISSING).sum() == 1  # a 2x2 grid, one cell to spare
    code, _, err = run_main(capsys, "--target", server.target, "plot", "plot-fam4", "--loss",
                            "-o", str(tmp_path / "x.png"))  # fmt: skip
    assert code == 2 and "plot-fam4 is a family: it has no loss curve" in err


@pytest.mark.parametrize(("n", "classes"), [(2, 4), (3, 14), (4, 222)])
def test_the_clients_npn_classes_are_the_servers(n: int, classes: int) -> None:
    everything = np.arange(2 ** (2**n), dtype=np.int64)
    canonical = capacity.npn_canonical(everything, n)
    assert len(np.unique(canonical)) == classes
    server_side = npn.classes(n).class_of
    # The same partition: each client class is exactly one server class, and back.
    pairs = np.unique(np.stack([canonical, server_side]), axis=1)
    assert pairs.shape[1] == classes
