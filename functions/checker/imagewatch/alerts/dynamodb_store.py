"""The alert ledger in DynamoDB (boto3): one item per violation, partitioned by target.

Key design: partition key ``target`` (region/project/enterprise project), sort key ``fingerprint``.
The run's lease is the item with sort key ``#lease``, taken with a conditional put, so two
overlapping runs of one target cannot both send. Every item carries ``expires_at`` (epoch seconds)
for DynamoDB TTL: open entries are refreshed at least daily while they fire; an entry that is
abandoned — its policy deleted, its target no longer checked, a resolved notice never confirmed —
disappears ``ttl_days`` after it was last written. Finished entries are deleted at once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from imagewatch.alerts.ledger import LedgerEntry
from imagewatch.alerts.store import LeaseHeldError, StateStoreError, entry_from_row, entry_to_row

LEASE_KEY = "#lease"
BATCH = 25  # BatchWriteItem's limit
MAX_BATCH_ROUNDS = 8


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

    def load(self, target: str) -> dict[str, LedgerEntry]:
        from botocore.exceptions import BotoCoreError, ClientError

        entries: dict[str, LedgerEntry] = {}
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "target = :t",
            "ExpressionAttributeValues": {":t": {"S": target}},
            "ConsistentRead": True,
        }
        try:
            while True:
                answer = self._client.query(**request)
                for item in answer.get("Items", []):
                    if item["fingerprint"]["S"] == LEASE_KEY:
                        continue
                    entry = entry_from_row(_from_item(item))
                    entries[entry.fingerprint] = entry
                if "LastEvaluatedKey" not in answer:
                    return entries
                request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
        except (ClientError, BotoCoreError) as exc:
            raise self._fail("read the ledger", exc) from None
        except (KeyError, ValueError, TypeError) as exc:
            raise StateStoreError(f"state table {self.table_name}: unreadable ledger item ({exc})") from None

    def save(self, target: str, entries: Iterable[LedgerEntry]) -> None:
        requests = [{"PutRequest": {"Item": self._to_item(target, entry)}} for entry in entries]
        self._batch(requests, "write the ledger")

    def forget(self, target: str, fingerprints: Iterable[str]) -> None:
        requests = [
            {"DeleteRequest": {"Key": {"target": {"S": target}, "fingerprint": {"S": fp}}}}
            for fp in fingerprints
        ]
        self._batch(requests, "write the ledger")

    def _batch(self, requests: list[dict[str, Any]], action: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        for start in range(0, len(requests), BATCH):
            pending = requests[start : start + BATCH]
            for _ in range(MAX_BATCH_ROUNDS):
                try:
                    answer = self._client.batch_write_item(RequestItems={self.table_name: pending})
                except (ClientError, BotoCoreError) as exc:
                    raise self._fail(action, exc) from None
                pending = answer.get("UnprocessedItems", {}).get(self.table_name, [])
                if not pending:
                    break
            else:
                raise StateStoreError(
                    f"state table {self.table_name}: cannot {action}: throttled (unprocessed)"
                )

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

    def close(self) -> None:
        return None


def _from_item(item: dict[str, Any]) -> dict[str, object]:
    out: dict[str, object] = {}
    for name, value in item.items():
        if "S" in value:
            out[name] = value["S"]
        elif "N" in value:
            out[name] = int(value["N"])
    return out
