"""Messages past the server's message limit, sent or read as chunks of their bytes.

The server's GetWeightsChunked and ImportModelChunked carry a serialized GetWeightsResponse
or ImportModelRequest cut into Chunk messages, for models and files of any size the
limits allow (the unary calls answer only what fits one message, 4 MiB by default).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from gatenet.v1 import gatenet_pb2 as pb

from .results import Weights

# A chunk's bytes: below the --max-message-bytes of any server that should take model files
# (4 MiB by default); 84 chunks for the 21 MB JSON of a 1M-parameter model.
CHUNK_BYTES = 256 * 1024
# Import files up to this size go as one ImportModel call, larger ones in chunks (the
# server's default message limit is 4 MiB; a smaller limit is met with a retry in chunks).
UNARY_MAX_BYTES = 3 << 20


def split(message: Any) -> list[pb.Chunk]:
    """message's serialized bytes as chunks (at least one)."""
    data = message.SerializeToString()
    return [
        pb.Chunk(data=data[i : i + CHUNK_BYTES]) for i in range(0, max(len(data), 1), CHUNK_BYTES)
    ]


def weights_result(chunks: Iterable[pb.Chunk]) -> Weights:
    """The weights GetWeightsChunked sent: a GetWeightsResponse in chunks."""
    data = b"".join(chunk.data for chunk in chunks)
    return Weights.from_proto(pb.GetWeightsResponse.FromString(data))
