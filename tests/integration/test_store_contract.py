"""One contract, two stores: SQLite (embedded) and DynamoDB (through a real moto server on 127.0.0.1)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from imagewatch.alerts.dynamodb_store import DynamoDbStore, history_item
from imagewatch.alerts.ledger import ChannelRule, Delivery, LedgerEntry, due_alerts, mark_delivered, reconcile
from imagewatch.alerts.sqlite_store import SqliteStore
from imagewatch.alerts.store import ENTRY_FIELDS, LeaseHeldError, StateStore, StateStoreError, entry_to_row
from imagewatch.history import RunRecord, encode_record
from imagewatch.violation import Violation
from support.moto_support import create_ledger_table, ledger_items

T = TypeVar("T")


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


# --- scan: the ledger read page by page, in fingerprint order -------------------------------------------


def entry(fp: str, *, message: str = "m", channels: int = 1, status: str = "open") -> LedgerEntry:
    """An entry with a chosen fingerprint (scan order is the point here, not how fingerprints are made)."""
    return LedgerEntry(
        fingerprint=fp,
        policy_id="p",
        subject=f"img-{fp}",
        severity="high",
        label=f"img-{fp}:1 on 3 hosts (ecs-a, ecs-b, ecs-c)",
        message=message,
        status="resolved" if status == "resolved" else "open",
        first_seen=1_700_000_000_000,
        last_seen=1_700_000_000_000,
        resolved_at=1_700_000_000_000 if status == "resolved" else None,
        deliveries={
            f"channel-{c}": Delivery(new_at=1_700_000_000_000 + c, last_sent_at=1_700_000_000_000 + c)
            for c in range(channels)
        },
    )


def hex_fp(i: int) -> str:
    """20 lowercase hex chars, scattered (so insertion order is not fingerprint order)."""
    return hashlib.blake2b(str(i).encode(), digest_size=10).hexdigest()


class Backend:
    """What a store asked of its storage, counted at the storage's own edge: the SQLite connection's
    statement trace, or botocore's after-call event of the DynamoDB client. ``reads`` holds one
    (items, more_pages) pair per page read; ``writes`` the number of entries the caller's iterable had
    yielded when each write went out. A read loop that does not advance (the same DynamoDB page twice,
    or more pages than any test needs) fails the test instead of hanging it."""

    MAX_READS = 100

    def __init__(self, store: StateStore) -> None:
        self.reads: list[tuple[int, bool]] = []
        self.writes: list[int] = []
        self.pulled = 0  # bumped by ``counted``
        self._page_ends: set[str] = set()
        if isinstance(store, SqliteStore):
            store._db.set_trace_callback(self._sql)  # test-only peek at the store's connection
        else:
            assert isinstance(store, DynamoDbStore)
            store._client.meta.events.register("after-call.dynamodb", self._api)

    def counted(self, items: Iterable[T]) -> Iterator[T]:
        for item in items:
            self.pulled += 1
            yield item

    def _read(self, items: int, more: bool) -> None:
        self.reads.append((items, more))
        assert len(self.reads) <= self.MAX_READS, "the scan does not stop"

    def _sql(self, statement: str) -> None:
        verb = statement.lstrip().split(None, 1)[0].upper()
        if verb == "SELECT" and " FROM ledger" in statement:
            self._read(-1, True)  # SQLite's trace does not tell the row count
        elif verb in ("INSERT", "DELETE") and "ledger" in statement:
            self.writes.append(self.pulled)

    def _api(self, model: Any, parsed: dict[str, Any], **_: Any) -> None:
        if model.name == "Query":
            self._read(parsed.get("Count", 0), "LastEvaluatedKey" in parsed)
            if "LastEvaluatedKey" in parsed:
                end = json.dumps(parsed["LastEvaluatedKey"], sort_keys=True)
                assert end not in self._page_ends, "the scan read the same page twice"
                self._page_ends.add(end)
        elif model.name == "BatchWriteItem":
            self.writes.append(self.pulled)


def test_scan_yields_every_entry_once_in_fingerprint_order_page_by_page(store: StateStore) -> None:
    fps = [hex_fp(i) for i in range(50)]
    store.save("t", (entry(fp) for fp in fps))
    store.save("other", (entry(hex_fp(i)) for i in range(50, 60)))
    store.acquire("t", "run-a", now_ms=1, ttl_ms=60_000)  # the lease item sorts first in DynamoDB
    backend = Backend(store)
    pages = store.scan("t", page_size=7)
    first = next(pages)
    assert len(backend.reads) == 1  # read as consumed, a page at a time
    scanned = [first, *pages]
    assert [e.fingerprint for e in scanned] == sorted(fps)
    assert scanned == sorted((entry(fp) for fp in fps), key=lambda e: e.fingerprint)
    # 50 entries (+ the lease on DynamoDB) at 7 a page: 8 pages, or 9 when the last one is empty.
    assert 8 <= len(backend.reads) <= 9


def test_scan_of_an_empty_target_yields_nothing(store: StateStore) -> None:
    store.save("other", [entry(hex_fp(1))])
    store.acquire("t", "run-a", now_ms=1, ttl_ms=60_000)
    assert list(store.scan("t")) == []
    assert list(store.scan("never-seen", page_size=1)) == []


def test_scan_refuses_a_page_size_below_one_at_once(store: StateStore) -> None:
    for bad in (0, -1):
        with pytest.raises(ValueError, match="page_size"):
            store.scan("t", page_size=bad)  # not deferred to the first next()


def test_writes_between_pages_neither_repeat_nor_skip_entries(store: StateStore) -> None:
    """What a run does while it merges: rewrites the entry it just read, forgets the one before it
    (so a page may resume after a key that is gone), adds entries behind the scan and one far ahead."""
    fps = sorted(hex_fp(i) for i in range(30))
    store.save("t", (entry(fp) for fp in fps))
    ahead = "f" * 20  # above every hashed fingerprint; f"{n:020x}" for small n is below them all
    assert f"{100:020x}" < fps[0] and fps[-1] < ahead
    Backend(store)  # fails a scan that rereads a page instead of looping with it
    seen: list[str] = []
    for current in store.scan("t", page_size=4):
        seen.append(current.fingerprint)
        store.save("t", [entry(current.fingerprint, status="resolved"), entry(f"{len(seen):020x}")])
        if len(seen) > 1:
            store.forget("t", [seen[-2]])
        if len(seen) == 1:
            store.save("t", [entry(ahead)])
    assert seen == [*fps, ahead]
    left = store.load("t")
    assert set(left) == {ahead, *(f"{n:020x}" for n in range(1, len(seen) + 1))}


def test_save_and_forget_stream_the_callers_iterable(store: StateStore) -> None:
    """A generator of any length is written in bounded chunks, the first before the last is made."""
    n = 600  # above SQLite's 500-row write chunk and many DynamoDB batches of 25
    backend = Backend(store)
    store.save("t", backend.counted(entry(hex_fp(i)) for i in range(n)))
    assert backend.writes and backend.writes[0] < n
    assert len(store.load("t")) == n
    backend.pulled, backend.writes = 0, []
    store.forget("t", backend.counted(hex_fp(i) for i in range(n)))
    assert backend.writes and backend.writes[0] < n
    assert store.load("t") == {}


def test_save_keeps_the_last_of_repeated_fingerprints(store: StateStore) -> None:
    """One DynamoDB batch may not name a key twice; a later entry wins, as a later save would."""
    store.save("t", [entry("a" * 20, message="first"), entry("a" * 20, message="second")])
    assert [e.message for e in store.scan("t")] == ["second"]
    store.forget("t", ["a" * 20, "a" * 20])
    assert store.load("t") == {}


def big_ledger(n: int) -> Iterator[LedgerEntry]:
    """``n`` entries of about 1.3 KB as stored: a ~500-byte message and four channels' deliveries."""
    for i in range(n):
        yield entry(hex_fp(i), message=f"{i:05d} " + "vulnerable package, fix available; " * 14, channels=4)


def test_a_ledger_past_one_megabyte_is_read_across_dynamodb_pages(moto_server: Any) -> None:
    """3,000 entries (~4 MB) under one target. ``page_size`` is set above the entry count, so only the
    1 MB cap on a Query page (which moto applies like DynamoDB, to whole items before projection)
    splits the read: a scan that ignores ``LastEvaluatedKey`` stops after the first page and misses
    most of the ledger; one that drops ``ExclusiveStartKey`` rereads page one until ``Backend`` stops
    it."""
    dynamodb = moto_server.client("dynamodb")
    table = create_ledger_table(dynamodb)
    store = DynamoDbStore(table, dynamodb)
    n = 3_000
    store.save("t", big_ledger(n))
    store.save("other", (entry(hex_fp(i)) for i in range(n, n + 20)))
    store.acquire("t", "run-a", now_ms=1, ttl_ms=60_000)
    backend = Backend(store)
    fingerprints = [e.fingerprint for e in store.scan("t", page_size=10_000)]
    assert fingerprints == sorted(hex_fp(i) for i in range(n))  # each once, in order, nothing else
    assert len(backend.reads) >= 3
    assert all(more for _, more in backend.reads[:-1]) and not backend.reads[-1][1]
    assert all(items < n for items, _ in backend.reads)  # the size cap, not Limit, ended each page
    assert sum(items for items, _ in backend.reads) == n + 1  # the lease was read and skipped


def test_entry_fields_name_everything_an_entry_stores() -> None:
    """The SQLite columns and the DynamoDB projection come from ``ENTRY_FIELDS``: a field added to
    ``LedgerEntry`` but not there would be dropped on the way back."""
    assert tuple(entry_to_row(entry("a" * 20))) == ENTRY_FIELDS
    assert set(ENTRY_FIELDS) == set(LedgerEntry.__struct_fields__)


def test_scan_asks_dynamodb_for_entry_attributes_only(moto_server: Any) -> None:
    dynamodb = moto_server.client("dynamodb")
    table = create_ledger_table(dynamodb)
    store = DynamoDbStore(table, dynamodb)
    store.save("t", [entry(hex_fp(1), status="resolved")])
    requests: list[dict[str, Any]] = []
    dynamodb.meta.events.register(
        "provide-client-params.dynamodb.Query", lambda params, **_: requests.append(params)
    )
    assert [e.status for e in store.scan("t")] == ["resolved"]
    [request] = requests
    assert request["ConsistentRead"] is True and request["Limit"] == 500
    projected = {
        request["ExpressionAttributeNames"][name.strip()]
        for name in request["ProjectionExpression"].split(",")
    }
    assert projected == set(ENTRY_FIELDS)
    assert "expires_at" not in projected and "target" not in projected


def test_a_failing_query_is_a_state_store_error_naming_table_and_code(moto_server: Any) -> None:
    store = DynamoDbStore("no-such-table", moto_server.client("dynamodb"))
    pages = store.scan("t")
    with pytest.raises(
        StateStoreError, match="state table no-such-table: cannot read the ledger: ResourceNotFound"
    ):
        next(pages)


# --- run history (issue 15): one record per (target, run), ascending, beside the ledger, never in it ----


def run(at: int, target: str = "t", **fields: Any) -> RunRecord:
    defaults: dict[str, Any] = {
        "status": "ok",
        "records": 12,
        "images": 5,
        "open_by_severity": {"critical": 1, "high": 3},
        "new": 1,
        "resolved": 2,
        "overdue": 1,
        "exempted": 0,
        "duration_ms": 900,
        "complete": True,
        "fixed": {"high": [2, 7_200_000, 1]},
    }
    return RunRecord(at=at, target=target, **(defaults | fields))


def test_history_round_trips_ascending_from_since_per_target(store: StateStore) -> None:
    records = [run(at, new=at % 7) for at in (5_000, 1_000, 3_000, 2_000, 4_000)]
    for record in records:
        store.append_history(record)
    store.append_history(run(2_500, target="other"))
    assert list(store.history("t", 0)) == sorted(records, key=lambda r: r.at)
    assert [r.at for r in store.history("t", 3_000)] == [3_000, 4_000, 5_000]  # since is inclusive
    assert [r.at for r in store.history("t", 5_001)] == []
    assert [r.at for r in store.history("other", 0)] == [2_500]
    assert list(store.history("never-seen", 0)) == []


def test_history_is_idempotent_per_target_and_run(store: StateStore) -> None:
    """A retried write, or the same run landing twice, is one record (the later write wins)."""
    store.append_history(run(1_000))
    store.append_history(run(1_000))
    store.append_history(run(1_000, resolved=9))
    assert [(r.at, r.resolved) for r in store.history("t", 0)] == [(1_000, 9)]


def test_history_pages_resume_where_they_stopped(store: StateStore) -> None:
    for at in range(1, 24):
        store.append_history(run(at * 3_600_000))
    pages = store.history("t", 0, page_size=5)
    assert [r.at for r in pages] == [at * 3_600_000 for at in range(1, 24)]
    with pytest.raises(ValueError, match="page_size"):
        store.history("t", 0, page_size=0)


def test_history_is_never_in_the_ledger_scan_nor_touched_by_forget(store: StateStore) -> None:
    fps = [hex_fp(i) for i in range(10)]
    store.save("t", (entry(fp) for fp in fps))
    for at in range(1, 40):
        store.append_history(run(at))
    store.set_marker("t", "m", "v")
    backend = Backend(store)
    assert [e.fingerprint for e in store.scan("t", page_size=4)] == sorted(fps)
    assert sum(items for items, _ in backend.reads) <= len(fps) + 1  # the marker; no history item
    store.forget("t", fps)
    assert store.load("t") == {}
    assert len(list(store.history("t", 0))) == 39


def test_history_without_resolutions_or_sla_facts_round_trips(store: StateStore) -> None:
    bare = RunRecord(at=7, target="t", status="failed")
    store.append_history(bare)
    assert list(store.history("t", 0)) == [bare]


def test_an_old_sqlite_file_without_history_gains_it(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE ledger (target TEXT NOT NULL, fingerprint TEXT NOT NULL, policy_id TEXT, subject TEXT,"
        " severity TEXT, label TEXT, message TEXT, status TEXT, first_seen INTEGER, last_seen INTEGER,"
        " resolved_at INTEGER, deliveries TEXT, PRIMARY KEY (target, fingerprint))"
    )
    db.commit()
    db.close()
    store = SqliteStore(path)
    assert list(store.history("t", 0)) == []
    store.append_history(run(1))
    assert [r.at for r in store.history("t", 0)] == [1]


def test_dynamodb_history_items_have_their_own_partition_and_a_400_day_ttl(moto_server: Any) -> None:
    dynamodb = moto_server.client("dynamodb")
    table = create_ledger_table(dynamodb)
    store = DynamoDbStore(table, dynamodb, ttl_days=30)
    store.append_history(run(1_700_000_000_123))
    [item] = dynamodb.scan(TableName=table)["Items"]
    assert item["target"]["S"] == "#history#t"
    assert item["fingerprint"]["S"] == "#001700000000123"
    assert int(item["expires_at"]["N"]) == 1_700_000_000 + 400 * 86_400
    assert len(item["record"]["S"]) < 400  # compact
    assert ledger_items(dynamodb, table) == []  # the tests' own view of the ledger skips it too


def test_dynamodb_history_is_one_projected_range_query(moto_server: Any) -> None:
    dynamodb = moto_server.client("dynamodb")
    store = DynamoDbStore(create_ledger_table(dynamodb), dynamodb)
    for at in (10, 20, 30):
        store.append_history(run(at))
    requests: list[dict[str, Any]] = []
    dynamodb.meta.events.register(
        "provide-client-params.dynamodb.Query", lambda params, **_: requests.append(params)
    )
    assert [r.at for r in store.history("t", 20)] == [20, 30]
    [request] = requests
    assert request["KeyConditionExpression"] == "#target = :t AND #key >= :from"
    assert request["ExpressionAttributeValues"][":from"] == {"S": "#000000000000020"}
    assert request["ProjectionExpression"] == "#record"
    assert request["ExpressionAttributeNames"]["#record"] == "record"


def test_a_failing_history_read_or_write_is_a_state_store_error(moto_server: Any) -> None:
    store = DynamoDbStore("no-such-table", moto_server.client("dynamodb"))
    with pytest.raises(StateStoreError, match="no-such-table: cannot read the run history: ResourceNotF"):
        next(store.history("t", 0))
    with pytest.raises(StateStoreError, match="no-such-table: cannot write the run history: ResourceNotF"):
        store.append_history(run(1))


def test_a_year_of_hourly_history_is_five_dynamodb_reads(moto_server: Any) -> None:
    """8,760 hourly records for one target (seeded in batches), read back whole in 2,000-record
    pages: five Query calls, nothing else. ``bench/bench_history.py`` prints the time it takes."""
    dynamodb = moto_server.client("dynamodb")
    table = create_ledger_table(dynamodb)
    store = DynamoDbStore(table, dynamodb)
    start, hour = 1_700_000_000_000, 3_600_000
    year = [run(start + i * hour, new=i % 3) for i in range(8_760)]
    for chunk in range(0, len(year), 25):
        requests = [{"PutRequest": {"Item": history_item(r)}} for r in year[chunk : chunk + 25]]
        dynamodb.batch_write_item(RequestItems={table: requests})
    store.save("t", [entry(hex_fp(1))])
    backend = Backend(store)
    assert list(store.history("t", start)) == year
    assert [items for items, _ in backend.reads] == [2_000, 2_000, 2_000, 2_000, 760]
    assert len(encode_record(year[0])) < 400  # bytes a record costs in a page
