"""gRPC core's own log lines, held back while the server binds its port.

gRPC's C core logs a failed bind to file descriptor 2 before Python hears of it, so a taken
port printed core lines ahead of gatenet's one-line error. Around the bind, fd 2 goes to a
spool: on success the lines are written out as they came, on failure the caller reads the
reason from them and prints its own line instead. GRPC_VERBOSITY is read only at import, so
it cannot be set here; a user who set it (or GRPC_TRACE) asked for gRPC's logs: they are
written out in every case.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
import tempfile
from collections.abc import Iterator

_ASKED = ("GRPC_VERBOSITY", "GRPC_TRACE")
# What a failed bind can say, as the words of our own line.
_REASONS = {
    os.strerror(errno.EADDRINUSE): "address in use",
    os.strerror(errno.EADDRNOTAVAIL): "no such address on this machine",
    os.strerror(errno.EACCES): "permission denied",
}


class Held:
    """What gRPC core wrote while held back."""

    def __init__(self) -> None:
        self.text = ""
        self._written = False

    def reason(self) -> str:
        """A short reason for a failed bind, from the core's words ("" when none is known)."""
        return next((ours for theirs, ours in _REASONS.items() if theirs in self.text), "")

    def release(self) -> None:
        """Write the held lines out as they came (nothing hidden when all went well)."""
        if self.text and not self._written:
            sys.stderr.write(self.text)
            sys.stderr.flush()
        self._written = True


@contextlib.contextmanager
def held_back() -> Iterator[Held]:
    """Send fd 2 to a spool for the block; the Held has the text afterwards."""
    held = Held()
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as spool:
        os.dup2(spool.fileno(), 2)
        try:
            yield held
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            spool.seek(0)
            held.text = spool.read().decode(errors="replace")
            if any(name in os.environ for name in _ASKED):
                held.release()
