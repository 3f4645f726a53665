"""ListModels on the wire: each model as listed; pages cut by bytes as well as by count, so
a page always fits one message.

A model trained on 4,096 x 64 examples lists at ~1 MB (its spec holds the rows), so four of
them would pass the 4 MiB default and fail the whole listing for every caller.
"""

from __future__ import annotations

from collections.abc import Sequence

from gatenet.server.models import document
from gatenet.server.models.document import StoredModel
from gatenet.v1 import gatenet_pb2 as pb
from gatenet.vocabulary import wire

# What a ListModelsResponse holds besides its models: next_page_token (a decimal sequence
# number) and total, with their tags.
_RESPONSE_OVERHEAD = 64


def budget(max_message_bytes: int) -> int:
    """Bytes of listed models one page may hold."""
    return max_message_bytes - _RESPONSE_OVERHEAD


def describe(metas: Sequence[StoredModel], known: dict[str, pb.ModelInfo]) -> list[pb.ModelInfo]:
    """The listed info of each meta; `known` keeps those already made (a page asked again)."""
    for meta in metas:
        if meta.model_id not in known:
            known[meta.model_id] = listed(meta)
    return [known[meta.model_id] for meta in metas]


def fitting(models: Sequence[pb.ModelInfo], budget: int) -> int:
    """How many of the first models fit budget bytes on the wire; at least one, so a listing
    always moves on (a single model over the limit is then refused by the size check)."""
    used = 0
    for count, info in enumerate(models):
        size = info.ByteSize()
        used += 1 + len(wire.varint(size)) + size  # field tag, length, message
        if used > budget:
            return max(count, 1)
    return len(models)


def listed(meta: StoredModel) -> pb.ModelInfo:
    """A ModelInfo as ListModels returns it: no loss curve, no initial weights; a damaged
    record's id, name, created_at and why."""
    if meta.damage:
        return pb.ModelInfo(
            model_id=meta.model_id, name=meta.name, created_at=meta.created_at, damage=meta.damage
        )
    info = document.model_info(meta)
    info.ClearField("loss_curve")
    info.spec.ClearField("initial_weights")
    return info
