"""The run's scratch space: files under the temp folder, gone when the run ends.

Evaluation streams every finding here, into one ``FoundSet`` per query (``found_set.py``: merged per
subject, handed back in fingerprint order, the order the ledger is read in). When a query's listing
ends, ``seal_group`` closes its set and opens the next, so the set can be merged with the ledger while
the next query is read (``alerts/staged_merge.py``). The workspace also keeps what the notify stage
needs after the merge — the ledger entries due to some channel, and which channel is due what — so
nothing proportional to the number of violations or ledger entries is held in memory: memory is the
SQLite page caches and the write batches (docs/deployment.md, "Sizing").

It also counts what the run read: distinct records and distinct images (the summary's
``records_read`` and ``images``; a record two queries read is one record). Only an 8-byte hash of each
is kept (``HashTally``): in memory up to ``SEEN_IN_MEMORY`` of them, then in a file beside this one.
"""

from __future__ import annotations

import contextlib
import heapq
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path

import msgspec

from imagewatch.alerts.ledger import LedgerEntry
from imagewatch.found_set import FoundSet
from imagewatch.hash_tally import HashTally
from imagewatch.hss.model import Image
from imagewatch.scratch_db import open_scratch, transaction
from imagewatch.violation import Violation

SEEN_IN_MEMORY = 131_072  # hashes of one kind (records, images) held before compacting, then spilling: 1 MiB

_encode = msgspec.msgpack.Encoder().encode
_entry_decoder = msgspec.msgpack.Decoder(LedgerEntry)


class Workspace:
    """Findings, one ``FoundSet`` per group of policies; entries and due alerts for the notify stage.
    Use as a context manager: every file is deleted on exit, whatever happened.

    The bookkeeping connection may be used by another thread, one at a time: while a later query is
    read, a sealed group's merge (in a thread of its own) writes the entries and alerts it found due."""

    def __init__(self, directory: str | Path | None = None) -> None:
        self._directory = directory
        self._db, self.leftover = open_scratch(
            "imagewatch-run-",
            directory,
            """
            CREATE TABLE entries (fp TEXT PRIMARY KEY, data BLOB);
            CREATE TABLE due (channel TEXT, fp TEXT, kind TEXT, previous INTEGER,
                              PRIMARY KEY (channel, fp)) WITHOUT ROWID;
            CREATE TABLE folded (fp TEXT PRIMARY KEY, data BLOB);
            CREATE TABLE fold_sources (fp TEXT PRIMARY KEY) WITHOUT ROWID;
            """,
            shared=True,
        )
        self._sets: list[FoundSet] = []
        # each in a spill file of its own beside this one, should it outgrow SEEN_IN_MEMORY
        self._records = HashTally(SEEN_IN_MEMORY, directory)  # records read (Image.identity)
        self._images = HashTally(SEEN_IN_MEMORY, directory)  # images read (as subjects name them)
        self._current = self._new_set()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._records.close()
        self._images.close()
        for found in self._sets:
            found.close()
        with contextlib.suppress(sqlite3.Error):
            self._db.close()
        if self.leftover is not None:  # a platform where the open file could not be unlinked
            self.leftover.unlink(missing_ok=True)

    def _new_set(self) -> FoundSet:
        found = FoundSet(self._directory)
        self._sets.append(found)
        return found

    # -- findings -------------------------------------------------------------------------------

    def add(self, violation: Violation) -> None:
        """One finding, into the current group's set."""
        self._current.add(violation)

    def add_all(self, violations: Iterable[Violation]) -> None:
        for violation in violations:
            self._current.add(violation)

    def exempt(self, fp: str) -> None:
        """A subject an exemption let pass (its fingerprint): its ledger entry pauses, never resolves."""
        self._current.exempt(fp)

    def seal_group(self) -> FoundSet:
        """The current group's findings, sealed (its policies are judged: nothing more comes for them);
        later findings go to a new set."""
        sealed = self._current.seal()
        self._current = self._new_set()
        return sealed

    def last_group(self) -> FoundSet:
        """The current group's findings, sealed: once every query is read, the last group's."""
        return self._current.seal()

    def found_keyed(self) -> Iterator[tuple[str, Violation]]:
        """Every subject found, in every group, by fingerprint, beside its fingerprint (a policy's
        findings are in one group, so no fingerprint is in two)."""
        return heapq.merge(*(found.found_keyed() for found in self._sets), key=_first)

    def found(self) -> Iterator[Violation]:
        """``found_keyed`` without the fingerprints."""
        for _, violation in self.found_keyed():
            yield violation

    def exempted(self) -> Iterator[str]:
        """Every exempted fingerprint, in every group, ascending."""
        return heapq.merge(*(found.exempted() for found in self._sets))

    def count(self) -> int:
        """Subjects found, in every group."""
        return sum(found.count() for found in self._sets)

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

    def transaction(self) -> contextlib.AbstractContextManager[None]:
        """One transaction on the bookkeeping file (``scratch_db.transaction``)."""
        return transaction(self._db)

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


def _first(pair: tuple[str, Violation]) -> str:
    return pair[0]
