"""Train options' short names ("tanh", "online") to and from the proto's enums.

The names come from the enum descriptors (ACTIVATION_TANH is "tanh"), so a value added
to the proto is known on both sides without a change here.
"""

from __future__ import annotations

from gatenet.v1 import gatenet_pb2 as pb

# Train option -> its proto enum.
ENUMS = {
    "activation": pb.Activation,
    "method": pb.Method,
    "loss": pb.Loss,
    "reduction": pb.Reduction,
    "optimizer": pb.Optimizer,
    "schedule": pb.Schedule,
    "init": pb.Init,
}


def prefix(option: str) -> str:
    """The prefix of the option's value names, e.g. "ACTIVATION_"."""
    return ENUMS[option].DESCRIPTOR.values[0].name.removesuffix("UNSPECIFIED")


def choices(option: str) -> tuple[str, ...]:
    """The short names an option accepts, in the proto's order, e.g. ("sigmoid", "tanh", "relu")."""
    return tuple(short_name(option, v.name) for v in ENUMS[option].DESCRIPTOR.values[1:])


def short_name(option: str, full: str) -> str:
    """ "tanh" for "ACTIVATION_TANH" (a name as the proto3 JSON mapping writes it)."""
    return full.removeprefix(prefix(option)).lower()


def full_name(option: str, short: str) -> str:
    """ "ACTIVATION_TANH" for "tanh" (or "Tanh", or "ACTIVATION_TANH" itself)."""
    key = short.strip().upper().replace("-", "_")
    return key if key.startswith(prefix(option)) else prefix(option) + key


def enum_name(option: str, number: int) -> str:
    """The short name of an enum number; "" for 0 (unspecified); ValueError for an unknown one."""
    return "" if number == 0 else short_name(option, ENUMS[option].Name(number))


def enum_value(option: str, name: str | int) -> int:
    """The enum number for a short name ("tanh"), its full name ("ACTIVATION_TANH") or an int;
    ValueError naming the option and its choices for anything else."""
    if option not in ENUMS:
        raise ValueError(f"unknown option {option!r}; expected one of {', '.join(ENUMS)}")
    enum = ENUMS[option]
    if isinstance(name, int) and not isinstance(name, bool):
        if name in enum.values():
            return name
    elif isinstance(name, str):
        full = full_name(option, name)
        if full in enum.keys() and not full.endswith("UNSPECIFIED"):
            return int(enum.Value(full))
    raise ValueError(f"{option}: {name!r} is not one of {', '.join(choices(option))}")
