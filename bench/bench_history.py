"""Reading a year of hourly run history (8,760 records) for one target: SQLite and DynamoDB (moto).

    python bench/bench_history.py

What keeps it cheap is structural: a record is one compact JSON value (~250-450 bytes), the records
of a target are one key range — SQLite's (target, at) primary key, DynamoDB's own ``#history#target``
partition ordered by the run's time — and a read asks for the record only, 2,000 to a page. So a
year is one indexed range scan on SQLite and five Query calls (~2.5 MB, ~320 read units eventually
consistent) on DynamoDB. The times printed are this machine's; the DynamoDB figure is against moto on
127.0.0.1 in this process (its server's CPU counts), so it says the reads are few, not how fast AWS is.
"""

from __future__ import annotations

import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from msgspec import Struct

import support  # noqa: F401 - puts the checker on sys.path
from imagewatch.alerts.dynamodb_store import DynamoDbStore, history_item
from imagewatch.alerts.sqlite_store import SqliteStore
from imagewatch.history import RunRecord, encode_record, mttr, trend

RECORDS = 8_760
HOUR = 3_600_000
START = 1_767_225_600_000  # 2026-01-01T00:00:00Z
TARGET = "cn-north-4/0a1b2c3d4e5f60718293a4b5c6d7e8f9/0"
ROUNDS = 3


class HistoryResult(Struct):
    store: str
    seconds: float  # median of ROUNDS full reads
    reads: int  # page reads (Query calls) per full read; 0 where not counted
    records: int
    bytes: int  # encoded record bytes read
    stats_seconds: float  # trend per day + MTTR over 90 d on what was read


def year() -> list[RunRecord]:
    return [
        RunRecord(
            at=START + i * HOUR,
            target=TARGET,
            status="ok",
            records=120_000,
            images=30_000,
            open_by_severity={"critical": 12, "high": 400, "medium": 900, "low": 30},
            new=i % 5,
            resolved=i % 4,
            overdue=40,
            exempted=3,
            duration_ms=95_000,
            complete=True,
            fixed={"high": [i % 4, (i % 4) * 9 * 24 * HOUR, i % 4]} if i % 4 else {},
        )
        for i in range(RECORDS)
    ]


def _measure(name: str, store: Any, count_reads: Any = None) -> HistoryResult:
    times, reads = [], 0
    records: list[RunRecord] = []
    for _ in range(ROUNDS):
        before = count_reads() if count_reads else 0
        began = time.perf_counter()
        records = list(store.history(TARGET, START))
        times.append(time.perf_counter() - began)
        reads = (count_reads() - before) if count_reads else 0
    assert len(records) == RECORDS
    began = time.perf_counter()
    trend(records, "day")
    mttr(records, records[-1].at, 90 * 24 * HOUR)
    stats = time.perf_counter() - began
    size = sum(len(encode_record(r)) for r in records)
    return HistoryResult(name, statistics.median(times), reads, len(records), size, stats)


def sqlite_run(records: list[RunRecord]) -> HistoryResult:
    with tempfile.TemporaryDirectory() as folder:
        store = SqliteStore(Path(folder) / "state.sqlite3")
        try:
            for record in records:
                store.append_history(record)
            return _measure("SQLite", store)
        finally:
            store.close()


def dynamodb_run(records: list[RunRecord]) -> HistoryResult | None:
    try:
        import boto3
        from moto.server import ThreadedMotoServer
    except ImportError:  # moto is a dev dependency
        return None
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server._server.server_address[:2]  # moto exposes no getter
        client = boto3.client(
            "dynamodb",
            region_name="eu-west-1",
            endpoint_url=f"http://{host}:{port}",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        client.create_table(
            TableName="ledger",
            AttributeDefinitions=[
                {"AttributeName": "target", "AttributeType": "S"},
                {"AttributeName": "fingerprint", "AttributeType": "S"},
            ],
            KeySchema=[
                {"AttributeName": "target", "KeyType": "HASH"},
                {"AttributeName": "fingerprint", "KeyType": "RANGE"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        for i in range(0, len(records), 25):
            batch = [{"PutRequest": {"Item": history_item(r)}} for r in records[i : i + 25]]
            client.batch_write_item(RequestItems={"ledger": batch})
        queries = [0]

        def counted(**_: Any) -> None:
            queries[0] += 1

        client.meta.events.register("after-call.dynamodb.Query", counted)
        return _measure("DynamoDB (moto, 127.0.0.1)", DynamoDbStore("ledger", client), lambda: queries[0])
    finally:
        server.stop()


def run() -> list[HistoryResult]:
    records = year()
    results = [sqlite_run(records)]
    dynamo = dynamodb_run(records)
    if dynamo is not None:
        results.append(dynamo)
    return results


def describe(result: HistoryResult) -> str:
    reads = f", {result.reads} Query calls" if result.reads else ", one indexed range"
    return (
        f"{result.store}: {result.records:,} records ({result.bytes / 1e6:.1f} MB,"
        f" {result.bytes / result.records:.0f} B each) in {result.seconds * 1000:.0f} ms{reads};"
        f" trend + MTTR on them {result.stats_seconds * 1000:.0f} ms"
    )


if __name__ == "__main__":
    print(f"== run history: a year of hourly records for one target (median of {ROUNDS} reads) ==")
    for result in run():
        print("  " + describe(result))
