"""glibc malloc tuned so a big request's buffers reuse memory the last one freed.

By default glibc maps each block over 128 KiB (raised on the fly to the largest
freed one) fresh from the kernel and gives freed memory back when over ~2x that
sits free at the top of a heap. A 4 MB Predict body then lands in new pages, and
every 4 KiB page faults on first touch: ~4 µs each on this VM, so each 4 MB copy
(gRPC's receive, the decode) held the event loop ~4 ms. Blocks up to 32 MiB
now come from the heap, and up to 64 MiB of freed memory stays mapped for reuse.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger("gatenet.server")

_M_TRIM_THRESHOLD = -1  # mallopt parameters, from glibc's malloc.h
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's ceiling on 64-bit (half its 64 MiB heap)
TRIM_THRESHOLD = 64 * 1024 * 1024  # freed bytes kept mapped at a heap's top


def reuse_freed_memory() -> bool:
    """Set glibc's thresholds (fixed, no longer adjusted on the fly); False off glibc."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
    except OSError:
        return False
    # Only glibc has gnu_get_libc_version; musl's mallopt does nothing, macOS has none.
    if not hasattr(libc, "gnu_get_libc_version") or not hasattr(libc, "mallopt"):
        return False
    done = libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
    done = libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1 and done
    if not done:
        log.warning("mallopt refused the malloc thresholds; big Predicts may slow other calls")
    return done
