"""The run's scratch space: a SQLite file under the temp folder, gone when the run ends.

A run can find a violation on every one of a million records, and an image rule's violation is one
per image, however many hosts carry it (``Violation.kind == "image"``). Evaluation streams every
finding here; the workspace merges the findings of one subject (the first record's rendering, plus
the set of hosts) and hands them back **in fingerprint order**, the order the ledger is read in, so
reconciling is a merge of two sorted streams. It also keeps what the notify stage needs after the
merge — the ledger entries due to some channel, and which channel is due what — so nothing
proportional to the number of violations or ledger entries is held in memory: memory is the SQLite
page cache and the write batch (docs/deployment.md, "Sizing").

It also counts what the run read: distinct records and distinct images (the summary's
``records_read`` and ``images``; a record two queries read is one record). Only an 8-byte hash of each
is kept (``HashTally``): in memory up to ``SEEN_IN_MEMORY`` of them, then in a file beside this one.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path

import msgspec

from imagewatch.alerts.ledger import LedgerEntry
from imagewatch.hash_tally import HashTally
from imagewatch.hss.model import Image
from imagewatch.scratch_db import open_scratch
from imagewatch.violation import SEVERITY_ORDER, Violation

BATCH = 2_000  # findings buffered before one executemany
HOST_NAMES_SHOWN = 3  # "nginx:1.25 on 6 hosts (ecs-a, ecs-b, ecs-c, …)"
CACHE_KIB = 2_048  # SQLite's page cache for this file (its default): reads are in key order
SEEN_IN_MEMORY = 131_072  # hashes of one kind (records, images) held before compacting, then spilling: 1 MiB

_FOUND_BY_FINGERPRINT = "SELECT fp, data FROM found ORDER BY fp"
_FOUND_WORST_FIRST = "SELECT fp, data FROM found ORDER BY rank, policy_id, subject, fp"
# per image fingerprint and host: its name (the host's id when it has none); by fingerprint, then host
_HOST_NAMES = "SELECT fp, name FROM hosts ORDER BY fp, host"
_HOST_NAMES_OF_ONE = "SELECT fp, name FROM hosts WHERE fp = ? ORDER BY host"
# a host met again under one image keeps its least name (the same whatever order records come in)
_ADD_HOST = (
    "INSERT INTO hosts VALUES (?, ?, ?) ON CONFLICT (fp, host) DO UPDATE SET name = min(name, excluded.name)"
)

_violation_encoder = msgspec.msgpack.Encoder()
_violation_decoder = msgspec.msgpack.Decoder(Violation)
_entry_decoder = msgspec.msgpack.Decoder(LedgerEntry)


class Workspace:
    """Findings merged per subject, ordered by fingerprint; entries and due alerts for the notify
    stage. Use as a context manager: the file is deleted on exit, whatever happened."""

    def __init__(self, directory: str | Path | None = None) -> None:
        self._db, self.leftover = open_scratch(
            "imagewatch-run-",
            directory,
            f"""
            PRAGMA temp_store = FILE;
            PRAGMA cache_size = -{CACHE_KIB};
            CREATE TABLE found (fp TEXT PRIMARY KEY, rank INTEGER, policy_id TEXT, subject TEXT, data BLOB);
            CREATE TABLE hosts (fp TEXT, host TEXT, name TEXT, PRIMARY KEY (fp, host)) WITHOUT ROWID;
            CREATE TABLE entries (fp TEXT PRIMARY KEY, data BLOB);
            CREATE TABLE due (channel TEXT, fp TEXT, kind TEXT, previous INTEGER,
                              PRIMARY KEY (channel, fp)) WITHOUT ROWID;
            CREATE TABLE folded (fp TEXT PRIMARY KEY, data BLOB);
            CREATE TABLE fold_sources (fp TEXT PRIMARY KEY) WITHOUT ROWID;
            CREATE TABLE exempted (fp TEXT PRIMARY KEY) WITHOUT ROWID;
            """,
        )
        # each in a spill file of its own beside this one, should it outgrow SEEN_IN_MEMORY
        self._records = HashTally(SEEN_IN_MEMORY, directory)  # records read (Image.identity)
        self._images = HashTally(SEEN_IN_MEMORY, directory)  # images read (as subjects name them)
        self._found: list[tuple[str, int, str, str, bytes]] = []
        self._hosts: list[tuple[str, str, str]] = []
        self._exempted: list[tuple[str]] = []  # subjects an exemption let pass (SLA clocks pause)
        self._seen: set[str] = set()  # fingerprints already buffered or written (bounded below)
        self._sealed = False

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._records.close()
        self._images.close()
        with contextlib.suppress(sqlite3.Error):
            self._db.close()
        if self.leftover is not None:  # a platform where the open file could not be unlinked
            self.leftover.unlink(missing_ok=True)

    # -- findings -------------------------------------------------------------------------------

    def add(self, violation: Violation) -> None:
        """One finding. The first finding of a fingerprint is its rendering; an image's later findings
        add their host."""
        if self._sealed:
            raise RuntimeError("workspace: findings are read already; nothing more can be added")
        fp = violation.fingerprint
        if fp not in self._seen:
            if len(self._seen) >= 50_000:  # a cache, not a record: INSERT OR IGNORE is the truth
                self._seen.clear()
            self._seen.add(fp)
            rank = SEVERITY_ORDER.get(violation.severity, 99)
            self._found.append((fp, rank, violation.policy_id, violation.subject, _encode(violation)))
        if violation.kind == "image":
            self._hosts.append((fp, violation.host, violation.host_name or violation.host))
        if len(self._found) + len(self._hosts) >= BATCH:
            self._flush()

    def exempt(self, fp: str) -> None:
        """A subject an exemption let pass (its fingerprint): its ledger entry pauses, never resolves."""
        self._exempted.append((fp,))
        if len(self._exempted) >= BATCH:
            self._flush()

    def exempted(self) -> Iterator[str]:
        """Every exempted fingerprint once, ascending (the ledger's order)."""
        self._seal()
        for (fp,) in self._db.execute("SELECT fp FROM exempted ORDER BY fp"):
            yield fp

    def saw(self, image: Image, *, record: bool = True) -> None:
        """One record read, by whichever query: its image (and, unless ``record`` is false, the record
        itself: ``Image.identity``) counted once however often it is read."""
        image_id = image.image_id
        self._images.add(hash(image_id or (image.image_name, image.image_version, image.image_digest)))
        if record:
            name = image_id or image.image_digest or (image.image_name or "", image.image_version or "")
            self._records.add(hash((name, image.host_id)))

    def saw_image(self, image: Image) -> None:
        """``saw`` for the image alone: when the run knows its distinct records otherwise."""
        self.saw(image, record=False)

    def read_counts(self) -> tuple[int, int]:
        """(distinct records, distinct images) seen so far."""
        return self._records.distinct(), self._images.distinct()

    def add_all(self, violations: Iterable[Violation]) -> None:
        for violation in violations:
            self.add(violation)

    def _flush(self) -> None:
        """Write the buffered findings in one transaction: a subject's first finding is kept (its
        rendering; the file holds each subject once, however many hosts repeat it), and each image
        finding's host once per subject, kept in (fingerprint, host) order as it is written (a table
        clustered on that key), so reading the hosts back is one pass with no sort: at 100,000 records
        that took ~0.3 s off the merge after the read (an index built at the end, then a GROUP BY)."""
        with self.transaction():
            if self._found:
                self._db.executemany("INSERT OR IGNORE INTO found VALUES (?, ?, ?, ?, ?)", self._found)
                self._found.clear()
            if self._exempted:
                self._db.executemany("INSERT OR IGNORE INTO exempted VALUES (?)", self._exempted)
                self._exempted.clear()
            if self._hosts:
                self._db.executemany(_ADD_HOST, self._hosts)
                self._hosts.clear()

    def _seal(self) -> None:
        """Every finding is in: write the last batch; nothing more may be added."""
        if self._sealed:
            return
        self._flush()
        self._sealed = True

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """One transaction for a batch: row by row, each insert would be its own (~80 µs instead of ~2)."""
        self._db.execute("BEGIN")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def found(self, *, worst_first: bool = False) -> Iterator[Violation]:
        """Every subject found, once: by fingerprint (the ledger's order), or worst first. Image
        subjects carry their host count and a few host names, and say them in their label."""
        for _, violation in self.found_keyed(worst_first=worst_first):
            yield violation

    def found_keyed(self, *, worst_first: bool = False) -> Iterator[tuple[str, Violation]]:
        """``found`` with each fingerprint beside its violation (hashed once, when it was added)."""
        self._seal()
        query = _FOUND_WORST_FIRST if worst_first else _FOUND_BY_FINGERPRINT
        hosts = (
            _SortedLookup(_hosts_by_fingerprint(self._db.execute(_HOST_NAMES))) if not worst_first else None
        )
        for fp, data in self._db.execute(query):  # one row per subject: its first finding, its rendering
            violation = _violation_decoder.decode(data)
            if violation.kind == "image":
                count, shown = hosts.get(fp) if hosts is not None else self._hosts_of(fp)
                violation = aggregated(violation, count, shown)
            yield fp, violation

    def _hosts_of(self, fp: str) -> tuple[int, tuple[str, ...]]:
        for _, count, shown in _hosts_by_fingerprint(self._db.execute(_HOST_NAMES_OF_ONE, (fp,))):
            return count, shown
        return 0, ()

    def count(self) -> int:
        """Subjects found (the merge counts them by severity as it reads them: ``Merged``)."""
        self._seal()
        return int(self._db.execute("SELECT COUNT(*) FROM found").fetchone()[0])

    # -- the notify stage's bookkeeping ---------------------------------------------------------

    def keep_entries(self, entries: Iterable[LedgerEntry]) -> None:
        """Entries the notify stage will mark (replacing earlier copies)."""
        with self.transaction():
            self._db.executemany(
                "INSERT OR REPLACE INTO entries VALUES (?, ?)",
                ((entry.fingerprint, _encode(entry)) for entry in entries),
            )

    def entry(self, fp: str) -> LedgerEntry:
        row = self._db.execute("SELECT data FROM entries WHERE fp = ?", (fp,)).fetchone()
        if row is None:
            raise KeyError(fp)
        return _entry_decoder.decode(row[0])

    def entries(self) -> Iterator[LedgerEntry]:
        """Every kept entry, by fingerprint."""
        for (data,) in self._db.execute("SELECT data FROM entries ORDER BY fp"):
            yield _entry_decoder.decode(data)

    def note_due(self, rows: Iterable[tuple[str, str, str]]) -> None:
        """(channel, fingerprint, kind) of alerts due this run."""
        with self.transaction():
            self._db.executemany("INSERT OR REPLACE INTO due VALUES (?, ?, ?, NULL)", rows)

    def note_previous(self, channel: str, previous: Mapping[str, int | None]) -> None:
        """Each alert's mark before this send (``attempted_at``), to put back if the platform refuses."""
        with self.transaction():
            self._db.executemany(
                "UPDATE due SET previous = ? WHERE channel = ? AND fp = ?",
                ((mark, channel, fp) for fp, mark in previous.items()),
            )

    def due(self, channel: str) -> Iterator[tuple[str, str, int | None]]:
        """(fingerprint, kind, previous mark) of what ``channel`` is due, by fingerprint; read in pages
        so entries can be rewritten while it is walked."""
        after = ""
        while True:
            page = self._db.execute(
                "SELECT fp, kind, previous FROM due WHERE channel = ? AND fp > ? ORDER BY fp LIMIT 1000",
                (channel, after),
            ).fetchall()
            if not page:
                return
            yield from page
            after = page[-1][0]

    # -- folding ledger entries into others (the one-time adoption of record entries) ---------------

    def fold(
        self, entry: LedgerEntry, source: str, merge: Callable[[LedgerEntry, LedgerEntry], LedgerEntry]
    ) -> None:
        """Keep ``entry`` under its fingerprint, merged with what was folded there before; remember
        ``source`` (the fingerprint it came from)."""
        row = self._db.execute("SELECT data FROM folded WHERE fp = ?", (entry.fingerprint,)).fetchone()
        if row is not None:
            entry = merge(_entry_decoder.decode(row[0]), entry)
        self._db.execute("INSERT OR REPLACE INTO folded VALUES (?, ?)", (entry.fingerprint, _encode(entry)))
        self._db.execute("INSERT OR IGNORE INTO fold_sources VALUES (?)", (source,))

    def folded(self) -> Iterator[LedgerEntry]:
        for (data,) in self._db.execute("SELECT data FROM folded ORDER BY fp"):
            yield _entry_decoder.decode(data)

    def fold_sources(self) -> Iterator[str]:
        for (fp,) in self._db.execute("SELECT fp FROM fold_sources ORDER BY fp"):
            yield fp

    def folded_sources(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM fold_sources").fetchone()[0])


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


def _encode(value: Violation | LedgerEntry) -> bytes:
    return _violation_encoder.encode(value)
