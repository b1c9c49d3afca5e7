"""The allocator setting: glibc takes it once per process; elsewhere it is a no-op, never an error."""

from __future__ import annotations

import subprocess
import sys


def test_glibc_takes_the_mmap_threshold_and_a_second_call_is_free() -> None:
    code = (
        "import sys; sys.path[:0] = sys.argv[1:];"
        "from imagewatch import allocator;"
        "first = allocator.map_large_blocks(); second = allocator.map_large_blocks();"
        "print(first, second)"
    )
    done = subprocess.run([sys.executable, "-c", code, *sys.path], capture_output=True, text=True, check=True)
    first, second = done.stdout.split()
    if sys.platform.startswith("linux"):
        assert first == second  # glibc: True twice (set once); musl: False twice
    else:
        assert (first, second) == ("False", "False")


def test_a_listing_sets_it(monkeypatch) -> None:
    """Every run reads through ``HssClient.list_images``: that is where the setting is made."""
    from imagewatch import allocator
    from imagewatch.hss.auth import AkSkAuth
    from imagewatch.hss.client import HssClient

    calls: list[int] = []
    monkeypatch.setattr(allocator, "map_large_blocks", lambda: calls.append(1) or True)
    with HssClient("http://127.0.0.1:9", "p", AkSkAuth("ak", "sk", project_id="p")) as client:
        client.list_images()
    assert calls == [1]
