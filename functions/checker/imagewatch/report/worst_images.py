"""``WorstImages``: the images with the worst open violations, counted exactly in bounded memory.

An image here is what a person rebuilds: its name and version as violations name it (``nginx:1.25``
of ``nginx:1.25 on 6 hosts (…)`` or ``nginx:1.25 on ecs-a``), so every build of a tag and every host
it runs on add up. Worst means most critical violations, then most high, ..., then the most hosts
one of its violations spans.

An image's violations reach the report in fingerprint order (a hash of policy and subject), query by
query, scattered over the whole run, so no image's totals are final before the last row: a heap of the
best so far cannot work. Each image is kept as a small list of counts (about 200 bytes with its name);
past ``in_memory`` images the lists are appended to a temporary SQLite file and the dict starts again
empty, so memory stays bounded whatever the fleet, and the ranking is one ``GROUP BY`` (the sums of an
image's pieces) ``ORDER BY ... LIMIT`` there. The 100,000-record benchmark fleet names about 11,000
images: it never touches the disk.
"""

from __future__ import annotations

import contextlib
import heapq
import sqlite3
from collections.abc import Iterable
from typing import Any

from msgspec import Struct

from imagewatch.scratch_db import transaction
from imagewatch.violation import SEVERITIES

IN_MEMORY = 32_768  # images held before spilling (about 6 MiB)
SHOWN = 10
_RANKS = len(SEVERITIES)
_HOSTS = _RANKS  # index of the widest host count in a held list, after the counts


class ImageScore(Struct, frozen=True):
    """One image's open violations per severity (worst first), and the most hosts one of them spans."""

    name: str
    counts: tuple[int, ...]  # in ``SEVERITIES`` order
    hosts: int

    @property
    def total(self) -> int:
        return sum(self.counts)


def image_name(label: str) -> str:
    """``nginx:1.25`` of ``nginx:1.25 on 6 hosts (a, b, …)`` or ``nginx:1.25 on ecs-a``."""
    return label.partition(" on ")[0] or label


def _rank_key(item: tuple[str, list[int]]) -> tuple[Any, ...]:
    """Most critical first, then high, ..., then most hosts; a tie by name (as ``top``'s SQL)."""
    return (*(-n for n in item[1]), item[0])


class WorstImages:
    """``add`` each open violation; ``top()`` when done; ``close()`` drops the spill file, if any."""

    def __init__(self, in_memory: int | None = None) -> None:
        self._held: dict[str, list[int]] = {}  # image name -> [count per severity rank ..., hosts]
        self._in_memory = max(1, IN_MEMORY if in_memory is None else in_memory)
        self._db: sqlite3.Connection | None = None

    def add(self, label: str, rank: int, hosts: int) -> None:
        """One open violation of severity ``rank`` (0 = critical) labelled ``label``, on ``hosts``."""
        name = label.partition(" on ")[0]
        counts = self._held.get(name)
        if counts is None:
            counts = self._held[name] = [0] * _RANKS + [hosts]
            if len(self._held) >= self._in_memory:
                counts[rank] += 1
                self._spill()
                return
        elif hosts > counts[_HOSTS]:
            counts[_HOSTS] = hosts
        counts[rank] += 1

    def top(self, count: int = SHOWN) -> list[ImageScore]:
        """The ``count`` worst images, worst first."""
        if self._db is None:
            held = heapq.nsmallest(count, self._held.items(), key=_rank_key)
            best: Iterable[Any] = [(name, *counts) for name, counts in held]
        else:
            self._spill()
            sums = ", ".join(f"SUM(c{rank}) AS s{rank}" for rank in range(_RANKS))
            order = ", ".join(f"s{rank} DESC" for rank in range(_RANKS))
            best = self._db.execute(
                f"SELECT name, {sums}, MAX(hosts) AS most FROM images"  # noqa: S608 (our names only)
                f" GROUP BY name ORDER BY {order}, most DESC, name LIMIT ?",
                (count,),
            )
        return [ImageScore(row[0] or "?", tuple(row[1 : _RANKS + 1]), row[_RANKS + 1]) for row in best]

    def _spill(self) -> None:
        """Append the held images to the SQLite file (summed per image by ``top``), and start again."""
        if self._db is None:
            counts = " INTEGER, ".join(f"c{rank}" for rank in range(_RANKS))
            # "": a temporary file, deleted on close. Any thread: the run's merge feeds this from a
            # thread of its own for each query but the last, then from the run's thread (one at a time)
            self._db = sqlite3.connect("", isolation_level=None, check_same_thread=False)
            self._db.executescript(
                "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;"
                f"CREATE TABLE images (name TEXT, {counts} INTEGER, hosts INTEGER);"
            )
        insert = f"INSERT INTO images VALUES (?, {', '.join('?' * (_RANKS + 1))})"  # noqa: S608
        with transaction(self._db):
            self._db.executemany(insert, ((name, *counts) for name, counts in self._held.items()))
        self._held.clear()

    def close(self) -> None:
        self._held.clear()
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = None
