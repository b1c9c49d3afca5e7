"""The allocator settings: glibc takes them once per process; elsewhere they are a no-op, never an error."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest


def _in_fresh_process(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", "import sys; sys.path[:0] = sys.argv[1:];" + code, *sys.path],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def test_glibc_takes_the_settings_once_and_a_second_call_is_free() -> None:
    first, second = _in_fresh_process(
        "from imagewatch import allocator; print(allocator.configure(), allocator.configure())"
    ).split()
    if sys.platform.startswith("linux"):
        assert first == second  # glibc: True twice (set once); musl: False twice
    else:
        assert (first, second) == ("False", "False")


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc_trim")
def test_releasing_free_pages_lowers_the_resident_size_of_a_fragmented_heap() -> None:
    """Blocks under the mmap threshold, every other one kept: the freed half stays in the heap,
    resident, until the trim hands its whole pages back."""
    out = _in_fresh_process(
        "import os; from imagewatch import allocator;"
        "allocator.configure();"
        "rss = lambda: int(open('/proc/self/statm').read().split()[1]) * os.sysconf('SC_PAGE_SIZE');"
        "blocks = [bytearray(b'x' * 16384) for _ in range(4096)];"
        "kept = blocks[::2]; del blocks;"
        "before = rss(); allocator.release_free_pages(); after = rss();"
        "print(before, after, len(kept))"
    )
    before, after, _ = map(int, out.split())
    assert before - after > 16 * 1024 * 1024  # of the 32 MiB freed, most comes back


def test_a_listing_configures_the_allocator(monkeypatch) -> None:
    """A client used on its own (not through ``handle``) still reads with the settings in place."""
    from imagewatch import allocator
    from imagewatch.hss.auth import AkSkAuth
    from imagewatch.hss.client import HssClient

    calls: list[int] = []
    monkeypatch.setattr(allocator, "configure", lambda: calls.append(1) or True)
    with HssClient("http://127.0.0.1:9", "p", AkSkAuth("ak", "sk", project_id="p")) as client:
        client.list_images()
    assert calls == [1]


def test_a_run_configures_the_allocator_before_anything_else(monkeypatch) -> None:
    """``handle`` sets it before parsing the event: no worker thread can have allocated yet."""
    from imagewatch import allocator, handler
    from imagewatch.events import EventError

    calls: list[int] = []
    monkeypatch.setattr(allocator, "configure", lambda: calls.append(1) or True)
    with pytest.raises(EventError):
        handler.handle("not an event", {})
    assert calls == [1]
