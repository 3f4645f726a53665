"""Train on the wire: TrainStream's progress events (specs map in models/spec_codec.py)."""

from __future__ import annotations

import dataclasses

from gatenet.server.training.family.plan import FamilyProgress
from gatenet.server.training.spec import Progress
from gatenet.v1 import gatenet_pb2 as pb


def progress_event(progress: Progress) -> pb.TrainEvent:
    """A TrainStream progress event."""
    return pb.TrainEvent(progress=pb.TrainProgress(**dataclasses.asdict(progress)))


def family_event(progress: FamilyProgress) -> pb.FamilyEvent:
    """A TrainFamily progress event."""
    return pb.FamilyEvent(progress=pb.FamilyProgress(**dataclasses.asdict(progress)))
