"""Damaged and odd model files for the fuzz's ImportModel calls: a real `gatenet weights --json`
document or a real safetensors file, as sent or with one part broken where the server parses it.

Each maker takes the seeded generator, so the same seed damages the same way.
"""

from __future__ import annotations

import json
import random
import struct


def hostile_json(rng: random.Random, real: str) -> str:
    """The real weights document, or one with a hostile part where the server parses it."""
    doc = json.loads(real)
    first = next(iter(doc["tensors"]))
    roll = rng.randrange(14 + len(_ODD_JSON))
    if roll >= 14:
        return _ODD_JSON[roll - 14](rng, doc, real)
    if roll == 0:
        return real
    if roll == 1:
        return "[" * rng.choice([100, 5000, 100_000])  # deep nesting
    if roll == 2:
        return real[: rng.randrange(len(real))]
    if roll == 3:
        doc["tensors"][first]["shape"] = [rng.choice(["Infinity", "NaN", "1e400", "-1", "2**40"])]
        return json.dumps(doc).replace('"Infinity"', "Infinity").replace('"NaN"', "NaN")
    if roll == 4:
        doc["tensors"][first]["shape"] = [1] * 65
    elif roll == 5:
        doc["tensors"][first]["values"] = rng.choice([[[1, 2], [3]], {"a": 1}, "abc", None, [1e39]])
    elif roll == 6:
        doc["tensors"][first]["shape"] = [2**40, 2**40]
        doc["tensors"][first]["values"] = []
    elif roll == 7:
        doc["activation"] = rng.choice([["tanh"], {"a": 1}, 3, "x" * 20000, "Tanh", None])
    elif roll == 8:
        doc["spec"] = rng.choice(
            [{"network": {"hidden_sizes": [-1]}}, {"seed": "1e400"}, {"x": [1] * 10}, []]
        )
    elif roll == 9:
        doc["model_id"] = rng.choice(["x" * 20000, 5, None, {"a": 1}])
    elif roll == 10:
        doc["tensors"] = rng.choice([[], {}, {"layers.0.weight": {}}, "x", None])
    elif roll == 11:
        doc["tensors"]["layers.99.weight"] = {"shape": [1, 1], "values": [0.0]}
    elif roll == 12:  # json.dumps cannot nest this deep: the text is spliced in
        nested = _nested_json(rng.choice([50, 900, 3000]))
        doc["spec"] = "NESTED"
        return json.dumps(doc).replace('"NESTED"', nested)
    else:
        return json.dumps(doc) + rng.choice(["x", "\x00", "\u2028"])
    return json.dumps(doc)


def _nested_json(depth: int) -> str:
    return '{"gate":' * depth + "{}" + "}" * depth


def _renamed_tensor(rng: random.Random, doc: dict, real: str) -> str:
    """A tensor under a near-miss name (the network then lacks it)."""
    name = rng.choice(sorted(doc["tensors"]))
    new = rng.choice([name.replace("weight", "weigth"), name.upper(), name + " ", "layers.0"])
    doc["tensors"][new] = doc["tensors"].pop(name)
    return json.dumps(doc)


def _missing_tensor(rng: random.Random, doc: dict, real: str) -> str:
    """A bias (or a weight) left out."""
    del doc["tensors"][rng.choice(sorted(doc["tensors"]))]
    return json.dumps(doc)


def _values_off_by_one(rng: random.Random, doc: dict, real: str) -> str:
    """One value more or fewer than the shape holds."""
    tensor = doc["tensors"][rng.choice(sorted(doc["tensors"]))]
    if tensor["values"] and rng.random() < 0.5:
        tensor["values"].pop()
    else:
        tensor["values"].append(0.5)
    return json.dumps(doc)


def _non_finite_value(rng: random.Random, doc: dict, real: str) -> str:
    """NaN or Infinity among the values (JSON without them, as Python writes it)."""
    tensor = doc["tensors"][rng.choice(sorted(doc["tensors"]))]
    tensor["values"][0] = rng.choice([float("nan"), float("inf"), -float("inf")])
    return json.dumps(doc)


def _odd_activation(rng: random.Random, doc: dict, real: str) -> str:
    """A misspelt, empty or unknown activation name."""
    doc["activation"] = rng.choice(["tanj", "", "softmax", "SIGMOID ", "relu\u0000"])
    return json.dumps(doc)


def _odd_text(rng: random.Random, doc: dict, real: str) -> str:
    """Not a document: nothing, a scalar, a BOM, duplicate keys, the file twice."""
    return rng.choice(
        [
            "",
            "null",
            "5",
            '"tensors"',
            "\ufeff" + real,
            real.replace("{", '{"activation": "relu", ', 1),  # a duplicate key: the last wins
            real + real,
            real.encode("utf-16").decode("latin-1"),
        ]
    )


_ODD_JSON = (
    _renamed_tensor,
    _missing_tensor,
    _values_off_by_one,
    _non_finite_value,
    _odd_activation,
    _odd_text,
)


def hostile_safetensors(rng: random.Random, real: bytes) -> bytes:
    """The real safetensors file, or one with a hostile header, size or body."""
    (size,) = struct.unpack("<Q", real[:8])
    header, body = json.loads(real[8 : 8 + size]), real[8 + size :]
    name = next(k for k in header if k != "__metadata__")
    roll = rng.randrange(12 + len(_ODD_SAFETENSORS))
    if roll >= 12:
        return _ODD_SAFETENSORS[roll - 12](rng, header, body, real)
    if roll == 0:
        return real
    if roll == 1:
        return real[: rng.randrange(len(real))]
    if roll == 2:
        return struct.pack("<Q", rng.choice([2**64 - 1, 2**63, len(real)])) + real[8:]
    if roll == 3:
        header[name]["dtype"] = rng.choice(["BF16", "F16", "F64", "I64", "BOOL", "U8", "F8_E4M3"])
    elif roll == 4:
        header[name]["data_offsets"] = rng.choice([[8, 0], [0, 2**62], [-1, 4], [0, 0]])
    elif roll == 5:
        header[name]["shape"] = rng.choice([[2**40, 2**40], [-1], [1] * 65, [], [0]])
    elif roll == 6:
        header.setdefault("__metadata__", {})["model_info"] = rng.choice(
            ["{", "[]", "x" * 20000, _nested_json(3000), '{"num_inputs": -1}']
        )
    elif roll == 7:
        header.setdefault("__metadata__", {})["activation"] = rng.choice(["", "x" * 20000, "é"])
    elif roll == 8:
        header["__metadata__"] = rng.choice([{"a": 1}, [], "x", None])
    elif roll == 9:
        return _safetensors(b"[" * rng.choice([100, 5000]), body)
    elif roll == 10:
        header[name + "x"] = header.pop(name)
    else:
        return _safetensors(json.dumps(header).encode(), body[: len(body) // 2])
    return _safetensors(json.dumps(header).encode(), body)


def _safetensors(header: bytes, body: bytes) -> bytes:
    return struct.pack("<Q", len(header)) + header + body


def _flipped_bit(rng: random.Random, header: dict, body: bytes, real: bytes) -> bytes:
    """One bit flipped anywhere: the size, the header's JSON or a weight."""
    i = rng.randrange(len(real))
    return real[:i] + bytes([real[i] ^ 1 << rng.randrange(8)]) + real[i + 1 :]


def _non_finite_weights(rng: random.Random, header: dict, body: bytes, real: bytes) -> bytes:
    """Every float32 of the body NaN or infinite: a valid file of invalid weights."""
    value = rng.choice([b"\x00\x00\xc0\x7f", b"\x00\x00\x80\x7f", b"\x00\x00\x80\xff"])
    return _safetensors(json.dumps(header).encode(), value * (len(body) // 4))


def _missing_tensor_file(rng: random.Random, header: dict, body: bytes, real: bytes) -> bytes:
    """A tensor's entry gone from the header, its bytes left in the body."""
    del header[rng.choice(sorted(k for k in header if k != "__metadata__"))]
    return _safetensors(json.dumps(header).encode(), body)


def _shared_bytes(rng: random.Random, header: dict, body: bytes, real: bytes) -> bytes:
    """Two tensors pointing at the same bytes (overlapping offsets)."""
    names = sorted(k for k in header if k != "__metadata__")
    header[names[-1]]["data_offsets"] = header[names[0]]["data_offsets"]
    return _safetensors(json.dumps(header).encode(), body)


def _odd_bytes(rng: random.Random, header: dict, body: bytes, real: bytes) -> bytes:
    """Not a safetensors file: nothing, a bare size, a header that is not UTF-8, a JSON text."""
    return rng.choice(
        [
            b"",
            struct.pack("<Q", 0),
            struct.pack("<Q", 2) + b"{}",
            _safetensors(b'{"\xff": 1}', b""),
            _safetensors(json.dumps(header).encode() + b" " * 7, body),  # padded, as allowed
            b'{"tensors": {}}',
            real + real,
        ]
    )


_ODD_SAFETENSORS = (
    _flipped_bit,
    _non_finite_weights,
    _missing_tensor_file,
    _shared_bytes,
    _odd_bytes,
)
