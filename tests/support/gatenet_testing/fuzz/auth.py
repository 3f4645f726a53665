"""`authorization` headers for the fuzz, against a server with auth on, and what each may get.

Most calls carry the admin token as the README writes it, so they reach the handlers; the rest
carry a lesser role's token, a wrong or missing one, or an odd spelling. Header values stay
printable ASCII and under gRPC's 8 KB metadata limit: grpc refuses anything else in the client,
before the server sees it.
"""

from __future__ import annotations

import random

ROLES = ("read", "train", "admin")
TOKENS = {"read": "fuzz-r3ad", "train": "fuzz-tr4in", "admin": "fuzz-adm1n"}
TOKENS_FILE = "".join(f"{token} {role}\n" for role, token in TOKENS.items())
# Methods anyone may call (reflection is open unless --auth-reflection), and the role the others
# need (auth.py); the rest need "read".
OPEN = ("Health/", "Reflection/")
NEEDS = {"Train": "train", "TrainStream": "train", "ImportModel": "train", "DeleteModel": "admin"}
ADMIN = (("authorization", f"Bearer {TOKENS['admin']}"),)

Metadata = tuple[tuple[str, str | bytes], ...]


def _spellings(token: str) -> list[tuple[str, str]]:
    """(kind, header value) spellings of a valid token that a server may accept or refuse."""
    return [
        ("lowercase_scheme", f"bearer {token}"),
        ("uppercase_scheme", f"BEARER {token}"),
        ("two_spaces", f"Bearer  {token}"),
        ("trailing_space", f"Bearer {token} "),
        ("leading_space", f" Bearer {token}"),
    ]


def _bad(rng: random.Random) -> tuple[str, Metadata]:
    """A header no server may accept: missing, wrong, malformed, or another header's name."""
    admin = TOKENS["admin"]
    return rng.choice(
        [
            ("missing", ()),
            ("wrong_token", (("authorization", "Bearer fuzz-wrong"),)),
            ("token_prefix", (("authorization", f"Bearer {admin[:-1]}"),)),
            ("token_twice", (("authorization", f"Bearer {admin}{admin}"),)),
            ("token_case", (("authorization", f"Bearer {admin.upper()}"),)),
            ("bare_token", (("authorization", admin),)),
            ("basic_scheme", (("authorization", f"Basic {admin}"),)),
            ("scheme_only", (("authorization", "Bearer"),)),
            ("empty_token", (("authorization", "Bearer "),)),
            ("empty", (("authorization", ""),)),
            ("extra_word", (("authorization", f"Bearer {admin} extra"),)),
            ("long_token", (("authorization", "Bearer " + "x" * 4000),)),
            ("odd_chars", (("authorization", "Bearer %00{}'\"\\;,=~"),)),
            ("binary_header", (("authorization-bin", f"Bearer {admin}".encode()),)),
            ("other_header", (("x-authorization", f"Bearer {admin}"),)),
        ]
    )


def authorization(rng: random.Random) -> tuple[str, Metadata]:
    """(kind, metadata) of one call: mostly admin; else a role, a bad header or a spelling."""
    roll = rng.random()
    if roll < 0.75:
        return "admin", ADMIN
    if roll < 0.80:
        return "read", (("authorization", f"Bearer {TOKENS['read']}"),)
    if roll < 0.84:
        return "train", (("authorization", f"Bearer {TOKENS['train']}"),)
    if roll < 0.94:
        kind, metadata = _bad(rng)
        return f"bad:{kind}", metadata
    if roll < 0.97:  # two headers (RFC 9110 allows one): either answer, never INTERNAL
        pair = [("authorization", "Bearer fuzz-wrong"), *ADMIN]
        rng.shuffle(pair)
        return "odd:two_headers", tuple(pair)
    kind, value = rng.choice(_spellings(TOKENS["admin"]))
    return f"odd:{kind}", (("authorization", value),)


# What a call that auth must stop may still get: the refusal, or an answer given before auth
# runs (a method nobody serves; a message over gRPC's size limit).
_BEFORE_AUTH = ("UNIMPLEMENTED", "RESOURCE_EXHAUSTED")


def finding(auth: str, label: str, code: str) -> str:
    """What is wrong with this answer given the header ("" when nothing is)."""
    if not auth or label.startswith(OPEN) or auth.startswith("odd:"):
        return ""
    needed = NEEDS.get(label, "read")
    if auth.startswith("bad:"):
        if code not in ("UNAUTHENTICATED", *_BEFORE_AUTH):
            return f"auth: {auth} reached {label}, which answered {code}"
        return ""
    allowed = ROLES.index(auth) >= ROLES.index(needed)
    if allowed and code in ("UNAUTHENTICATED", "PERMISSION_DENIED"):
        return f"auth: a valid {auth} token got {code} on {label}"
    if not allowed and code not in ("PERMISSION_DENIED", *_BEFORE_AUTH):
        return f"auth: role {auth} reached {label} (it needs {needed}), which answered {code}"
    return ""
