"""The SQLite ledger store keeps entries per target, round-trips them exactly, and fails loudly."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from imagewatch.alerts.ledger import ChannelRule, due_alerts, mark_delivered, reconcile
from imagewatch.alerts.sqlite_store import _PAGE_SQL, SqliteStore
from imagewatch.alerts.store import StateStoreError
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
