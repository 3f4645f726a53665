"""Values at the edges of each wire encoding, and mutations of one message's bytes."""

from __future__ import annotations

import math
import random
import struct

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from gatenet.vocabulary.wire import length_delimited, tag, varint

# -- values at the edges, by wire encoding -------------------------------------------------

# -1 goes out as the 10-byte varint protobuf writes for int64 -1; 2**32 overflows uint32.
INTS = (0, 1, -1, 2, 3, 7, 99, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**63 - 1, 2**64 - 1)
_F32_VALUES = (0.0, -0.0, 1.0, 0.5, math.nan, math.inf, -math.inf, 3.4e38, -3.4e38, 1e-45, 1e30)
FLOAT32 = tuple(struct.pack("<f", v) for v in _F32_VALUES) + (b"\x01\x00\x80\x7f",)  # sNaN
_F64_VALUES = (
    *(0.0, -0.0, 1.0, math.nan, math.inf, -math.inf, 3.4e38, 1e-300, 5e-324, 0.5, 1000.0),
    *(1.7976931348623157e308, -1.7976931348623157e308, 0.49999999999999994, 1000.0000000000002),
)
FLOAT64 = tuple(struct.pack("<d", v) for v in _F64_VALUES)
STRINGS = (
    b"",
    b"\xff\xfe",  # never valid UTF-8
    b"\xc0\x80",  # overlong NUL
    b"\xed\xa0\x80",  # a UTF-16 surrogate
    b"a\x00b",
    b"\x07\x1b[31m\r\n\t",
    "²".encode(),
    "\u202eledom".encode(),
    "😀".encode() * 50,
    b"9" * 19,
    b"9" * 5000,
    b"x" * 20000,
    b" xor ",
    b"XOR",
    b"layers.0.weight",
    b"0" * 32,
    b"%s%n{}'\"",
)


# -- the wire, by hand ----------------------------------------------------------------------


def scalar(number: int, wire_type: int, payload: bytes) -> bytes:
    """A varint (payload already encoded), fixed64 or fixed32 field."""
    return tag(number, wire_type) + payload


# -- mutations of one message ------------------------------------------------------------------


def _extreme_payload(rng: random.Random, field: FieldDescriptor) -> tuple[int, bytes, str]:
    """(wire type, payload, description) of an edge value of the field's own type."""
    t = field.type
    if t == FieldDescriptor.TYPE_FLOAT:
        raw = rng.choice(FLOAT32)
        return 5, raw, repr(struct.unpack("<f", raw)[0])
    if t == FieldDescriptor.TYPE_DOUBLE:
        raw = rng.choice(FLOAT64)
        return 1, raw, repr(struct.unpack("<d", raw)[0])
    if t in (FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_BYTES):
        raw = rng.choice(STRINGS)
        return 2, varint(len(raw)) + raw, f"{raw[:12]!r}x{len(raw)}"
    n = rng.choice(INTS)  # every varint kind: ints, enums (out of range too), bools
    return 0, varint(n), str(n)


def extreme_field(rng: random.Random, desc: Descriptor, depth: int = 0) -> tuple[bytes, str]:
    """One field of `desc` with an edge value; message fields recurse into one of theirs."""
    field = rng.choice(desc.fields)
    if field.type == FieldDescriptor.TYPE_MESSAGE and depth < 3:
        inner, what = extreme_field(rng, field.message_type, depth + 1)
        return length_delimited(field.number, inner), f"{field.name}.{what}"
    wire, payload, what = _extreme_payload(rng, field)
    if wire == 2:
        return tag(field.number, 2) + payload, f"{field.name}={what}"
    return scalar(field.number, wire, payload), f"{field.name}={what}"


def _string_paths(desc: Descriptor, depth: int = 0) -> list[list[FieldDescriptor]]:
    """Every string or bytes field, through nested messages, as the chain of fields to it."""
    paths: list[list[FieldDescriptor]] = []
    for field in desc.fields:
        if field.type in (FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_BYTES):
            paths.append([field])
        elif field.type == FieldDescriptor.TYPE_MESSAGE and depth < 3:
            paths += [[field, *rest] for rest in _string_paths(field.message_type, depth + 1)]
    return paths


def hostile_string(rng: random.Random, desc: Descriptor) -> tuple[bytes, str]:
    """A string field anywhere in the message set to invalid UTF-8, controls or 20,000 chars."""
    paths = _string_paths(desc)
    if not paths:
        return unknown_field(rng)
    path, raw = rng.choice(paths), rng.choice(STRINGS)
    encoded = length_delimited(path[-1].number, raw)
    for field in reversed(path[:-1]):
        encoded = length_delimited(field.number, encoded)
    return encoded, ".".join(f.name for f in path) + f"={raw[:12]!r}x{len(raw)}"


def wrong_wire_type(rng: random.Random, desc: Descriptor) -> tuple[bytes, str]:
    """A known field number sent with a wire type its type does not use."""
    field = rng.choice(desc.fields)
    wire = rng.choice([0, 1, 2, 3, 4, 5, 6, 7])
    payload = {0: varint(rng.choice(INTS)), 1: bytes(8), 2: b"\x03abc", 5: bytes(4)}.get(wire, b"")
    return tag(field.number, wire) + payload, f"{field.name}:wire{wire}"


def unknown_field(rng: random.Random) -> tuple[bytes, str]:
    """A field number no message has (or none may have: 0, and past the 29-bit range)."""
    number = rng.choice([99, 1000, 2**29 - 1, 19000, 0, 2**29])
    wire = rng.choice([0, 1, 2, 5])
    payload = {0: varint(2**64 - 1), 1: bytes(8), 2: b"\x05hello", 5: bytes(4)}[wire]
    return tag(number, wire) + payload, f"unknown#{number}:wire{wire}"


def oversized_repeated(rng: random.Random, desc: Descriptor) -> tuple[bytes, str]:
    """A repeated field (or, when none, a string) packed with up to ~1M values."""
    repeated = [f for f in desc.fields if f.is_repeated]
    count = rng.choice([1000, 65_537, 1_000_000])
    scalars = [f for f in repeated if f.type != FieldDescriptor.TYPE_MESSAGE]
    if not scalars:
        field = rng.choice(desc.fields)
        return length_delimited(field.number, b"y" * count), f"{field.name}=y*{count}"
    field = rng.choice(scalars)
    if field.type == FieldDescriptor.TYPE_FLOAT:
        unit = rng.choice(FLOAT32)
    elif field.type == FieldDescriptor.TYPE_DOUBLE:
        unit, count = rng.choice(FLOAT64), count // 2
    else:
        unit = varint(rng.choice([0, 1, 2**32 - 1]))
    return length_delimited(field.number, unit * count), f"{field.name}x{count}"


def mutate(rng: random.Random, base: bytes, desc: Descriptor) -> tuple[bytes, str]:
    """A valid body, or one mutation of it: noise, a cut, a flipped bit, or a field appended."""
    roll = rng.random()
    if roll < 0.30:
        return base, "valid"
    if roll < 0.36:
        return rng.randbytes(rng.choice([1, 7, 64, 2000])), "random_bytes"
    if roll < 0.42 and base:
        return base[: rng.randrange(len(base))], "truncated"
    if roll < 0.47 and base:
        i = rng.randrange(len(base))
        flipped = base[:i] + bytes([base[i] ^ 1 << rng.randrange(8)]) + base[i + 1 :]
        return flipped, f"bit_flip@{i}"
    if not desc.fields:  # nothing to mutate (HealthListRequest): a field it does not know
        extra, what = unknown_field(rng)
    elif roll < 0.72:
        extra, what = extreme_field(rng, desc)
    elif roll < 0.82:
        extra, what = hostile_string(rng, desc)
    elif roll < 0.90:
        extra, what = wrong_wire_type(rng, desc)
    elif roll < 0.96:
        extra, what = unknown_field(rng)
    else:
        extra, what = oversized_repeated(rng, desc)
    return base + extra, what
