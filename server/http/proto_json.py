"""proto3 JSON in and out (google.protobuf.json_format), with errors that name the field.

json_format does the mapping: lowerCamel names out, either spelling in, 64-bit integers as
strings, enums by name or number, bytes as base64 (long float arrays: float_arrays.py).
Its errors read like
`Failed to parse network field: Failed to parse hidden_sizes field: Value out of range: -1.`
and repeat the client's value whole, so a body that fails is walked once more against the
descriptor to find the first bad field and say what it wants:
`network.hiddenSizes[0]: want an integer from 0 to 4294967295, got -1`.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from google.protobuf import json_format, message_factory
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from gatenet.server import json_text
from gatenet.server.errors import InvalidArgument, clip
from gatenet.server.http import float_arrays

M = TypeVar("M", bound=Message)
# Descriptors are typed Any below: the stubs type their links Optional, the upb runtime differs.
_F = FieldDescriptor
_ANY_NUMBER = 'a number, or "NaN", "Infinity", "-Infinity"'
_WANTS = {
    _F.CPPTYPE_INT32: "an integer from -2147483648 to 2147483647",
    _F.CPPTYPE_UINT32: "an integer from 0 to 4294967295",
    _F.CPPTYPE_INT64: "an integer from -9223372036854775808 to 9223372036854775807"
    " (a number or a string of digits)",
    _F.CPPTYPE_UINT64: "an integer from 0 to 18446744073709551615 (a number or a string of digits)",
    _F.CPPTYPE_FLOAT: f"{_ANY_NUMBER} (a float: within +-3.4e38)",
    _F.CPPTYPE_DOUBLE: _ANY_NUMBER,
    _F.CPPTYPE_BOOL: "true or false",
}


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object, refused when it gives a key twice (json would keep the last silently)."""
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise InvalidArgument(clip(key), "given twice in one object")
            seen.add(key)
    return out


def _constant(name: str) -> float:
    raise InvalidArgument("body", f'{name} is not JSON; write the string "{name}"')


_DECODER = json.JSONDecoder(object_pairs_hook=_unique, parse_constant=_constant)
_SLOW_DECODER = json_text.decoder(object_pairs_hook=_unique, parse_constant=_constant)


def parse(body: bytes, cls: type[M], large: bool = False) -> M:
    """The `cls` message a JSON body holds (empty = every field unset). InvalidArgument names
    the field; `large` reads it the slower way that lets the event loop run (offload.py)."""
    if not body.strip():
        return cls()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidArgument("body", f"not UTF-8 text (byte {exc.start})") from None
    try:
        js = (_SLOW_DECODER if large else _DECODER).decode(text)
    except json.JSONDecodeError as exc:
        raise InvalidArgument(
            "body", f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise InvalidArgument("body", "JSON nested too deeply") from None
    message = cls()
    try:
        # Long float arrays go in through numpy; json_format reads the rest.
        rest = float_arrays.prefill(js, message) if isinstance(js, dict) else js
        json_format.ParseDict(rest, message)
    except Exception:  # noqa: BLE001 - ParseError mostly; the walk below says what was wrong
        raise _diagnosis(js, cls.DESCRIPTOR) from None
    return message


def dumps(message: Message, large: bool = False) -> bytes:
    """The message as compact proto3 JSON text, UTF-8; `large` writes it a slice at a time."""
    js = float_arrays.to_dict(message)
    if large:
        return json_text.dumps(js).encode()
    return json.dumps(js, separators=(",", ":")).encode()


def _diagnosis(js: Any, descriptor: Any) -> InvalidArgument:
    """What is wrong with a JSON value json_format would not read as a `descriptor` message."""
    found = _object_problem(js, descriptor, "")
    return found or InvalidArgument("body", f"does not read as a {descriptor.full_name}")


def _object_problem(js: Any, descriptor: Any, path: str) -> InvalidArgument | None:
    if not isinstance(js, dict):
        return InvalidArgument(
            path or "body", f"want a JSON object (a {descriptor.full_name}), got {_kind(js)}"
        )
    fields = {**descriptor.fields_by_name, **{f.json_name: f for f in descriptor.fields}}
    given: dict[str, str] = {}  # field or real oneof name -> the key that set it
    for key, value in js.items():
        here = f"{path}.{key}" if path else key
        field = fields.get(key)
        if field is None:
            names = ", ".join(f.json_name for f in descriptor.fields)
            return InvalidArgument(
                clip(here), f"no such field in {descriptor.full_name}; its fields: {names}"
            )
        oneof = field.containing_oneof
        for slot in (field.name, oneof.name if oneof and len(oneof.fields) > 1 else None):
            if slot is not None and value is not None:
                if slot in given:
                    return InvalidArgument(
                        here, f"{given[slot]} is given too; {_one_of(field, slot)}"
                    )
                given[slot] = key
        if value is not None:
            found = _field_problem(field, value, here)
            if found:
                return found
    return None


def _one_of(field: Any, slot: str) -> str:
    if slot == field.name:
        return "give a field once, by either name"
    assert field.containing_oneof is not None
    names = ", ".join(f.json_name for f in field.containing_oneof.fields)
    return f"at most one of {names} ({slot})"


def _field_problem(field: Any, value: Any, here: str) -> InvalidArgument | None:
    if not field.is_repeated:
        if field.cpp_type == _F.CPPTYPE_MESSAGE:
            return _object_problem(value, field.message_type, here)
        return None if _reads(field, value) else _scalar_problem(field, value, here)
    if not isinstance(value, list):
        return InvalidArgument(here, f"want a JSON array, got {_kind(value)}")
    if field.cpp_type == _F.CPPTYPE_MESSAGE:
        for index, item in enumerate(value):
            found = _object_problem(item, field.message_type, f"{here}[{index}]")
            if found:
                return found
        return None
    bad = _first_bad(field, value)
    return None if bad is None else _scalar_problem(field, value[bad], f"{here}[{bad}]")


def _first_bad(field: Any, items: list[Any]) -> int | None:
    """The index of the first item json_format refuses: a bisection, ~2 reads of the list."""
    if _reads(field, items):
        return None
    low, high = 0, len(items)  # items[low:high] holds a bad one
    while high - low > 1:
        middle = (low + high) // 2
        if _reads(field, items[low:middle]):
            low = middle
        else:
            high = middle
    return low


def _reads(field: Any, value: Any) -> bool:
    """Whether json_format reads `value` as this one field."""
    scratch = message_factory.GetMessageClass(field.containing_type)()
    try:
        json_format.ParseDict({field.json_name: value}, scratch)
    except Exception:  # noqa: BLE001 - any refusal is a no
        return False
    return True


def _scalar_problem(field: Any, value: Any, here: str) -> InvalidArgument:
    if value is None:
        return InvalidArgument(here, "null is not allowed in an array")
    if field.cpp_type == _F.CPPTYPE_ENUM:
        names = ", ".join(v.name for v in field.enum_type.values)
        want = f"one of {names} (or its number)"
    elif field.cpp_type == _F.CPPTYPE_STRING:
        want = "base64 text" if field.type == _F.TYPE_BYTES else "a string"
    else:
        want = _WANTS.get(field.cpp_type, f"a {field.cpp_type} value")
    return InvalidArgument(here, f"want {want}, got {clip(json.dumps(value))}")


def _kind(value: Any) -> str:
    kinds = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "a number"
    return kinds.get(type(value), type(value).__name__)
