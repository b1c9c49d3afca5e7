"""The alert ledger in DynamoDB (boto3): one item per violation, partitioned by target.

Key design: partition key ``target`` (region/project/enterprise project), sort key ``fingerprint``.
The run's lease is the item with sort key ``#lease``, taken with a conditional put, so two
overlapping runs of one target cannot both send. Every item carries ``expires_at`` (epoch seconds)
for DynamoDB TTL: open entries are refreshed at least daily while they fire; an entry that is
abandoned — its policy deleted, its target no longer checked, a resolved notice never confirmed —
disappears ``ttl_days`` after it was last written. Finished entries are deleted at once.

Reads are Query pages in sort-key (fingerprint) order, each capped by ``Limit`` and by DynamoDB's
1 MB per page, resumed from ``LastEvaluatedKey``; writes are BatchWriteItem calls of 25, taken from the
caller's iterable as it goes.

Run history (``history.py``) lives in its own partition per target, ``#history#<target>``, one item
per run with sort key ``#`` + the run's ``at`` (ms, zero-padded so text order is time order) and the
record as compact JSON: the ledger's ``scan`` (another partition) and ``forget`` (fingerprints) never
meet it, and reading a period is one Query range on the sort key. History items expire
``HISTORY_TTL_DAYS`` (400) after their run, through the same ``expires_at`` TTL attribute.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from imagewatch.alerts.ledger import LedgerEntry
from imagewatch.alerts.store import (
    DEFAULT_PAGE_SIZE,
    ENTRY_FIELDS,
    HISTORY_PAGE_SIZE,
    LeaseHeldError,
    StateStoreError,
    check_page_size,
    chunked,
    entry_from_row,
    entry_to_row,
)
from imagewatch.history import HISTORY_TTL_DAYS, RunRecord, decode_record, encode_record

LEASE_KEY = "#lease"
MARKER_PREFIX = "#marker#"  # markers share the partition; "#" sorts before every fingerprint
HISTORY_PARTITION = "#history#"  # + target: a partition of its own, which no ledger read touches
HISTORY_AT_DIGITS = 15  # ms since the epoch, zero-padded: text order is time order until year 33658
BATCH = 25  # BatchWriteItem's limit
MAX_BATCH_ROUNDS = 8
# Every projected name goes through a placeholder: ``status`` is a DynamoDB reserved word.
_PROJECTION_NAMES = {f"#f{i}": name for i, name in enumerate(ENTRY_FIELDS)}
_PROJECTION = ", ".join(_PROJECTION_NAMES)


class DynamoDbStore:
    """``StateStore`` over a DynamoDB table (needs Query, PutItem, DeleteItem, BatchWriteItem)."""

    def __init__(self, table_name: str, client: Any, *, ttl_days: int = 30) -> None:
        self.table_name = table_name
        self._client = client  # a boto3 DynamoDB client, created once per container by the caller
        self.ttl_s = ttl_days * 86_400

    def __repr__(self) -> str:
        return f"DynamoDbStore({self.table_name!r})"

    def _fail(self, action: str, exc: Exception) -> StateStoreError:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", exc.__class__.__name__)
        return StateStoreError(f"state table {self.table_name}: cannot {action}: {code}")

    def acquire(self, target: str, run_id: str, now_ms: int, ttl_ms: int) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._client.put_item(
                TableName=self.table_name,
                Item={
                    "target": {"S": target},
                    "fingerprint": {"S": LEASE_KEY},
                    "run_id": {"S": run_id},
                    "until_ms": {"N": str(now_ms + ttl_ms)},
                    "expires_at": {"N": str((now_ms + ttl_ms) // 1000 + self.ttl_s)},
                },
                ConditionExpression="attribute_not_exists(target) OR until_ms < :now OR run_id = :run",
                ExpressionAttributeValues={":now": {"N": str(now_ms)}, ":run": {"S": run_id}},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                holder = self._lease(target)
                raise LeaseHeldError(target, *holder) from None
            raise self._fail("take the lease", exc) from None
        except BotoCoreError as exc:
            raise self._fail("take the lease", exc) from None

    def _lease(self, target: str) -> tuple[str, int]:
        try:
            item = self._client.get_item(
                TableName=self.table_name,
                Key={"target": {"S": target}, "fingerprint": {"S": LEASE_KEY}},
                ConsistentRead=True,
            ).get("Item", {})
        except Exception:  # only enriches the message of a refusal already decided
            return "(unknown)", 0
        return item.get("run_id", {}).get("S", "(unknown)"), int(item.get("until_ms", {}).get("N", "0"))

    def release(self, target: str, run_id: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._client.delete_item(
                TableName=self.table_name,
                Key={"target": {"S": target}, "fingerprint": {"S": LEASE_KEY}},
                ConditionExpression="run_id = :run",
                ExpressionAttributeValues={":run": {"S": run_id}},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise self._fail("release the lease", exc) from None
        except BotoCoreError as exc:
            raise self._fail("release the lease", exc) from None

    def scan(self, target: str, *, page_size: int = DEFAULT_PAGE_SIZE) -> Iterator[LedgerEntry]:
        """Query pages of ``target`` (the sort key orders them by fingerprint), strongly consistent so
        a run sees the previous run's last writes, with only the attributes an entry needs (which
        trims the transfer, not the read units: DynamoDB charges and caps a page by whole items)."""
        return self._pages(target, check_page_size(page_size))

    def _pages(self, target: str, limit: int) -> Iterator[LedgerEntry]:
        from botocore.exceptions import BotoCoreError, ClientError

        request: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "#target = :t",
            "ExpressionAttributeNames": {"#target": "target", **_PROJECTION_NAMES},
            "ExpressionAttributeValues": {":t": {"S": target}},
            "ProjectionExpression": _PROJECTION,
            "ConsistentRead": True,
            "Limit": limit,
        }
        while True:
            try:
                answer = self._client.query(**request)
            except (ClientError, BotoCoreError) as exc:
                raise self._fail("read the ledger", exc) from None
            for item in answer.get("Items", []):
                if item.get("fingerprint", {}).get("S", "").startswith("#"):  # the lease, markers
                    continue
                try:
                    entry = entry_from_row(_from_item(item))
                except (KeyError, ValueError, TypeError) as exc:
                    raise StateStoreError(
                        f"state table {self.table_name}: unreadable ledger item ({exc})"
                    ) from None
                yield entry
            last = answer.get("LastEvaluatedKey")
            if not last:
                return
            request["ExclusiveStartKey"] = last

    def load(self, target: str) -> dict[str, LedgerEntry]:
        return {entry.fingerprint: entry for entry in self.scan(target)}

    def save(self, target: str, entries: Iterable[LedgerEntry]) -> None:
        for chunk in chunked(entries, BATCH):
            # One batch may not name a key twice; the later entry wins, as a later write would.
            items = {entry.fingerprint: self._to_item(target, entry) for entry in chunk}
            self._batch([{"PutRequest": {"Item": item}} for item in items.values()], "write the ledger")

    def forget(self, target: str, fingerprints: Iterable[str]) -> None:
        for chunk in chunked(fingerprints, BATCH):
            keys = dict.fromkeys(chunk)
            requests = [
                {"DeleteRequest": {"Key": {"target": {"S": target}, "fingerprint": {"S": fp}}}} for fp in keys
            ]
            self._batch(requests, "write the ledger")

    def _batch(self, pending: list[dict[str, Any]], action: str) -> None:
        """One BatchWriteItem of at most ``BATCH`` requests, resending what DynamoDB left unprocessed."""
        from botocore.exceptions import BotoCoreError, ClientError

        for _ in range(MAX_BATCH_ROUNDS):
            try:
                answer = self._client.batch_write_item(RequestItems={self.table_name: pending})
            except (ClientError, BotoCoreError) as exc:
                raise self._fail(action, exc) from None
            pending = answer.get("UnprocessedItems", {}).get(self.table_name, [])
            if not pending:
                return
        raise StateStoreError(f"state table {self.table_name}: cannot {action}: throttled (unprocessed)")

    def _to_item(self, target: str, entry: LedgerEntry) -> dict[str, Any]:
        row = entry_to_row(entry)
        item: dict[str, Any] = {"target": {"S": target}}
        for name, value in row.items():
            if value is None:
                continue
            if name == "deliveries":
                item[name] = {"S": json.dumps(value, sort_keys=True)}
            elif isinstance(value, int):
                item[name] = {"N": str(value)}
            else:
                item[name] = {"S": str(value)}
        item["expires_at"] = {"N": str(entry.last_seen // 1000 + self.ttl_s)}
        return item

    def marker(self, target: str, name: str) -> str | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            item = self._client.get_item(
                TableName=self.table_name,
                Key={"target": {"S": target}, "fingerprint": {"S": MARKER_PREFIX + name}},
                ConsistentRead=True,
            ).get("Item")
        except (ClientError, BotoCoreError) as exc:
            raise self._fail("read a marker", exc) from None
        return None if item is None else item.get("value", {}).get("S")

    def set_marker(self, target: str, name: str, value: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._client.put_item(
                TableName=self.table_name,
                Item={
                    "target": {"S": target},
                    "fingerprint": {"S": MARKER_PREFIX + name},
                    "value": {"S": value},
                },
            )
        except (ClientError, BotoCoreError) as exc:
            raise self._fail("write a marker", exc) from None

    def append_history(self, record: RunRecord) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._client.put_item(TableName=self.table_name, Item=history_item(record))
        except (ClientError, BotoCoreError) as exc:
            raise self._fail("write the run history", exc) from None

    def history(
        self, target: str, since_ms: int, *, page_size: int = HISTORY_PAGE_SIZE
    ) -> Iterator[RunRecord]:
        """One Query range on the sort key of ``target``'s history partition, only ``record``
        projected, eventually consistent (half the read units of a strong read; history is a trend,
        not a ledger decision), in pages of ``page_size`` items (and at most 1 MB)."""
        return self._history_pages(target, since_ms, check_page_size(page_size))

    def _history_pages(self, target: str, since_ms: int, limit: int) -> Iterator[RunRecord]:
        from botocore.exceptions import BotoCoreError, ClientError

        request: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "#target = :t AND #key >= :from",
            "ExpressionAttributeNames": {"#target": "target", "#key": "fingerprint", "#record": "record"},
            "ExpressionAttributeValues": {
                ":t": {"S": HISTORY_PARTITION + target},
                ":from": {"S": history_sort_key(max(0, since_ms))},
            },
            "ProjectionExpression": "#record",
            "Limit": limit,
        }
        while True:
            try:
                answer = self._client.query(**request)
            except (ClientError, BotoCoreError) as exc:
                raise self._fail("read the run history", exc) from None
            try:
                page = [decode_record(item["record"]["S"]) for item in answer.get("Items", [])]
            except (KeyError, ValueError, TypeError) as exc:
                raise StateStoreError(
                    f"state table {self.table_name}: unreadable run history item ({exc})"
                ) from None
            yield from page
            last = answer.get("LastEvaluatedKey")
            if not last:
                return
            request["ExclusiveStartKey"] = last

    def close(self) -> None:
        return None


def history_item(record: RunRecord) -> dict[str, Any]:
    """A run record as its DynamoDB item (its own partition, its run's time as sort key, a TTL)."""
    return {
        "target": {"S": HISTORY_PARTITION + record.target},
        "fingerprint": {"S": history_sort_key(record.at)},
        "record": {"S": encode_record(record).decode()},
        "expires_at": {"N": str(record.at // 1000 + HISTORY_TTL_DAYS * 86_400)},
    }


def history_sort_key(at: int) -> str:
    """A history item's sort key: ``#`` and the run's ``at`` (ms), zero-padded."""
    return "#" + str(at).zfill(HISTORY_AT_DIGITS)


def _from_item(item: dict[str, Any]) -> dict[str, object]:
    out: dict[str, object] = {}
    for name, value in item.items():
        if "S" in value:
            out[name] = value["S"]
        elif "N" in value:
            out[name] = int(value["N"])
    return out
