"""Store errors: stdlib only; each message is one line, safe to log and to send."""

from __future__ import annotations

ECHO_LIMIT = 40  # longest piece of client input a message repeats


def clip(value: str, limit: int = ECHO_LIMIT) -> str:
    """The value as repr, cut to limit characters so messages stay one short line."""
    text = value if len(value) <= limit else value[: limit - 1] + "…"
    return repr(text)


class StoreError(Exception):
    """Base of every store failure; str(err) is one line naming the store and the cause."""


class StoreUnavailable(StoreError):
    """The backend does not answer (down, unreachable, closed); retrying later may work."""

    def __init__(self, backend: str, address: str, reason: str) -> None:
        self.backend = backend
        self.address = address
        super().__init__(f"store: {backend} at {address} is unavailable ({reason}); retry later")


class StoreLocked(StoreError):
    """Another gatenet server holds the data directory (or sqlite file)."""

    def __init__(self, what: str, lock_file: str) -> None:
        self.lock_file = lock_file
        super().__init__(f"{what} is in use by another gatenet server (lock file {lock_file} held)")


class CorruptRecord(StoreError):
    """A stored record cannot be decoded; the rest of the store is still usable."""

    def __init__(self, model_id: str, why: str) -> None:
        self.model_id = model_id
        self.why = why
        super().__init__(f"model {clip(model_id)}: its stored record is unreadable ({why})")


class NameTaken(StoreError):
    """Another stored model already holds the name; nothing was written."""

    def __init__(self, name: str, holder: str) -> None:
        self.name = name
        self.holder = holder
        super().__init__(f"name {clip(name)} is already held by model {clip(holder)}")


class InvalidPageToken(StoreError):
    """A page token this store did not issue."""

    def __init__(self, token: str) -> None:
        self.token = token
        super().__init__(f"page_token: {clip(token)} is not a token this server issued")
