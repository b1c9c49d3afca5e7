"""``HashTally``: how many distinct values were seen, counted exactly in bounded memory.

Two stages need it on every run, at any inventory size: the listing (a record repeated far apart, with
``total_num`` unchanged, hides one that was not read: ``hss.paging``) and the run's counts of distinct
records and images over all its queries (``workspace``). Each value is kept as its 64-bit hash, in 256
arrays by the hash's low byte, so a count needs one bucket's set at a time. Past ``in_memory`` hashes
the arrays drop their repeats; if half the bound is still held, the hashes move to a temporary SQLite
file, which counts them with a disk-backed sort (``COUNT(DISTINCT)``). Python's string and tuple
hashes are 64-bit: a collision among 2,000,000 values has odds of about 1 in 10 million, and makes the
count one too low.
"""

from __future__ import annotations

import contextlib
import os
from array import array
from pathlib import Path
from typing import Any

BUCKETS = 256
IN_MEMORY = 262_144  # hashes held before compacting (2 MiB of arrays), then spilling


class HashTally:
    """``add(hash(value))`` for each value seen; ``distinct()`` and ``repeats()`` when done; ``close()``
    (or ``with``) drops the spill file, if one was needed."""

    __slots__ = ("_buckets", "_directory", "_held", "_in_memory", "_spill", "_spill_path", "added")

    def __init__(self, in_memory: int = IN_MEMORY, directory: str | Path | None = None) -> None:
        self._buckets = [array("q") for _ in range(BUCKETS)]
        self._held = 0
        self._in_memory = max(1, in_memory)
        self._directory = directory
        self._spill: Any = None  # a sqlite3 connection, once the hashes no longer fit
        self._spill_path: str | None = None
        self.added = 0  # values added, repeats included

    def __enter__(self) -> HashTally:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add(self, key: int) -> None:
        self._buckets[key & (BUCKETS - 1)].append(key)
        self._held += 1
        self.added += 1
        if self._held >= self._in_memory:
            self._compact()

    def distinct(self) -> int:
        """Distinct values added so far (the tally stays usable)."""
        if self._spill is None:
            return sum(len(set(bucket)) for bucket in self._buckets)
        self._move_to_spill()
        return int(self._spill.execute("SELECT COUNT(DISTINCT k) FROM h").fetchone()[0])

    def repeats(self) -> int:
        """How many values were added more than once (each extra copy counts one)."""
        return self.added - self.distinct()

    def close(self) -> None:
        """Drop the spill file, if there is one. Idempotent."""
        if self._spill is not None:
            self._spill.close()
            self._spill = None
        if self._spill_path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._spill_path)
            self._spill_path = None

    def _compact(self) -> None:
        """Drop the repeats held; spill when half the bound is still held (the values are mostly new)."""
        held = 0
        for index, bucket in enumerate(self._buckets):
            if len(bucket) > 1:
                bucket = self._buckets[index] = array("q", set(bucket))
            held += len(bucket)
        self._held = held
        if held >= self._in_memory // 2:
            self._move_to_spill()

    def _move_to_spill(self) -> None:
        if self._spill is None:
            from imagewatch.scratch_db import open_scratch

            self._spill, leftover = open_scratch(
                "imagewatch-hashes-", self._directory, "PRAGMA temp_store = FILE; CREATE TABLE h (k INTEGER)"
            )
            self._spill_path = None if leftover is None else str(leftover)
        self._spill.execute("BEGIN")
        for bucket in self._buckets:
            self._spill.executemany("INSERT INTO h VALUES (?)", ((key,) for key in bucket))
            del bucket[:]
        self._spill.execute("COMMIT")
        self._held = 0
