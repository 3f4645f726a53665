"""String options ("tanh", "online", ...) to and from the proto enums, read off the descriptors."""

from __future__ import annotations

from gatenet.v1 import gatenet_pb2 as pb

# Train option -> proto enum type. The names come from the enum descriptors, so a value added
# to the proto is accepted here without a client change.
ENUMS = {
    "activation": pb.Activation,
    "method": pb.Method,
    "loss": pb.Loss,
    "reduction": pb.Reduction,
    "optimizer": pb.Optimizer,
    "schedule": pb.Schedule,
    "init": pb.Init,
}


def _prefix(option: str) -> str:
    return ENUMS[option].DESCRIPTOR.values[0].name.removesuffix("UNSPECIFIED")


def choices(option: str) -> tuple[str, ...]:
    """The short lower-case names an option accepts, e.g. ("sigmoid", "tanh", "relu")."""
    prefix = _prefix(option)
    return tuple(
        v.name.removeprefix(prefix).lower()
        for v in ENUMS[option].DESCRIPTOR.values
        if v.number != 0
    )


def enum_value(option: str, name: str) -> int:
    """The enum number for a short name ("tanh"), its full name ("ACTIVATION_TANH") or an int."""
    if option not in ENUMS:
        raise ValueError(f"unknown option {option!r}; expected one of {', '.join(ENUMS)}")
    enum = ENUMS[option]
    if isinstance(name, int) and not isinstance(name, bool):
        if name in enum.values():
            return name
    elif isinstance(name, str):
        key = name.strip().upper().replace("-", "_")
        prefix = _prefix(option)
        full = key if key.startswith(prefix) else prefix + key
        if full in enum.keys() and not full.endswith("UNSPECIFIED"):
            return enum.Value(full)
    raise ValueError(f"{option}: {name!r} is not one of {', '.join(choices(option))}")


def enum_name(option: str, number: int) -> str:
    """The short name for an enum number ("tanh"); "" for UNSPECIFIED."""
    if number == 0:
        return ""
    full = ENUMS[option].Name(number)
    return full.removeprefix(_prefix(option)).lower()
