"""The process's allocator, set for a run that streams pages through worker threads (glibc only).

The heap in use stays under ~18 MiB during a run (``mallinfo2``), yet peak RSS grew with the number
of pages read — 126 MiB at 1,000,000 records on a compliant fleet, 73 at 100,000 — because glibc kept
freed memory it could not hand back: in use stayed flat while free grew by the page. Three causes:

- **Page bodies under the mmap threshold.** A page of 200 records is ~120 KB of compact JSON. glibc
  serves blocks under its threshold (128 KiB at start, raised dynamically as mapped blocks are freed)
  from the heap, where they fragment it. ``M_MMAP_THRESHOLD`` fixed at 64 KiB (which also stops the
  dynamic growth) makes every body its own mapping, returned whole when freed.
- **One arena per worker thread.** A page is decoded in an ``hss-page`` thread, which allocates from
  an arena of its own; the main thread frees those blocks later, back into that arena, where they
  stay stranded between the thread's newer blocks. ``M_ARENA_MAX`` = 1 keeps every thread in the main
  arena; under the GIL the threads seldom allocate at once, so the shared lock costs nothing seen.
- **Free pages inside the heap.** What remains fragmented is returned by ``malloc_trim`` every
  ``TRIM_EVERY_PAGES`` pages (``release_free_pages``), which gives back whole free pages anywhere in
  the heap, not only at its top.

Figures before and after are in docs/deployment.md. ``configure`` must run before the worker threads
first allocate (a thread's arena is chosen then); ``handle`` calls it first, the client again.
"""

from __future__ import annotations

import sys
from typing import Any

MMAP_THRESHOLD = 64 * 1024
ARENA_MAX = 1
TRIM_EVERY_PAGES = 25  # 5,000 records: a trim takes ~2 ms, 25 pages ~0.3 s of reading (measured: 0.5%)
_M_MMAP_THRESHOLD, _M_ARENA_MAX = -3, -8  # glibc's mallopt parameter numbers
_libc: Any = None
_configured: bool | None = None  # None until tried


def configure() -> bool:
    """Fix the mmap threshold and the arena count once per process; True when glibc took both
    (elsewhere, or on musl, which has no such settings: False, and nothing to do)."""
    global _configured
    if _configured is None:
        libc = _glibc()
        _configured = libc is not None and bool(
            libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) and libc.mallopt(_M_ARENA_MAX, ARENA_MAX)
        )
    return _configured


def release_free_pages() -> None:
    """Give the heap's free pages back to the system (glibc's ``malloc_trim``; elsewhere nothing)."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


def _glibc() -> Any:
    """glibc's functions through ctypes, loaded once; None off Linux or where they are missing."""
    global _libc
    if _libc is None:
        _libc = False
        if sys.platform.startswith("linux"):
            try:
                import ctypes

                libc = ctypes.CDLL(None)
                libc.mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
                libc.malloc_trim.argtypes = (ctypes.c_size_t,)
                _libc = libc
            except (OSError, AttributeError):
                pass
    return _libc or None
