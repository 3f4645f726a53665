"""Layer shapes and parameter names of a network, without torch (the RPC layer checks with them)."""

from __future__ import annotations

from collections.abc import Sequence

from gatenet.vocabulary import layers

Shape = tuple[int, int]


def layer_shapes(num_inputs: int, hidden_sizes: Sequence[int]) -> list[Shape]:
    """(fan_in, fan_out) of each layer, input side first; the last layer has one output unit."""
    sizes = [num_inputs, *hidden_sizes, 1]
    return list(zip(sizes[:-1], sizes[1:], strict=True))


def parameter_names(shapes: Sequence[Shape]) -> list[str]:
    """Parameter names in their canonical order: layers.0.weight, layers.0.bias, ..."""
    return layers.parameter_names(len(shapes))


def parameter_shapes(shapes: Sequence[Shape]) -> dict[str, tuple[int, ...]]:
    """Name -> shape of one restart's parameter (weight [fan_in, fan_out], bias [fan_out])."""
    out: dict[str, tuple[int, ...]] = {}
    for i, (fi, fo) in enumerate(shapes):
        out[layers.weight_name(i)] = (fi, fo)
        out[layers.bias_name(i)] = (fo,)
    return out


def parameter_count(shapes: Sequence[Shape]) -> int:
    """Parameters of one restart."""
    return sum(fi * fo + fo for fi, fo in shapes)
