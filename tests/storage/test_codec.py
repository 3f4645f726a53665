"""The record format: what encodes, and every way decoding refuses damaged bytes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import safetensors.numpy

from gatenet.server.storage import CorruptRecord, decode_record, encode_record
from gatenet_testing.storage_support import assert_same, make_record

ID = "0123456789abcdef0123456789abcdef"


def test_round_trip_is_plain_json_and_safetensors() -> None:
    record = make_record("or", seed=3)
    meta, blob = encode_record(record)
    doc = json.loads(meta)
    assert set(doc) == {"format", "model_id", "name", "created_at", "document"}
    assert doc["format"] == 1 and doc["name"] == "or"
    assert safetensors.numpy.load(blob).keys() == record.tensors.keys()
    assert_same(decode_record(record.meta.model_id, meta, blob), record)
    assert_same(decode_record(record.meta.model_id, meta.encode(), blob), record)


def _meta(**changes: object) -> str:
    doc = {"format": 1, "model_id": ID, "name": "", "created_at": 1.0, "document": {}}
    return json.dumps({**doc, **changes})


GOOD_TENSORS = safetensors.numpy.save({"w": np.ones(3, np.float32)})


@pytest.mark.parametrize(
    ("meta", "why"),
    [
        ("not json", "metadata is not JSON"),
        (b"\xff\xfe", "metadata is not JSON"),
        ("[1, 2]", "not a JSON object"),
        (_meta(format=2), "format 2 unknown"),
        (_meta(model_id="f" * 32), "another model id"),
        (_meta(name=None), "name is not a string"),
        (_meta(created_at="yesterday"), "created_at is not a number"),
        (_meta(created_at=True), "created_at is not a number"),
        (_meta(document=[]), "document is not a JSON object"),
        (_meta().replace("1.0", "NaN"), "NaN is not a finite number"),
    ],
)
def test_damaged_metadata_is_corrupt(meta: str | bytes, why: str) -> None:
    with pytest.raises(CorruptRecord, match=why) as caught:
        decode_record(ID, meta, GOOD_TENSORS)
    assert caught.value.model_id == ID


@pytest.mark.parametrize(
    ("tensors", "why"),
    [
        (b"", "not safetensors"),
        (GOOD_TENSORS[:-2], "not safetensors"),
        (safetensors.numpy.save({"w": np.ones(2, np.float64)}), "float64, not float32"),
        (safetensors.numpy.save({"w": np.array([np.inf], np.float32)}), "NaN or Inf"),
        (safetensors.numpy.save({"w": np.array([np.nan], np.float32)}), "NaN or Inf"),
    ],
)
def test_damaged_tensors_are_corrupt(tensors: bytes, why: str) -> None:
    with pytest.raises(CorruptRecord, match=why):
        decode_record(ID, _meta(), tensors)


def test_encoding_refuses_what_could_not_be_read_back() -> None:
    record = make_record()
    bad_id = type(record.meta)("ABC", "", 1.0, {})
    with pytest.raises(ValueError, match="not 32 lowercase hex"):
        encode_record(type(record)(bad_id, {}))
    odd = type(record.meta)(ID, "", 1.0, {"f": object()})
    with pytest.raises(ValueError, match="not plain finite JSON"):
        encode_record(type(record)(odd, {}))
