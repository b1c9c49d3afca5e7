"""The alert ledger in one SQLite file: the embedded default for a laptop, the demo and the tests."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path

from imagewatch.alerts.ledger import LedgerEntry
from imagewatch.alerts.store import (
    DEFAULT_PAGE_SIZE,
    ENTRY_FIELDS,
    HISTORY_PAGE_SIZE,
    LeaseHeldError,
    StateStoreError,
    check_page_size,
    chunked,
    entry_from_values,
    entry_to_row,
)
from imagewatch.history import RunRecord, decode_record, encode_record

_COLUMNS = ENTRY_FIELDS
# Rows per write transaction: a long generator never holds the file's write lock (which other runs
# sharing the file wait on) for more than one chunk.
WRITE_CHUNK = 500
_PAGE_SQL = (
    f"SELECT {', '.join(_COLUMNS)} FROM ledger"  # noqa: S608 - fixed names
    " WHERE target = ? AND fingerprint > ? ORDER BY fingerprint LIMIT ?"
)
# One indexed range on the (target, at) primary key per page; a record is one compact JSON value.
_HISTORY_SQL = "SELECT at, record FROM history WHERE target = ? AND at > ? ORDER BY at LIMIT ?"


class SqliteStore:
    """The ledger in one SQLite file (created with its folder on first use)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        try:
            if str(path) != ":memory:":
                self.path.parent.mkdir(parents=True, exist_ok=True)
            # check_same_thread off: a run's ledger copy reads it from a thread of its own
            # (alerts/ledger_copy.py) while the run's own thread leaves the store alone
            self._db = sqlite3.connect(str(path), timeout=30, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS ledger (target TEXT NOT NULL, fingerprint TEXT NOT NULL,"
                " policy_id TEXT, subject TEXT, severity TEXT, label TEXT, message TEXT, status TEXT,"
                " first_seen INTEGER, last_seen INTEGER, resolved_at INTEGER, deliveries TEXT,"
                " PRIMARY KEY (target, fingerprint))"
            )
            _add_sla_columns(self._db)
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS lease (target TEXT PRIMARY KEY, run_id TEXT, until_ms INTEGER)"
            )
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS marker (target TEXT NOT NULL, name TEXT NOT NULL, value TEXT,"
                " PRIMARY KEY (target, name))"
            )
            # Run history (history.py): a file from before it gains the table when next opened.
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS history (target TEXT NOT NULL, at INTEGER NOT NULL,"
                " record BLOB NOT NULL, PRIMARY KEY (target, at)) WITHOUT ROWID"
            )
        except (sqlite3.Error, OSError) as exc:
            raise StateStoreError(f"state store {self.path}: {exc}") from None

    def __repr__(self) -> str:
        return f"SqliteStore({str(self.path)!r})"

    def acquire(self, target: str, run_id: str, now_ms: int, ttl_ms: int) -> None:
        try:
            self._db.execute("BEGIN IMMEDIATE")  # one writer decides at a time
            try:
                row = self._db.execute(
                    "SELECT run_id, until_ms FROM lease WHERE target = ?", (target,)
                ).fetchone()
                if row and row[0] != run_id and row[1] > now_ms:
                    raise LeaseHeldError(target, row[0], row[1])
                self._db.execute(
                    "INSERT OR REPLACE INTO lease (target, run_id, until_ms) VALUES (?, ?, ?)",
                    (target, run_id, now_ms + ttl_ms),
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StateStoreError(f"state store {self.path}: cannot take the lease: {exc}") from None

    def release(self, target: str, run_id: str) -> None:
        try:
            self._db.execute("DELETE FROM lease WHERE target = ? AND run_id = ?", (target, run_id))
        except sqlite3.Error as exc:
            raise StateStoreError(f"state store {self.path}: cannot release the lease: {exc}") from None

    def scan(self, target: str, *, page_size: int = DEFAULT_PAGE_SIZE) -> Iterator[LedgerEntry]:
        """Keyset pagination on the primary key: each page is one indexed SELECT after the last
        fingerprint read, fetched whole, so no cursor stays open across the caller's writes."""
        return self._pages(target, check_page_size(page_size))

    def _pages(self, target: str, limit: int) -> Iterator[LedgerEntry]:
        after = ""  # every fingerprint sorts after the empty string
        while True:
            try:
                rows = self._db.execute(_PAGE_SQL, (target, after, limit)).fetchall()
                page = [entry_from_values(row) for row in rows]
            except (sqlite3.Error, ValueError, KeyError, TypeError) as exc:
                raise StateStoreError(f"state store {self.path}: cannot read the ledger: {exc}") from None
            yield from page
            if len(rows) < limit:
                return
            after = rows[-1][0]

    def load(self, target: str) -> dict[str, LedgerEntry]:
        return {entry.fingerprint: entry for entry in self.scan(target)}

    def save(self, target: str, entries: Iterable[LedgerEntry]) -> None:
        placeholders = ", ".join("?" * (len(_COLUMNS) + 1))
        sql = f"INSERT OR REPLACE INTO ledger (target, {', '.join(_COLUMNS)}) VALUES ({placeholders})"  # noqa: S608
        for chunk in chunked(entries, WRITE_CHUNK):
            self._write(sql, [(target, *_row(entry)) for entry in chunk])

    def forget(self, target: str, fingerprints: Iterable[str]) -> None:
        sql = "DELETE FROM ledger WHERE target = ? AND fingerprint = ?"
        for chunk in chunked(fingerprints, WRITE_CHUNK):
            self._write(sql, [(target, fp) for fp in chunk])

    def _write(self, sql: str, rows: list[tuple[object, ...]]) -> None:
        try:
            with self._db:
                self._db.execute("BEGIN")
                self._db.executemany(sql, rows)
        except sqlite3.Error as exc:
            raise StateStoreError(f"state store {self.path}: cannot write the ledger: {exc}") from None

    def marker(self, target: str, name: str) -> str | None:
        try:
            row = self._db.execute(
                "SELECT value FROM marker WHERE target = ? AND name = ?", (target, name)
            ).fetchone()
        except sqlite3.Error as exc:
            raise StateStoreError(f"state store {self.path}: cannot read a marker: {exc}") from None
        return None if row is None else str(row[0])

    def set_marker(self, target: str, name: str, value: str) -> None:
        try:
            self._db.execute(
                "INSERT OR REPLACE INTO marker (target, name, value) VALUES (?, ?, ?)", (target, name, value)
            )
        except sqlite3.Error as exc:
            raise StateStoreError(f"state store {self.path}: cannot write a marker: {exc}") from None

    def append_history(self, record: RunRecord) -> None:
        try:
            self._db.execute(
                "INSERT OR REPLACE INTO history (target, at, record) VALUES (?, ?, ?)",
                (record.target, record.at, encode_record(record)),
            )
        except sqlite3.Error as exc:
            raise StateStoreError(f"state store {self.path}: cannot write the run history: {exc}") from None

    def history(
        self, target: str, since_ms: int, *, page_size: int = HISTORY_PAGE_SIZE
    ) -> Iterator[RunRecord]:
        """Keyset pages on (target, at), each fetched whole (no cursor open across the caller's work)."""
        return self._history_pages(target, since_ms - 1, check_page_size(page_size))

    def _history_pages(self, target: str, after: int, limit: int) -> Iterator[RunRecord]:
        while True:
            try:
                rows = self._db.execute(_HISTORY_SQL, (target, after, limit)).fetchall()
                page = [decode_record(row[1]) for row in rows]
            except (sqlite3.Error, ValueError) as exc:  # msgspec's errors are ValueErrors
                raise StateStoreError(
                    f"state store {self.path}: cannot read the run history: {exc}"
                ) from None
            yield from page
            if len(rows) < limit:
                return
            after = rows[-1][0]

    def close(self) -> None:
        self._db.close()


def _add_sla_columns(db: sqlite3.Connection) -> None:
    """A ledger file from before SLA clocks gains their columns (its rows read as no clock yet)."""
    have = {row[1] for row in db.execute("PRAGMA table_info(ledger)")}
    for column in ("due_at", "paused_ms", "paused_since"):
        if column not in have:
            db.execute(f"ALTER TABLE ledger ADD COLUMN {column} INTEGER")


def _row(entry: LedgerEntry) -> tuple[object, ...]:
    row = entry_to_row(entry)
    row["deliveries"] = json.dumps(row["deliveries"], sort_keys=True)
    return tuple(row[name] for name in _COLUMNS)
