"""The alert ledger in one SQLite file: the embedded default for a laptop, the demo and the tests."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path

from imagewatch.alerts.ledger import LedgerEntry
from imagewatch.alerts.store import LeaseHeldError, StateStoreError, entry_from_row, entry_to_row

_COLUMNS = (
    "fingerprint",
    "policy_id",
    "subject",
    "severity",
    "label",
    "message",
    "status",
    "first_seen",
    "last_seen",
    "resolved_at",
    "deliveries",
)


class SqliteStore:
    """The ledger in one SQLite file (created with its folder on first use)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        try:
            if str(path) != ":memory:":
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), timeout=30, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS ledger (target TEXT NOT NULL, fingerprint TEXT NOT NULL,"
                " policy_id TEXT, subject TEXT, severity TEXT, label TEXT, message TEXT, status TEXT,"
                " first_seen INTEGER, last_seen INTEGER, resolved_at INTEGER, deliveries TEXT,"
                " PRIMARY KEY (target, fingerprint))"
            )
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS lease (target TEXT PRIMARY KEY, run_id TEXT, until_ms INTEGER)"
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

    def load(self, target: str) -> dict[str, LedgerEntry]:
        try:
            cursor = self._db.execute(
                f"SELECT {', '.join(_COLUMNS)} FROM ledger WHERE target = ?",  # noqa: S608 - fixed names
                (target,),
            )
            return {row[0]: entry_from_row(dict(zip(_COLUMNS, row, strict=True))) for row in cursor}
        except (sqlite3.Error, ValueError, KeyError) as exc:
            raise StateStoreError(f"state store {self.path}: cannot read the ledger: {exc}") from None

    def save(self, target: str, entries: Iterable[LedgerEntry]) -> None:
        rows = []
        for entry in entries:
            row = entry_to_row(entry)
            row["deliveries"] = json.dumps(row["deliveries"], sort_keys=True)
            rows.append((target, *(row[name] for name in _COLUMNS)))
        placeholders = ", ".join("?" * (len(_COLUMNS) + 1))
        try:
            with self._db:
                self._db.execute("BEGIN")
                self._db.executemany(
                    f"INSERT OR REPLACE INTO ledger (target, {', '.join(_COLUMNS)})"  # noqa: S608
                    f" VALUES ({placeholders})",
                    rows,
                )
        except sqlite3.Error as exc:
            raise StateStoreError(f"state store {self.path}: cannot write the ledger: {exc}") from None

    def forget(self, target: str, fingerprints: Iterable[str]) -> None:
        try:
            with self._db:
                self._db.execute("BEGIN")
                self._db.executemany(
                    "DELETE FROM ledger WHERE target = ? AND fingerprint = ?",
                    [(target, fp) for fp in fingerprints],
                )
        except sqlite3.Error as exc:
            raise StateStoreError(f"state store {self.path}: cannot write the ledger: {exc}") from None

    def close(self) -> None:
        self._db.close()
