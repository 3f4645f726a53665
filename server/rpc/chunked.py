"""Messages past the message limit, as a stream of chunks of their serialized bytes.

GetWeightsChunked and ImportModelChunked carry what GetWeights and ImportModel do, for models
and files of any size the limits allow: a 1-1024-970-1 model's safetensors file and tensors
are ~8 MB, its weights JSON ~21 MB. Every chunk stays far below --max-message-bytes, so the
server's per-message limit (and its memory bound for the other methods) stays as it is.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from gatenet.server.errors import InvalidArgument, ResourceExhausted
from gatenet.v1 import gatenet_pb2 as pb

CHUNK_BYTES = 1 << 20  # at most this much a chunk (less when --max-message-bytes is smaller)
# The most a chunked request may add up to: the weights JSON of a model of --max-parameters
# (1M) values with as many initial weights in its spec is ~45 MB; what a model file can hold.
MAX_REQUEST_BYTES = 64 << 20


def split(data: bytes, max_message_bytes: int) -> Iterator[pb.Chunk]:
    """data as chunks that each fit a message; always at least one."""
    size = max(1, min(CHUNK_BYTES, max_message_bytes // 2))
    for start in range(0, max(len(data), 1), size):
        yield pb.Chunk(data=data[start : start + size])


async def joined(chunks: AsyncIterator[pb.Chunk], limit: int = MAX_REQUEST_BYTES) -> bytes:
    """The bytes a stream of chunks carries; RESOURCE_EXHAUSTED once they pass limit."""
    parts: list[bytes] = []
    total = 0
    async for chunk in chunks:
        total += len(chunk.data)
        if total > limit:
            raise ResourceExhausted(f"request: chunks add up to more than the limit {limit} bytes")
        parts.append(chunk.data)
    return b"".join(parts)


def parse(message_type: Any, data: bytes) -> Any:
    """The message the chunks carried; INVALID_ARGUMENT when they do not make one."""
    try:
        return message_type.FromString(data)
    except Exception:  # noqa: BLE001 - protobuf raises DecodeError and others
        name = message_type.DESCRIPTOR.full_name
        raise InvalidArgument("request", f"the chunks are not a valid {name}") from None
