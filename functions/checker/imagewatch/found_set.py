"""What some policies found, merged per subject in a scratch SQLite file and read back in fingerprint
order.

A run can find a violation on every one of a million records, and an image rule's violation is one
per image, however many hosts carry it (``Violation.kind == "image"``). Evaluation streams every
finding into a set; the set keeps the first finding of each subject (its rendering) plus the subject's
hosts, and hands the subjects back **in fingerprint order**, the order the ledger is read in, so
reconciling is a merge of two sorted streams. Memory is the SQLite page cache and the write batch.

A run keeps one set per query (``Workspace.seal_group``): once a query's listing has ended, its
policies' set is final and can be merged with the ledger by another thread while the next query is
read (``alerts/staged_merge.py``). The connection may therefore be used by another thread, one at a
time: the reader adds until the set is sealed, the merger reads after.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path

import msgspec

from imagewatch.scratch_db import open_scratch, transaction
from imagewatch.violation import Violation

BATCH = 2_000  # findings buffered before one executemany
HOST_NAMES_SHOWN = 3  # "nginx:1.25 on 6 hosts (ecs-a, ecs-b, ecs-c, …)"
CACHE_KIB = 2_048  # SQLite's page cache for this file (its default): reads are in key order
SEEN_CACHE = 50_000  # fingerprints remembered as written (a cache: INSERT OR IGNORE is the truth)

_FOUND_BY_FINGERPRINT = "SELECT fp, data FROM found ORDER BY fp"
# per image fingerprint and host: its name (the host's id when it has none); by fingerprint, then host
_HOST_NAMES = "SELECT fp, name FROM hosts ORDER BY fp, host"
# a host met again under one image keeps its least name (the same whatever order records come in)
_ADD_HOST = (
    "INSERT INTO hosts VALUES (?, ?, ?) ON CONFLICT (fp, host) DO UPDATE SET name = min(name, excluded.name)"
)

_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(Violation).decode


class FoundSet:
    """Findings merged per subject, ordered by fingerprint, and the subjects an exemption let pass.
    ``add`` until ``seal`` (reading seals it); ``close`` drops the file (it is never visible)."""

    def __init__(self, directory: str | Path | None = None) -> None:
        self._db, self.leftover = open_scratch(
            "imagewatch-found-",
            directory,
            f"""
            PRAGMA temp_store = FILE;
            PRAGMA cache_size = -{CACHE_KIB};
            CREATE TABLE found (fp TEXT PRIMARY KEY, data BLOB);
            CREATE TABLE hosts (fp TEXT, host TEXT, name TEXT, PRIMARY KEY (fp, host)) WITHOUT ROWID;
            CREATE TABLE exempted (fp TEXT PRIMARY KEY) WITHOUT ROWID;
            """,
            shared=True,
        )
        self._found: list[tuple[str, bytes]] = []
        self._hosts: list[tuple[str, str, str]] = []
        self._exempted: list[tuple[str]] = []  # subjects an exemption let pass (SLA clocks pause)
        self._seen: set[str] = set()  # fingerprints already buffered or written (bounded: SEEN_CACHE)
        self._sealed = False

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._db.close()
        if self.leftover is not None:  # a platform where the open file could not be unlinked
            self.leftover.unlink(missing_ok=True)

    def add(self, violation: Violation) -> None:
        """One finding. The first finding of a fingerprint is its rendering; an image's later findings
        add their host."""
        if self._sealed:
            raise RuntimeError("workspace: findings are read already; nothing more can be added")
        fp = violation.fingerprint
        if fp not in self._seen:
            if len(self._seen) >= SEEN_CACHE:
                self._seen.clear()
            self._seen.add(fp)
            self._found.append((fp, _encode(violation)))
        if violation.kind == "image":
            self._hosts.append((fp, violation.host, violation.host_name or violation.host))
        if len(self._found) + len(self._hosts) >= BATCH:
            self.flush()

    def exempt(self, fp: str) -> None:
        """A subject an exemption let pass (its fingerprint): its ledger entry pauses, never resolves."""
        self._exempted.append((fp,))
        if len(self._exempted) >= BATCH:
            self.flush()

    def flush(self) -> None:
        """Write the buffered findings in one transaction: a subject's first finding is kept (its
        rendering; the file holds each subject once, however many hosts repeat it), and each image
        finding's host once per subject, kept in (fingerprint, host) order as it is written (a table
        clustered on that key), so reading the hosts back is one pass with no sort: at 100,000 records
        that took ~0.3 s off the merge after the read (an index built at the end, then a GROUP BY)."""
        with transaction(self._db):
            if self._found:
                self._db.executemany("INSERT OR IGNORE INTO found VALUES (?, ?)", self._found)
                self._found.clear()
            if self._exempted:
                self._db.executemany("INSERT OR IGNORE INTO exempted VALUES (?)", self._exempted)
                self._exempted.clear()
            if self._hosts:
                self._db.executemany(_ADD_HOST, self._hosts)
                self._hosts.clear()

    def seal(self) -> FoundSet:
        """Every finding is in: write the last batch; nothing more may be added."""
        if not self._sealed:
            self.flush()
            self._sealed = True
            self._seen = set()  # only ``add`` needs it: up to SEEN_CACHE fingerprints (~5 MB) let go
        return self

    def found_keyed(self) -> Iterator[tuple[str, Violation]]:
        """Every subject found, once, by fingerprint (the ledger's order), beside its fingerprint (hashed
        once, when it was added). Image subjects carry their host count and a few host names, and say
        them in their label."""
        self.seal()
        hosts = _SortedLookup(_hosts_by_fingerprint(self._db.execute(_HOST_NAMES)))
        for fp, data in self._db.execute(_FOUND_BY_FINGERPRINT):  # one row per subject: its rendering
            violation = _decode(data)
            if violation.kind == "image":
                violation = aggregated(violation, *hosts.get(fp))
            yield fp, violation
        # read whole (a merge): its page cache (up to CACHE_KIB) is given back while later queries are
        # read and merged; a later read (Security Hub's) fills it again
        self._db.execute("PRAGMA shrink_memory")

    def exempted(self) -> Iterator[str]:
        """Every exempted fingerprint once, ascending (the ledger's order)."""
        self.seal()
        for (fp,) in self._db.execute("SELECT fp FROM exempted ORDER BY fp"):
            yield fp

    def count(self) -> int:
        """Subjects found."""
        self.seal()
        return int(self._db.execute("SELECT COUNT(*) FROM found").fetchone()[0])


class _SortedLookup:
    """Rows ``(fp, count, names)`` ascending by fp, looked up in the same ascending order."""

    def __init__(self, rows: Iterable[tuple[str, int, tuple[str, ...]]]) -> None:
        self._rows = iter(rows)
        self._row = next(self._rows, None)

    def get(self, fp: str) -> tuple[int, tuple[str, ...]]:
        while self._row is not None and self._row[0] < fp:
            self._row = next(self._rows, None)
        if self._row is not None and self._row[0] == fp:
            return self._row[1], self._row[2]
        return 0, ()


def _hosts_by_fingerprint(rows: Iterable[tuple[str, str]]) -> Iterator[tuple[str, int, tuple[str, ...]]]:
    """(fingerprint, distinct hosts, the first ``HOST_NAMES_SHOWN`` of their names sorted) from
    (fingerprint, host name) rows, one per distinct host, grouped by fingerprint. Grouped here rather
    than by a second ``GROUP BY`` in SQL: that sorted every name again (~0.05 s at 100,000 records);
    memory is the few names shown."""
    current, count, shown = None, 0, []
    for fp, name in rows:
        if fp != current:
            if current is not None:
                yield current, count, tuple(sorted(shown))
            current, count, shown = fp, 0, []
        count += 1
        if len(shown) < HOST_NAMES_SHOWN:
            shown.append(name)
        elif name < max(shown):
            shown[shown.index(max(shown))] = name
    if current is not None:
        yield current, count, tuple(sorted(shown))


def aggregated(violation: Violation, hosts: int, names: tuple[str, ...]) -> Violation:
    """An image violation with its hosts counted: ``nginx:1.25 on 6 hosts (ecs-a, ecs-b, ecs-c, …)``."""
    shown = ", ".join(names) + (", …" if hosts > len(names) else "")
    where = f"{hosts} host{'s' if hosts != 1 else ''}" + (f" ({shown})" if shown else "")
    return msgspec.structs.replace(
        violation, label=f"{violation.label} on {where}", hosts=hosts, host_names=names
    )
