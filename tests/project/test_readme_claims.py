"""What the README says about matching a notebook, checked through the real server: MSE is
(p - y)^2, so a loop stepping on (p - y)^2 / 2 needs half its learning rate with SGD and the
same one with Adam (scaling a loss does not change Adam's steps)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gatenet.client import Client

X = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
Y = torch.tensor([[0.0], [1.0], [1.0], [0.0]])
STEPS = 40


def start() -> dict[str, np.ndarray]:
    g = torch.Generator().manual_seed(11)
    return {
        "layers.0.weight": torch.randn(2, 4, generator=g).numpy(),
        "layers.0.bias": torch.randn(4, generator=g).numpy(),
        "layers.1.weight": torch.randn(4, 1, generator=g).numpy(),
        "layers.1.bias": torch.randn(1, generator=g).numpy(),
    }


def notebook(optimizer: str, lr: float) -> dict[str, np.ndarray]:
    """A notebook's full-batch loop on sum((p - y)^2 / 2), from start()."""
    params = {k: torch.tensor(v, requires_grad=True) for k, v in start().items()}
    kind = torch.optim.SGD if optimizer == "sgd" else torch.optim.Adam
    opt = kind(params.values(), lr=lr)
    for _ in range(STEPS):
        h = torch.sigmoid(X @ params["layers.0.weight"] + params["layers.0.bias"])
        p = torch.sigmoid(h @ params["layers.1.weight"] + params["layers.1.bias"])
        loss = ((p - Y) ** 2 / 2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return {k: v.detach().numpy() for k, v in params.items()}


def gatenet(client: Client, optimizer: str, lr: float) -> dict[str, np.ndarray]:
    info = client.train(
        gate="xor", hidden_sizes=[4], activation="sigmoid", method="autograd", loss="mse",
        reduction="sum", optimizer=optimizer, learning_rate=lr, schedule="full_batch",
        steps=STEPS, restarts=1, early_stop=False, initial_weights=start(), seed=0,
    )  # fmt: skip
    return client.get_weights(info).tensors


def gap(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> float:
    return max(float(np.abs(a[k] - b[k]).max()) for k in a)


@pytest.mark.parametrize(
    ("optimizer", "notebook_lr", "same_as", "not_as"),
    [("sgd", 4.0, 2.0, 4.0), ("adam", 0.1, 0.1, 0.05)],
)
def test_the_mse_learning_rate_note(client, optimizer, notebook_lr, same_as, not_as):
    want = notebook(optimizer, notebook_lr)
    assert gap(gatenet(client, optimizer, same_as), want) < 1e-4
    assert gap(gatenet(client, optimizer, not_as), want) > 1e-2
