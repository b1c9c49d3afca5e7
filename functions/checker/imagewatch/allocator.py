"""Large blocks straight back to the system: glibc's mmap threshold fixed at 64 KiB.

An HSS page of 200 records is ~120 KB of compact JSON. glibc serves blocks under its mmap threshold
(128 KiB at start, raised dynamically as mmapped blocks are freed) from the heap, where a stream of
page bodies interleaved with the run's longer-lived allocations fragments it: peak RSS grew with the
number of pages read — 133 MiB instead of 66 at 300,000 records when the emulator answered compact
JSON, 260 MiB at 1,000,000 — though Python itself never held more than ~12 MiB (tracemalloc). With
the threshold fixed (which also stops its dynamic growth), every body is its own mapping, returned
whole when freed; an mmap per page costs microseconds against a page's milliseconds. The same as
``MALLOC_MMAP_THRESHOLD_=65536`` in the environment, which only takes effect at process start.
"""

from __future__ import annotations

import sys

MMAP_THRESHOLD = 64 * 1024
_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number
_done = False


def map_large_blocks() -> bool:
    """Fix the mmap threshold once per process; True when glibc took it (elsewhere: nothing to do)."""
    global _done
    if _done or not sys.platform.startswith("linux"):
        return _done
    _done = True
    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt  # glibc; musl's returns 0 (unsupported), harmless
        mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
        return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))
    except (OSError, AttributeError):
        return False
