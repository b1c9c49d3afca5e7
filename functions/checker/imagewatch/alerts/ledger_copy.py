"""The target's ledger, copied to a scratch file while HSS is read, so the merge reads it locally.

Reading the ledger is a Query page per 1 MB in DynamoDB (a round trip each) or pages of SQLite rows,
and decoding every entry: about 0.3 s of CPU for 50,000 entries before a steady run can say anything.
A run spends most of its HSS read waiting for pages, so a thread of its own copies the ledger
meanwhile; the merge then reads it back in fingerprint order from the copy (msgpack, decoded in C).

The copy is taken under the run's lease, after the one-time adoption of record entries (the last
write before the merge), so it is what the merge would have read. A read error is raised where the
merge meets it — after the entries read before it — as reading the store directly would. Memory is
one batch; the file is never visible (``scratch_db``) and goes with ``close``, which also stops the
thread (a run cut short waits at most for the store call in flight).
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterable, Iterator

import msgspec

from imagewatch.alerts.ledger import LedgerEntry
from imagewatch.scratch_db import open_scratch, transaction

BATCH = 500  # entries per insert (a SQLite store's page; a DynamoDB page holds up to ~2,000 small ones)

_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(LedgerEntry).decode


class LedgerCopy:
    """``start(store.scan(target))``, then ``entries()`` once the read is done (or one policy group's
    entries once its query is read, ``entries(only=…)``, and the rest at the end, ``entries(besides=…)``);
    ``close()`` (or ``with``). ``entries`` may be called from another thread than ``start``, one at a
    time."""

    def __init__(self) -> None:
        table = "CREATE TABLE ledger (fp TEXT PRIMARY KEY, policy TEXT, data BLOB) WITHOUT ROWID;"
        self._db, self._leftover = open_scratch("imagewatch-ledger-", script=table, shared=True)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self.copied = 0

    def __enter__(self) -> LedgerCopy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self, entries: Iterable[LedgerEntry]) -> None:
        """Copy ``entries`` (ascending by fingerprint, as ``StateStore.scan`` yields them) in a thread."""
        if self._thread is not None:
            raise RuntimeError("ledger copy: started already")
        self._thread = threading.Thread(target=self._copy, args=(entries,), name="ledger-copy", daemon=True)
        self._thread.start()

    def _copy(self, entries: Iterable[LedgerEntry]) -> None:
        batch: list[tuple[str, str, bytes]] = []
        try:
            for entry in entries:
                batch.append((entry.fingerprint, entry.policy_id, _encode(entry)))
                if len(batch) >= BATCH:
                    self._insert(batch)
                    if self._stop.is_set():
                        return
            self._insert(batch)
        except BaseException as exc:  # the merge raises it, after the entries copied before it
            self._insert(batch)
            self._error = exc

    def _insert(self, batch: list[tuple[str, str, bytes]]) -> None:
        if batch:
            with transaction(self._db):
                self._db.executemany("INSERT INTO ledger VALUES (?, ?, ?)", batch)
            self.copied += len(batch)
            batch.clear()

    def entries(
        self, *, only: Collection[str] | None = None, besides: Collection[str] = ()
    ) -> Iterator[LedgerEntry]:
        """Every entry copied (of the policies in ``only``, if given; of none in ``besides``), ascending
        by fingerprint; then the store's read error, if there was one."""
        if self._thread is None:
            raise RuntimeError("ledger copy: never started")
        self._thread.join()
        wanted = None if only is None else frozenset(only)
        unwanted = frozenset(besides)
        after = ""
        while True:  # in pages: the merge writes to the store, never to this file, but keep no cursor open
            page = self._db.execute(
                "SELECT fp, policy, data FROM ledger WHERE fp > ? ORDER BY fp LIMIT 1000", (after,)
            ).fetchall()
            for _, policy, data in page:
                if (wanted is None or policy in wanted) and policy not in unwanted:
                    yield _decode(data)
            if len(page) < 1000:
                break
            after = page[-1][0]
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        """Stop the copy (at its next batch), wait for it, drop the file. Idempotent."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._db.close()
        if self._leftover is not None:
            self._leftover.unlink(missing_ok=True)
            self._leftover = None
