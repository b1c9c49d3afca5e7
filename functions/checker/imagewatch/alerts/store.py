"""The state store port: where the alert ledger lives between runs.

``StateStore`` is the interface; ``SqliteStore`` is the embedded default (one file). Entries are
partitioned by target (region/project/enterprise project), so one store can serve several targets.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from imagewatch.alerts.ledger import Delivery, LedgerEntry


class StateStoreError(Exception):
    """The ledger could not be read or written; the run must not send what it cannot record."""


class LeaseHeldError(StateStoreError):
    """Another run holds this target's lease: this run must not touch the ledger or send anything."""

    def __init__(self, target: str, holder: str, until_ms: int) -> None:
        self.target, self.holder, self.until_ms = target, holder, until_ms
        super().__init__(f"target {target!r} is being checked by run {holder} (lease until {until_ms} ms)")


class StateStore(Protocol):
    """The ledger's storage. Every write is idempotent; the lease is the one conditional write that
    keeps two overlapping runs of a target from both sending the same alert."""

    def acquire(self, target: str, run_id: str, now_ms: int, ttl_ms: int) -> None:
        """Take the target's lease, or raise ``LeaseHeldError`` while another run's lease is live."""

    def release(self, target: str, run_id: str) -> None:
        """Give the lease back (only if ``run_id`` still holds it)."""

    def load(self, target: str) -> dict[str, LedgerEntry]:
        """Every entry of ``target`` that is not finished, by fingerprint."""

    def save(self, target: str, entries: Iterable[LedgerEntry]) -> None:
        """Insert or replace ``entries``."""

    def forget(self, target: str, fingerprints: Iterable[str]) -> None:
        """Drop finished entries."""

    def close(self) -> None: ...


def entry_to_row(entry: LedgerEntry) -> dict[str, object]:
    """An entry as plain JSON-ready data (shared by the stores)."""
    return {
        "fingerprint": entry.fingerprint,
        "policy_id": entry.policy_id,
        "subject": entry.subject,
        "severity": entry.severity,
        "label": entry.label,
        "message": entry.message,
        "status": entry.status,
        "first_seen": entry.first_seen,
        "last_seen": entry.last_seen,
        "resolved_at": entry.resolved_at,
        "deliveries": {
            name: {"new_at": d.new_at, "last_sent_at": d.last_sent_at, "resolved_at": d.resolved_at}
            for name, d in entry.deliveries.items()
        },
    }


def entry_from_row(row: dict[str, object]) -> LedgerEntry:
    deliveries = row.get("deliveries") or {}
    if isinstance(deliveries, str):
        deliveries = json.loads(deliveries)
    return LedgerEntry(
        fingerprint=str(row["fingerprint"]),
        policy_id=str(row["policy_id"]),
        subject=str(row["subject"]),
        severity=str(row["severity"]),
        label=str(row["label"]),
        message=str(row["message"]),
        status="resolved" if row["status"] == "resolved" else "open",
        first_seen=int(row["first_seen"]),  # type: ignore[call-overload]
        last_seen=int(row["last_seen"]),  # type: ignore[call-overload]
        resolved_at=None if row.get("resolved_at") is None else int(row["resolved_at"]),  # type: ignore[call-overload]
        deliveries={name: Delivery(**value) for name, value in deliveries.items()},  # type: ignore[union-attr]
    )


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
