"""One contract, two stores: SQLite (embedded) and DynamoDB (through a real moto server on 127.0.0.1)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from imagewatch.alerts.dynamodb_store import DynamoDbStore
from imagewatch.alerts.ledger import ChannelRule, due_alerts, mark_delivered, reconcile
from imagewatch.alerts.sqlite_store import SqliteStore
from imagewatch.alerts.store import LeaseHeldError, StateStore, StateStoreError
from imagewatch.violation import Violation
from support.moto_support import create_ledger_table


@pytest.fixture(params=["sqlite", "dynamodb"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    if request.param == "sqlite":
        store = SqliteStore(tmp_path / "ledger.sqlite3")
    else:
        dynamodb = request.getfixturevalue("moto_server").client("dynamodb")
        store = DynamoDbStore(create_ledger_table(dynamodb), dynamodb)
    yield store
    store.close()


def violations(n: int, policy: str = "p") -> list[Violation]:
    return [
        Violation(
            policy, "P", "high", f"img{i}@h", f"img{i}:1 on h", f"message {i} with ünïcode", {"vul_num": i}
        )
        for i in range(n)
    ]


def test_empty_target_loads_empty(store: StateStore) -> None:
    assert store.load("t") == {}


def test_entries_round_trip_exactly_per_target(store: StateStore) -> None:
    rec = reconcile({}, violations(3), {"p"}, now=1_700_000_000_000)
    mark_delivered(due_alerts(rec.entries.values(), ChannelRule("chat"), 1), "chat", 1_700_000_000_500)
    store.save("t1", rec.entries.values())
    store.save("t2", list(rec.entries.values())[:1])
    assert store.load("t1") == rec.entries
    assert list(store.load("t2")) == [rec.new[0].fingerprint]


def test_save_replaces_and_forget_removes(store: StateStore) -> None:
    rec = reconcile({}, violations(2), {"p"}, now=1000)
    store.save("t", rec.entries.values())
    gone = reconcile(store.load("t"), violations(1), {"p"}, now=2000)
    store.save("t", [gone.entries[fp] for fp in gone.changed])
    loaded = store.load("t")
    assert sorted(e.status for e in loaded.values()) == ["open", "resolved"]
    store.forget("t", [e.fingerprint for e in gone.resolved])
    assert [e.subject for e in store.load("t").values()] == ["img0@h"]


def test_many_entries_page_through(store: StateStore) -> None:
    rec = reconcile({}, violations(260), {"p"}, now=1000)
    store.save("t", rec.entries.values())
    assert len(store.load("t")) == 260
    store.forget("t", list(rec.entries)[:130])
    assert len(store.load("t")) == 130


def test_lease_admits_one_run_at_a_time(store: StateStore) -> None:
    store.acquire("t", "run-a", now_ms=1000, ttl_ms=60_000)
    with pytest.raises(LeaseHeldError) as caught:
        store.acquire("t", "run-b", now_ms=2000, ttl_ms=60_000)
    assert caught.value.holder == "run-a" and caught.value.until_ms == 61_000
    store.acquire("other-target", "run-b", now_ms=2000, ttl_ms=60_000)  # targets are independent
    store.acquire("t", "run-a", now_ms=3000, ttl_ms=60_000)  # the holder may renew
    store.release("t", "run-b")  # not the holder: nothing happens
    with pytest.raises(LeaseHeldError):
        store.acquire("t", "run-b", now_ms=4000, ttl_ms=60_000)
    store.release("t", "run-a")
    store.acquire("t", "run-b", now_ms=5000, ttl_ms=60_000)
    assert store.load("t") == {}  # the lease is not a ledger entry


def test_an_expired_lease_can_be_taken_over(store: StateStore) -> None:
    store.acquire("t", "crashed-run", now_ms=1000, ttl_ms=10_000)
    store.acquire("t", "next-run", now_ms=11_001, ttl_ms=10_000)
    with pytest.raises(LeaseHeldError):
        store.acquire("t", "crashed-run", now_ms=12_000, ttl_ms=10_000)


def test_unavailable_store_fails_loudly(tmp_path: Path, moto_server) -> None:
    dynamodb = moto_server.client("dynamodb")
    missing = DynamoDbStore("no-such-table", dynamodb)
    with pytest.raises(
        StateStoreError, match="state table no-such-table: cannot read the ledger: ResourceNotFound"
    ):
        missing.load("t")
    with pytest.raises(StateStoreError, match="cannot take the lease"):
        missing.acquire("t", "r", 1, 1)


def test_dynamodb_items_carry_ttl(moto_server) -> None:
    dynamodb = moto_server.client("dynamodb")
    table = create_ledger_table(dynamodb)
    store = DynamoDbStore(table, dynamodb, ttl_days=30)
    rec = reconcile({}, violations(1), {"p"}, now=1_700_000_000_000)
    store.save("t", rec.entries.values())
    [item] = dynamodb.scan(TableName=table)["Items"]
    assert int(item["expires_at"]["N"]) == 1_700_000_000 + 30 * 86_400
    assert item["target"]["S"] == "t" and item["fingerprint"]["S"] == rec.new[0].fingerprint
