"""The state store port: where the alert ledger lives between runs.

``StateStore`` is the interface; ``SqliteStore`` (``sqlite_store``) is the embedded default, one file;
``DynamoDbStore`` (``dynamodb_store``) is the AWS adapter. Entries are partitioned by target
(region/project/enterprise project), so one store can serve several targets.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import islice
from typing import Any, Protocol, TypeVar

import msgspec

from imagewatch.alerts.ledger import Delivery, LedgerEntry
from imagewatch.history import RunRecord
from imagewatch.hss.errors import short_repr

T = TypeVar("T")

# What a stored entry holds, in ``entry_to_row``'s order: the SQLite columns, and the only attributes a
# DynamoDB read asks for (items also carry ``target`` and ``expires_at``, which a read does not need).
ENTRY_FIELDS = (
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
    "due_at",  # SLA clock (imagewatch.sla): rows from before it read as None / 0 / None
    "paused_ms",
    "paused_since",
)
DEFAULT_PAGE_SIZE = 500
# Run records per history page: ~300 bytes each, so a page stays well under DynamoDB's 1 MB and a
# year of hourly runs (8,760) is 5 reads.
HISTORY_PAGE_SIZE = 2_000


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

    def scan(self, target: str, *, page_size: int = DEFAULT_PAGE_SIZE) -> Iterator[LedgerEntry]:
        """Every entry of ``target`` (never the lease), in ascending fingerprint order, read
        ``page_size`` at a time, so a run can merge the ledger with its sorted violations without
        holding either. Each page resumes after the last fingerprint read: entries this process saves
        or forgets between pages never make the scan repeat or skip an entry it did not touch. Read
        errors surface as ``StateStoreError`` while iterating."""

    def load(self, target: str) -> dict[str, LedgerEntry]:
        """The whole of ``scan(target)`` by fingerprint: for tests and the CLI, not for a run."""

    def save(self, target: str, entries: Iterable[LedgerEntry]) -> None:
        """Insert or replace ``entries`` (any iterable, consumed in bounded chunks; later wins)."""

    def forget(self, target: str, fingerprints: Iterable[str]) -> None:
        """Drop finished entries (any iterable, consumed in bounded chunks)."""

    def marker(self, target: str, name: str) -> str | None:
        """A per-target marker (e.g. which ledger migrations ran), or None when unset."""

    def set_marker(self, target: str, name: str, value: str) -> None:
        """Set a per-target marker; never read by ``scan``."""

    def append_history(self, record: RunRecord) -> None:
        """Keep one run's record, keyed by (``record.target``, ``record.at``): writing the same key
        again replaces it, so a retried write is one record. Never seen by ``scan`` or ``forget``."""

    def history(
        self, target: str, since_ms: int, *, page_size: int = HISTORY_PAGE_SIZE
    ) -> Iterator[RunRecord]:
        """``target``'s run records with ``at >= since_ms``, ascending by ``at``, read ``page_size``
        at a time (one indexed range, only the record itself read). Read errors surface as
        ``StateStoreError`` while iterating."""

    def close(self) -> None: ...


def chunked(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """``items`` in lists of at most ``size``, read lazily: a store writes a generator of any length
    while holding one chunk."""
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def check_page_size(page_size: int) -> int:
    if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
        raise ValueError(f"page_size must be a positive integer, not {page_size!r}")
    return page_size


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
            name: {
                "new_at": d.new_at,
                "last_sent_at": d.last_sent_at,
                "resolved_at": d.resolved_at,
                "attempted_at": d.attempted_at,
                **({"overdue_at": d.overdue_at} if d.overdue_at is not None else {}),
                **({"told": d.told} if d.told is not None else {}),  # Security Hub's copy (ledger.said)
            }
            for name, d in entry.deliveries.items()
        },
        "due_at": entry.due_at,
        "paused_ms": entry.paused_ms,
        "paused_since": entry.paused_since,
    }


def entry_from_row(row: dict[str, object]) -> LedgerEntry:
    """The inverse of ``entry_to_row``; reads only ``ENTRY_FIELDS`` (``deliveries`` may be JSON text)."""
    raw = row.get("deliveries") or {}
    if isinstance(raw, str | bytes):  # JSON text: decoded straight into Delivery records
        deliveries = _decode_deliveries(raw)
    else:
        deliveries = {name: Delivery(**value) for name, value in raw.items()}  # type: ignore[union-attr]
    fp = str(row["fingerprint"])
    return LedgerEntry(
        fingerprint=fp,
        policy_id=_text(row, "policy_id", fp),
        subject=_text(row, "subject", fp),
        severity=_text(row, "severity", fp),
        label=_text(row, "label", fp),
        message=_text(row, "message", fp),
        status=row["status"] if row["status"] in ("resolved", "exempted") else "open",  # type: ignore[arg-type]
        first_seen=_instant(row, "first_seen", fp),  # type: ignore[arg-type]
        last_seen=_instant(row, "last_seen", fp),  # type: ignore[arg-type]
        resolved_at=_instant(row, "resolved_at", fp, optional=True),
        deliveries=deliveries,
        due_at=_instant(row, "due_at", fp, optional=True),
        paused_ms=_instant(row, "paused_ms", fp, optional=True) or 0,
        paused_since=_instant(row, "paused_since", fp, optional=True),
    )


def entry_from_values(values: Sequence[object]) -> LedgerEntry:
    """``entry_from_row`` for a row's values in ``ENTRY_FIELDS`` order (an SQLite row), with a fast path:
    the usual row — text where text belongs, times in range, deliveries as JSON text — is built
    directly (a steady 100,000-record run reads ~50,000 of them); any other goes through
    ``entry_from_row``, which names what is wrong."""
    (
        fp,
        policy,
        subject,
        severity,
        label,
        message,
        status,
        first,
        last,
        resolved,
        deliveries,
        due,
        paused,
        since,
    ) = values
    if (
        fp.__class__ is str
        and policy.__class__ is str
        and subject.__class__ is str
        and severity.__class__ is str
        and label.__class__ is str
        and message.__class__ is str
        and status.__class__ is str
        and deliveries.__class__ is str
        and _usual_instant(first)
        and _usual_instant(last)
        and (resolved is None or _usual_instant(resolved))
        and (due is None or _usual_instant(due))
        and _usual_instant(paused)
        and (since is None or _usual_instant(since))
    ):
        return LedgerEntry(
            fingerprint=fp,  # type: ignore[arg-type]
            policy_id=policy,  # type: ignore[arg-type]
            subject=subject,  # type: ignore[arg-type]
            severity=severity,  # type: ignore[arg-type]
            label=label,  # type: ignore[arg-type]
            message=message,  # type: ignore[arg-type]
            status=status if status in ("resolved", "exempted") else "open",  # type: ignore[arg-type]
            first_seen=first,  # type: ignore[arg-type]
            last_seen=last,  # type: ignore[arg-type]
            resolved_at=resolved,  # type: ignore[arg-type]
            deliveries=_decode_deliveries(deliveries),  # type: ignore[arg-type]
            due_at=due,  # type: ignore[arg-type]
            paused_ms=paused,  # type: ignore[arg-type]
            paused_since=since,  # type: ignore[arg-type]
        )
    return entry_from_row(dict(zip(ENTRY_FIELDS, values, strict=True)))


def _usual_instant(value: object) -> bool:
    return value.__class__ is int and 0 <= value <= LATEST_MS  # type: ignore[operator]


LATEST_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z: a later "time" is a broken row


def _text(row: Mapping[str, object], name: str, fp: str) -> str:
    value = row.get(name)
    if not isinstance(value, str):
        raise StateStoreError(f"ledger entry {fp}: {name} is {short_repr(value)}, expected text")
    return value


def _instant(row: Mapping[str, object], name: str, fp: str, *, optional: bool = False) -> int | None:
    """A time (or duration) in ms from a stored row; a value no clock makes is a broken row, said as
    the store's error (the CLI's exit 5), never a crash further on."""
    value = row.get(name)
    if value.__class__ is int and 0 <= value <= LATEST_MS:  # type: ignore[operator]  # the usual row
        return value  # type: ignore[return-value]
    if value is None and optional:
        return None
    try:
        number = int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        number = -1
    if not 0 <= number <= LATEST_MS or isinstance(value, bool):
        raise StateStoreError(f"ledger entry {fp}: {name} is {short_repr(value)}, expected ms since 1970")
    return number


_decode_deliveries = msgspec.json.Decoder(dict[str, Delivery]).decode


def __getattr__(name: str) -> Any:
    """``SqliteStore`` lives in ``sqlite_store`` (sqlite3 loads only where the embedded store is used)."""
    if name == "SqliteStore":
        from imagewatch.alerts.sqlite_store import SqliteStore

        return SqliteStore
    raise AttributeError(f"module 'imagewatch.alerts.store' has no attribute {name!r}")
