"""The protobuf wire format's building blocks, for the hand-written encoders and the fuzzer."""

from __future__ import annotations

VARINT, FIXED64, LENGTH, FIXED32 = 0, 1, 2, 5  # wire types


def varint(n: int) -> bytes:
    """n as a base-128 varint; a negative n as its 64-bit two's complement (10 bytes)."""
    if n < 0:
        n += 1 << 64  # as protobuf writes int32/int64 -1
    out = bytearray()
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def tag(number: int, wire_type: int) -> bytes:
    """A field's key: its number and wire type."""
    return varint(number << 3 | wire_type)


def length_delimited(number: int, payload: bytes) -> bytes:
    """A length-delimited field (string, bytes, message, packed repeated) holding payload."""
    return tag(number, LENGTH) + varint(len(payload)) + payload
