"""Long arrays of floats in proto3 JSON, read and written by numpy rather than value by value.

json_format converts each value of a repeated float in Python (~1.5 us to read one, ~3 us to
write one: it searches for the shortest decimal that reads back to the same float32), so a
1,024-row Predict spent most of its time there. Here the arrays a body holds go straight into
the message, and the float32s an answer holds are written as numpy's shortest decimals. Only
what json_format would read the same way is taken: plain finite numbers in range, in an object
json_format would accept; anything else is left to it (and to its errors).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

MIN_VALUES = 64  # shorter arrays: json_format's own loop costs about the same
_FLOAT, _DOUBLE, _MESSAGE = (
    FieldDescriptor.CPPTYPE_FLOAT,
    FieldDescriptor.CPPTYPE_DOUBLE,
    FieldDescriptor.CPPTYPE_MESSAGE,
)
_FLOAT_MAX = float(np.finfo(np.float32).max)
_NUMBERS = (int, float)  # not bool: json_format refuses true for a float


@functools.cache
def _fields(descriptor: Any) -> dict[str, Any]:
    """A message's fields by either JSON spelling."""
    return {**descriptor.fields_by_name, **{f.json_name: f for f in descriptor.fields}}


def prefill(js: dict[str, Any], message: Message) -> dict[str, Any]:
    """Put the long float arrays of `js` into `message` and return the rest of `js` (a copy
    where anything was taken) for json_format.ParseDict to read into the same message."""
    fields = _fields(message.DESCRIPTOR)
    given: set[str] = set()
    for key, value in js.items():  # what json_format refuses is left for it to refuse
        field = fields.get(key)
        if field is None:
            return js
        oneof = field.containing_oneof
        for slot in (field.name, oneof.name if oneof and len(oneof.fields) > 1 else None):
            if slot is not None and value is not None:
                if slot in given:
                    return js
                given.add(slot)
    rest: dict[str, Any] | None = None
    for key, value in js.items():
        field = fields[key]
        if field.is_repeated:
            if field.cpp_type in (_FLOAT, _DOUBLE) and isinstance(value, list):
                values = _readable(value, field.cpp_type == _FLOAT)
                if values is not None:
                    getattr(message, field.name).extend(values)
                    rest = dict(js) if rest is None else rest
                    del rest[key]
        elif field.cpp_type == _MESSAGE and isinstance(value, dict):
            # ParseDict merges into a singular sub-message (a repeated one it clears first).
            inner = prefill(value, getattr(message, field.name))
            if inner is not value:
                rest = dict(js) if rest is None else rest
                rest[key] = inner
    return js if rest is None else rest


def _readable(values: list[Any], single: bool) -> list[float] | None:
    """The values as floats, when json_format would read each the same way; else None."""
    if len(values) < MIN_VALUES or not all(type(v) in _NUMBERS for v in values):
        return None
    try:
        array = np.array(values, dtype=np.float64)
    except OverflowError:  # an integer past float64
        return None
    if not np.isfinite(array).all() or (single and (np.abs(array) > _FLOAT_MAX).any()):
        return None
    return list(array.tolist())


def to_dict(message: Message) -> dict[str, Any]:
    """json_format.MessageToDict(message), its long top-level float arrays written by numpy."""
    long = [
        f
        for f in message.DESCRIPTOR.fields
        if f.is_repeated and f.cpp_type == _FLOAT and len(getattr(message, f.name)) >= MIN_VALUES
    ]
    if not long:
        return json_format.MessageToDict(message)
    arrays = {f.json_name: _shortest(getattr(message, f.name)) for f in long}
    if any(values is None for values in arrays.values()):  # NaN or infinity: json_format's way
        return json_format.MessageToDict(message)
    rest = type(message)()
    rest.CopyFrom(message)
    for field in long:
        rest.ClearField(field.name)
    js = json_format.MessageToDict(rest) | arrays
    order = {f.json_name: f.number for f in message.DESCRIPTOR.fields}
    return dict(sorted(js.items(), key=lambda item: order[item[0]]))


def _shortest(values: Any) -> list[float] | None:
    """float32 values as the shortest decimals that read back to each (numpy's Dragon4)."""
    array = np.fromiter(values, dtype=np.float32, count=len(values))
    if not np.isfinite(array).all():
        return None
    return list(array.astype(str).astype(np.float64).tolist())
