"""What a store holds: a model's metadata and its tensors, both immutable."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# A record check the models layer supplies: raises ValueError saying what is wrong with the
# document (and the tensors, when they were read), else returns the document as it parsed
# it, kept in ModelMeta.parsed so nothing parses it twice. The store knows no format.
Validator = Callable[["ModelMeta", Mapping[str, np.ndarray] | None], Any]


@dataclass(frozen=True, slots=True)
class ModelMeta:
    """Everything about a model except its tensors; the document is opaque to the store."""

    model_id: str  # 32 lowercase hex characters, immutable
    name: str  # "" when unnamed; unique among stored models
    created_at: float  # unix seconds
    document: Mapping[str, Any]  # JSON-serialisable; its layout is the models layer's
    # Set only on the meta of a record that does not read back, as listing or deleting it
    # rebuilds it from the index: why (its document is then empty).
    damage: str = ""
    # The validator's parse of the document, when one checked it on reading.
    parsed: Any = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class EncodedRecord:
    """A record already in its stored form, for a writer that encoded it as it was built
    (a trained model's: plane/train.py): put() writes it as it is."""

    meta: ModelMeta
    meta_text: str  # what codec.encode_meta writes for meta
    tensors: bytes  # what codec.encode_tensors writes
    checksum: str  # checksum.record_checksum of the two


# eq=False: == over a mapping of numpy arrays would raise, so records compare by identity.
@dataclass(frozen=True, slots=True, eq=False)
class ModelRecord:
    """A model as stored: its metadata and its float32 tensors by name."""

    meta: ModelMeta
    tensors: Mapping[str, np.ndarray]
