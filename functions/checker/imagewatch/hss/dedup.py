"""De-duplication of records across neighbouring pages, whatever order the pages arrive in.

Offsets shift when HSS inserts records before the read position between two requests, so a record at
the end of page k shows up again at the start of page k+1 (docs/hss.md). Pages are read concurrently
and complete in any order, so a page is compared with the pages up to ``span`` before *and after* it
that were already seen: whichever of two copies arrives first is kept, the other dropped.

Only identities are kept, and a page's set is dropped as soon as every page within ``span`` of it has
been seen: memory follows the pages in flight, never the inventory.
"""

from __future__ import annotations

import contextlib
import os
from array import array
from typing import Any

from imagewatch.hss.model import Image

HASH_BUCKETS = 256


class DedupWindow:
    """Identity sets of recent pages, keyed by page index (0 = the listing's first page)."""

    def __init__(self, span: int = 2) -> None:
        if span < 1:
            raise ValueError(f"dedup span: got {span!r}, expected ≥ 1")
        self.span = span
        self._seen: dict[int, set[str]] = {}
        self._floor = 0  # every page below this index has been seen
        self._above: set[int] = set()  # pages seen at or above the floor

    def __len__(self) -> int:
        """Pages whose identities are still held."""
        return len(self._seen)

    def keep(self, index: int, images: list[Image]) -> tuple[list[Image], int]:
        """The images of page ``index`` not seen in it or its neighbours, and how many were dropped."""
        if index < self._floor or index in self._above:
            raise ValueError(f"page {index} was already de-duplicated")
        neighbours = [
            seen for j in range(index - self.span, index + self.span + 1) if (seen := self._seen.get(j))
        ]
        current: set[str] = set()
        kept: list[Image] = []
        for image in images:
            identity = image.identity
            if identity in current or any(identity in seen for seen in neighbours):
                continue
            current.add(identity)
            kept.append(image)
        self._seen[index] = current
        self._mark_seen(index)
        self._forget()
        return kept, len(images) - len(kept)

    def _mark_seen(self, index: int) -> None:
        self._above.add(index)
        while self._floor in self._above:
            self._above.discard(self._floor)
            self._floor += 1

    def _done(self, index: int) -> bool:
        return index < self._floor or index in self._above

    def _forget(self) -> None:
        """Drop the sets no page still to come can need."""
        span = self.span
        for index in [i for i in self._seen if all(self._done(j) for j in range(i - span, i + span + 1))]:
            del self._seen[index]


class IdentityTally:
    """Every identity a listing kept, as an 8-byte hash: finds the repeats ``DedupWindow`` cannot see
    (more than its span apart), without keeping the identities.

    A hostile or broken server can repeat records far apart (pages that ignore the offset); with
    ``total_num`` unchanged, each repeat hides a record that was not read. Up to ``in_memory`` hashes
    (2 MiB) are kept in 256 arrays by their low byte, so the count needs one bucket's set at a time;
    past that they spill to a temporary SQLite file, which counts them with a disk-backed sort: memory
    stays bounded at any inventory size (docs/hss.md). Python's string hash is 64-bit: a collision
    among 2,000,000 identities has odds of about 1 in 10 million, and would only make a read look
    incomplete (nothing resolves), never complete.
    """

    def __init__(self, in_memory: int = 262_144) -> None:
        self._buckets = [array("q") for _ in range(HASH_BUCKETS)]
        self._held = 0
        self._in_memory = in_memory
        self._spill: Any = None  # a sqlite3 connection, once the hashes no longer fit
        self._spill_path: str | None = None

    def add(self, identity: str) -> None:
        key = hash(identity)
        self._buckets[key & (HASH_BUCKETS - 1)].append(key)
        self._held += 1
        if self._held >= self._in_memory:
            self._flush()

    def _flush(self) -> None:
        """Move the held hashes to the spill file (opened on first use)."""
        if self._spill is None:
            import sqlite3
            import tempfile

            handle, self._spill_path = tempfile.mkstemp(prefix="imagewatch-ids-", suffix=".sqlite3")
            os.close(handle)
            self._spill = sqlite3.connect(self._spill_path, isolation_level=None)
            self._spill.executescript(
                "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA temp_store = FILE;"
                " CREATE TABLE h (k INTEGER)"
            )
        self._spill.execute("BEGIN")
        for bucket in self._buckets:
            self._spill.executemany("INSERT INTO h VALUES (?)", ((key,) for key in bucket))
            del bucket[:]
        self._spill.execute("COMMIT")
        self._held = 0

    def repeats(self) -> int:
        """How many identities were added more than once (each extra copy counts one)."""
        if self._spill is None:
            return sum(len(bucket) - len(set(bucket)) for bucket in self._buckets)
        try:
            self._flush()
            total, distinct = self._spill.execute("SELECT COUNT(*), COUNT(DISTINCT k) FROM h").fetchone()
            return int(total - distinct)
        finally:
            self.close()

    def close(self) -> None:
        """Drop the spill file, if there is one."""
        if self._spill is not None:
            self._spill.close()
            self._spill = None
        if self._spill_path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._spill_path)
            self._spill_path = None
