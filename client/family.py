"""TrainFamily on the client: the request, its progress events and the capacity table."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, TypedDict

from google.protobuf.json_format import MessageToDict

from gatenet.v1 import gatenet_pb2 as pb

from .messages import build_train_request

# Train keywords a family shares (its task, network and name are the family's own).
RECIPE_OPTIONS = (
    "activation learning_rate momentum loss reduction optimizer steps init seed early_stop"
    " margin restarts check_every initial_weights method schedule learning_rate_scale"
).split()


class FamilyOptions(TypedDict, total=False):
    """Keyword arguments of Client.train_family beside inputs and name."""

    tables: Sequence[str | Sequence[int]] | None
    hidden: int | None
    widths: tuple[int, int] | None
    classes: bool
    activation: str | None
    learning_rate: float | None
    momentum: float | None
    loss: str | None
    reduction: str | None
    optimizer: str | None
    steps: int | None
    init: str | None
    seed: int | None
    early_stop: bool | None
    margin: float | None
    restarts: int | None
    check_every: int | None
    method: str | None
    schedule: str | None
    learning_rate_scale: Mapping[str, float] | None


def _table(value: str | Sequence[int]) -> str:
    return value if isinstance(value, str) else ",".join(str(int(v)) for v in value)


def build_family_request(
    inputs: int,
    name: str,
    *,
    tables: Sequence[str | Sequence[int]] | None = None,
    hidden: int | None = None,
    widths: tuple[int, int] | None = None,
    classes: bool = False,
    **recipe: Any,
) -> pb.TrainFamilyRequest:
    """A TrainFamilyRequest; recipe keywords are Train's (None = the server default)."""
    unknown = sorted(set(recipe) - set(RECIPE_OPTIONS))
    if unknown:
        raise ValueError(f"{unknown[0]}: not a family option; known: {', '.join(RECIPE_OPTIONS)}")
    if hidden is not None and widths is not None:
        raise ValueError("give hidden or widths, not both")
    if inputs < 1:
        raise ValueError(f"inputs: {inputs} is below the minimum 1")
    # Train's builder checks the shared fields; its placeholder task is dropped again.
    shared = build_train_request(truth_table=[0, 0], **recipe)
    shared.ClearField("truth_table")
    request = pb.TrainFamilyRequest(
        name=name, inputs=inputs, tables=[_table(t) for t in tables or ()], classes=classes
    )
    request.recipe.CopyFrom(shared)
    if hidden is not None:
        request.hidden = hidden
    if widths is not None:
        request.width_min, request.width_max = widths
    return request


@dataclass(frozen=True)
class FamilyProgress:
    """A TrainFamily progress event: the width being tried and how far it got."""

    width: int
    settled: int
    pending: int
    fit: int
    trained: int

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        return asdict(self)


@dataclass(frozen=True)
class Member:
    """One function of a family: its table (bits in row order), smallest width and margin."""

    table: str
    width: int | None
    margin: float


@dataclass(frozen=True)
class Family:
    """A trained family: counts, the capacity table and every function's row."""

    family_id: str
    name: str
    inputs: int
    functions: int
    fit: int
    fit_by_width: dict[int, int]
    widths: list[int]
    classes: int
    seconds: float
    stopped_by: str
    recipe: dict[str, Any]
    created_at: float
    members: list[Member] = field(default_factory=list)

    @classmethod
    def from_proto(cls, info: pb.FamilyInfo) -> Family:
        """Build from a FamilyInfo message."""
        return cls(
            family_id=info.family_id,
            name=info.name,
            inputs=info.inputs,
            functions=info.functions,
            fit=info.fit,
            fit_by_width={int(w): int(c) for w, c in sorted(info.fit_by_width.items())},
            widths=list(info.widths),
            classes=info.classes,
            seconds=info.seconds,
            stopped_by=info.stopped_by,
            recipe=MessageToDict(info.recipe, preserving_proto_field_name=True),
            created_at=info.created_at,
            members=[
                Member(m.table, m.width if m.HasField("width") else None, m.margin)
                for m in info.members
            ],
        )

    def to_dict(self, members: bool = True) -> dict[str, Any]:
        """A JSON-ready dict; fit_by_width keys are strings ({"0": 104, ...})."""
        data = asdict(self)
        data["fit_by_width"] = {str(w): c for w, c in self.fit_by_width.items()}
        if not members:
            del data["members"]
        return data


def family_event(event: pb.FamilyEvent) -> FamilyProgress | Family:
    """A FamilyEvent as FamilyProgress or, for the last one, the Family."""
    if event.WhichOneof("event") == "family":
        return Family.from_proto(event.family)
    p = event.progress
    return FamilyProgress(p.width, p.settled, p.pending, p.fit, p.trained)
