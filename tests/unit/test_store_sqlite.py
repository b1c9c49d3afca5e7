"""The SQLite ledger store keeps entries per target, round-trips them exactly, and fails loudly."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from imagewatch.alerts.ledger import ChannelRule, Delivery, due_alerts, mark_delivered, reconcile
from imagewatch.alerts.sqlite_store import _PAGE_SQL, SqliteStore
from imagewatch.alerts.store import ENTRY_FIELDS, StateStoreError, entry_from_row, entry_from_values
from imagewatch.violation import Violation


def test_round_trip_per_target(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "state" / "ledger.sqlite3")
    rec = reconcile({}, [Violation("p", "P", "high", "a@h", "a:1 on h", "msg", {"vul_num": 3})], {"p"}, now=5)
    mark_delivered(due_alerts(rec.entries.values(), ChannelRule("chat"), 5), "chat", 5)
    store.save("t1", rec.entries.values())
    store.close()
    reopened = SqliteStore(tmp_path / "state" / "ledger.sqlite3")
    assert reopened.load("t1") == rec.entries
    assert reopened.load("t2") == {}
    reopened.forget("t1", list(rec.entries))
    assert reopened.load("t1") == {}


def test_unwritable_location_is_a_state_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(StateStoreError, match="state store"):
        SqliteStore(blocker / "ledger.sqlite3")


def test_a_scan_page_is_a_range_of_the_primary_key(tmp_path: Path) -> None:
    """Keyset pagination costs one index seek per page: no table scan, no sort of the target's rows."""
    store = SqliteStore(tmp_path / "ledger.sqlite3")
    plan = " | ".join(row[-1] for row in store._db.execute(f"EXPLAIN QUERY PLAN {_PAGE_SQL}", ("t", "", 7)))
    assert "USING INDEX" in plan and "fingerprint>?" in plan, plan
    assert "TEMP B-TREE" not in plan, plan


def test_an_unreadable_row_is_a_state_store_error_while_scanning(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    store = SqliteStore(path)
    store.save("t", reconcile({}, [Violation("p", "P", "high", "a@h", "a", "m", {})], {"p"}, now=5).new)
    with sqlite3.connect(path) as raw:
        raw.execute("UPDATE ledger SET deliveries = '{not json'")
    with pytest.raises(StateStoreError, match="cannot read the ledger"):
        list(store.scan("t"))


@pytest.mark.parametrize(
    ("column", "value", "said"),
    [
        ("first_seen", "yesterday", "first_seen is 'yesterday', expected ms since 1970"),
        ("last_seen", -5, "last_seen is -5, expected ms since 1970"),
        ("due_at", 10**18, "due_at is 1000000000000000000, expected ms since 1970"),
        ("paused_since", 1.5, None),  # a float that is a whole ms reads as that ms; 1.5 is not
        ("label", None, "label is None, expected text"),
        ("message", b"\x00bytes", "message is b'\\x00bytes', expected text"),
    ],
)
def test_a_broken_row_is_named_not_read_through_the_fast_path(
    tmp_path: Path, column: str, value: object, said: str | None
) -> None:
    """The scan's fast path (``entry_from_values``) takes only the usual row; every other shape goes
    through ``entry_from_row``, which names the entry, the field and the value."""
    path = tmp_path / "ledger.sqlite3"
    store = SqliteStore(path)
    store.save("t", reconcile({}, [Violation("p", "P", "high", "a@h", "a", "m", {})], {"p"}, now=5).new)
    with sqlite3.connect(path) as raw:
        raw.execute(f"UPDATE ledger SET {column} = ?", (value,))
    if said is None:
        entries = list(store.scan("t"))
        assert getattr(entries[0], column) == 1  # int(1.5): the slow path's reading, unchanged
        return
    with pytest.raises(StateStoreError, match=re.escape(said)):
        list(store.scan("t"))


def test_the_fast_path_reads_what_the_careful_path_reads(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    store = SqliteStore(path)
    entries = reconcile(
        {}, [Violation("p", "P", "high", f"a{i}@h", "a", "m", {}) for i in range(3)], {"p"}, now=5
    )
    entry = entries.new[0]
    entry.deliveries["slack"] = Delivery(new_at=6, last_sent_at=7, overdue_at=8)
    entry.due_at, entry.paused_ms, entry.paused_since, entry.status = 99, 3, 50, "exempted"
    store.save("t", entries.new)
    with sqlite3.connect(path) as raw:
        rows = raw.execute(f"SELECT {', '.join(ENTRY_FIELDS)} FROM ledger ORDER BY fingerprint").fetchall()
    assert [entry_from_values(row) for row in rows] == [
        entry_from_row(dict(zip(ENTRY_FIELDS, row, strict=True))) for row in rows
    ]
    assert list(store.scan("t")) == sorted(entries.new, key=lambda e: e.fingerprint)
