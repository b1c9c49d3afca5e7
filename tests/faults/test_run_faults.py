"""Faults of the run itself: a crash between "sent" and "recorded", a killed process, two invocations
of the same scheduled time, and a state store that is unavailable — on SQLite and on DynamoDB (a real
moto server on 127.0.0.1).

What the design guarantees (docs/channels.md, docs/faults.md): the ledger is saved before anything is
sent, so a run never sends what it cannot record; a channel's confirmation is saved right after it says
yes, so a crash in between re-sends that one digest next run (at-least-once, never lost); the lease
keeps two runs of a target from both sending.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from imagewatch import aws
from imagewatch.alerts.store import StateStoreError
from imagewatch.emulator import Emulator, Fleet
from imagewatch.standins.webhook_sink import WebhookSink
from support import moto_support
from support.fault_harness import HOUR, Harness, InjectedStoreError, fingerprint
from support.known_fleet import EXPECTED
from support.moto_support import FAKE_CREDENTIALS, REGION, create_ledger_table

from .conftest import PLANTED

NEW_EXPECTED = {("new", policy, fingerprint(policy, subject)) for policy, subject in EXPECTED}
CRITICAL = {pair for pair in EXPECTED if pair[0] == "malicious-files"}
MINUTE = 60.0


def alerts(sink: WebhookSink, index: int = -1) -> set[tuple[str, str, str]]:
    return {(a["kind"], a["policy_id"], a["fingerprint"]) for a in sink.received[index].json()["alerts"]}


def two_channels(monkeypatch: pytest.MonkeyPatch, ops: WebhookSink, oncall: WebhookSink) -> None:
    monkeypatch.delenv("WEBHOOK_URL")
    monkeypatch.delenv("WEBHOOK_SECRET")
    channels = [
        {"name": "ops", "url": "${OPS_URL}", "secret": "${OPS_SECRET}"},
        {"name": "oncall", "url": "${ONCALL_URL}", "min_severity": "critical"},
    ]
    monkeypatch.setenv("CHANNELS_JSON", json.dumps({"channels": channels}))
    monkeypatch.setenv("OPS_URL", ops.url)
    monkeypatch.setenv("OPS_SECRET", PLANTED["WEBHOOK_SECRET"])
    monkeypatch.setenv("ONCALL_URL", oncall.url)


# -- the crash between "sent" and "recorded" -------------------------------------------------------


def test_a_crash_between_sent_and_recorded_resends_that_digest_once_and_loses_nothing(
    harness: Harness, sink: WebhookSink
) -> None:
    harness.store_faults.arm("save_after_send")
    crashed = harness.invoke()
    assert isinstance(crashed.error, InjectedStoreError) and crashed.crashed_after == "default"
    assert len(sink.received) == 1 and alerts(sink) == NEW_EXPECTED  # the platform had it
    harness.clock.advance(HOUR)
    again = harness.invoke().summary
    assert again["status"] == "ok" and again["new"] == 0 and again["notifications"]["sent"] == 1
    assert alerts(sink) == NEW_EXPECTED  # the one expected re-send: the ledger never heard the yes
    harness.clock.advance(HOUR)
    assert harness.invoke().summary["notifications"]["sent"] == 0 and len(sink.received) == 2


def test_a_crash_after_the_first_channel_confirms_leaves_the_second_due_and_resends_only_the_first(
    harness: Harness, sink: WebhookSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    with WebhookSink("generic", clock=harness.fake.wall) as oncall:
        two_channels(monkeypatch, sink, oncall)
        harness.store_faults.arm("save_after_send")
        crashed = harness.invoke()
        assert crashed.crashed_after == "ops" and oncall.attempts == 0  # the crash stopped the run
        harness.clock.advance(HOUR)
        again = harness.invoke().summary
        assert [c["channel"] for c in again["notifications"]["channels"]] == ["ops", "oncall"]
        assert [alerts(sink, 0), alerts(sink, 1)] == [NEW_EXPECTED, NEW_EXPECTED]  # ops: 1 re-send
        assert len(oncall.received) == 1
        assert alerts(oncall) == {("new", p, fingerprint(p, s)) for p, s in CRITICAL}


def test_a_killed_run_holds_the_lease_until_it_lapses_then_the_next_run_resends(
    harness: Harness, sink: WebhookSink
) -> None:
    harness.store_faults.arm("save_after_send", kill=True)  # the process dies: no finally, no release
    killed = harness.invoke()
    assert killed.crashed_after == "default" and len(sink.received) == 1
    harness.clock.advance(5 * MINUTE)
    skipped = harness.invoke().summary
    assert skipped["status"] == "skipped" and sink.attempts == 1
    assert "is being checked by run" in skipped["errors"][0]
    harness.clock.advance(16 * MINUTE)  # 21 minutes after the kill: the 20-minute lease has lapsed
    resumed = harness.invoke().summary
    assert resumed["status"] == "ok" and resumed["notifications"]["sent"] == 1
    assert alerts(sink) == NEW_EXPECTED and len(sink.received) == 2


# -- the state store unavailable ---------------------------------------------------------------------


@pytest.mark.parametrize("point", ["acquire", "load", "save"])
def test_a_store_failing_before_anything_is_sent_fails_the_run_loudly_and_sends_nothing(
    harness: Harness, sink: WebhookSink, hss: Emulator, point: str
) -> None:
    harness.store_faults.arm(point)
    failed = harness.invoke()
    assert isinstance(failed.error, StateStoreError)
    assert str(failed.error) == f"state store unavailable (injected at {point})"
    assert sink.attempts == 0  # nothing it could not record
    recovered = harness.invoke().summary
    assert recovered["status"] == "ok" and recovered["new"] == len(EXPECTED)
    assert alerts(sink) == NEW_EXPECTED and len(sink.received) == 1


def test_a_store_failing_on_the_reconcile_write_holds_back_a_resolved_notice_until_it_can_be_recorded(
    harness: Harness, sink: WebhookSink, fleet: Fleet
) -> None:
    harness.invoke()
    fleet.delete(["b@h1"])
    harness.store_faults.arm("save")
    assert isinstance(harness.invoke().error, StateStoreError) and len(sink.received) == 1
    healed = harness.invoke().summary
    assert healed["resolved"] == 1
    assert alerts(sink) == {("resolved", "malicious-files", fingerprint("malicious-files", "b"))}


def test_a_store_failing_after_everything_was_recorded_sends_nothing_twice(
    harness: Harness, sink: WebhookSink, fleet: Fleet
) -> None:
    harness.invoke()
    fleet.delete(["b@h1"])
    harness.store_faults.arm("forget")  # the finished entry cannot be dropped
    assert isinstance(harness.invoke().error, StateStoreError) and len(sink.received) == 2
    harness.store_faults.arm("release")  # the lease cannot be given back
    assert isinstance(harness.invoke().error, StateStoreError)
    harness.clock.advance(5 * MINUTE)
    assert harness.invoke().summary["status"] == "skipped"  # this run's own lease is still held
    harness.clock.advance(HOUR)
    after = harness.invoke().summary
    assert (after["status"], after["notifications"]["sent"], after["resolved"]) == ("ok", 0, 0)
    assert len(sink.received) == 2


def test_an_unusable_state_file_fails_before_contacting_anyone(
    harness: Harness, sink: WebhookSink, hss: Emulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the state folder should be")
    monkeypatch.setenv("STATE_PATH", str(blocker / "state.sqlite3"))
    failed = harness.invoke()
    assert isinstance(failed.error, StateStoreError) and str(blocker) in str(failed.error)
    assert sink.attempts == 0 and hss.stats.requests == 0
    monkeypatch.setenv("STATE_PATH", str(tmp_path / "state.sqlite3"))
    assert harness.invoke().summary["new"] == len(EXPECTED) and len(sink.received) == 1


# -- two invocations of one scheduled time ------------------------------------------------------------

EVENT = {"source": "schedule", "scheduled_time": "2026-01-01T06:00:00Z"}


def overlap(harness: Harness, hss: Emulator) -> tuple[Any, Any]:
    """Invoke twice with the same event; the second while the first holds the lease mid-fetch."""
    hss.faults.slow(20.0, times=1)
    first: list[Any] = []
    thread = threading.Thread(target=lambda: first.append(harness.invoke(EVENT)))
    thread.start()
    hss.wait_for(lambda stats: stats.in_flight == 1)
    second = harness.invoke(EVENT)
    hss.wake()
    thread.join(timeout=60)
    return first[0], second


def test_two_invocations_of_the_same_scheduled_time_send_once(
    harness: Harness, sink: WebhookSink, hss: Emulator
) -> None:
    first, second = overlap(harness, hss)
    assert second.summary["status"] == "skipped" and second.error is None
    assert second.summary["scheduled_time"] == EVENT["scheduled_time"]
    assert first.summary["status"] == "ok" and len(sink.received) == 1 and alerts(sink) == NEW_EXPECTED
    retried = harness.invoke(EVENT)  # Lambda's own retry of the same event, after the first finished
    assert retried.summary["notifications"]["sent"] == 0 and len(sink.received) == 1


# -- DynamoDB (moto) ----------------------------------------------------------------------------------


class FlakyDynamo:
    """A boto3 DynamoDB client that raises DynamoDB's own error for chosen calls (``fail[op] = [n, …]``:
    the n-th call of ``op``, counting from 1), and passes everything else through."""

    def __init__(self, inner: Any, fail: dict[str, list[int]]) -> None:
        self._inner = inner
        self._fail = fail
        self.calls: dict[str, int] = {}

    def __getattr__(self, name: str) -> Any:
        real = getattr(self._inner, name)
        if not callable(real):
            return real

        def call(*args: Any, **kwargs: Any) -> Any:
            from botocore.exceptions import ClientError

            self.calls[name] = self.calls.get(name, 0) + 1
            if self.calls[name] in self._fail.get(name, ()):
                error = {"Code": "ProvisionedThroughputExceededException", "Message": "Rate exceeded"}
                raise ClientError({"Error": error}, name)
            return real(*args, **kwargs)

        return call


@pytest.fixture
def dynamo(moto_server, harness: Harness, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """The ledger in a DynamoDB table on the moto server, shaped as template.yaml makes it."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.url)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", FAKE_CREDENTIALS["aws_access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", FAKE_CREDENTIALS["aws_secret_access_key"])
    aws.reset()
    client = moto_server.client("dynamodb")
    table = create_ledger_table(client)
    monkeypatch.setenv("STATE_TABLE", table)
    monkeypatch.delenv("STATE_PATH")
    fail: dict[str, list[int]] = {}
    clients: list[FlakyDynamo] = []

    def store(settings: Any) -> Any:
        from imagewatch.alerts.dynamodb_store import DynamoDbStore

        clients.append(FlakyDynamo(aws.client("dynamodb"), fail))
        return DynamoDbStore(settings.state_table, clients[-1], ttl_days=settings.ledger_ttl_days)

    harness.store_factory = store
    yield {"table": table, "client": client, "fail": fail, "clients": clients}
    aws.reset()


def ledger_items(dynamo: dict[str, Any]) -> list[dict[str, Any]]:
    return moto_support.ledger_items(dynamo["client"], dynamo["table"])


def test_dynamodb_throttled_after_a_send_resends_once_and_loses_nothing(
    dynamo: dict[str, Any], harness: Harness, sink: WebhookSink
) -> None:
    # 1, 2: the reconcile writes (one per query's policies: the pack reads two listings), 3: "sending",
    # 4: the confirmation
    dynamo["fail"]["batch_write_item"] = [4]
    crashed = harness.invoke()
    assert isinstance(crashed.error, StateStoreError)
    assert str(crashed.error) == (
        f"state table {dynamo['table']}: cannot write the ledger: ProvisionedThroughputExceededException"
    )
    assert len(sink.received) == 1 and len(ledger_items(dynamo)) == len(EXPECTED)  # lease released
    dynamo["fail"].clear()
    harness.clock.advance(HOUR)
    assert harness.invoke().summary["notifications"]["sent"] == 1 and alerts(sink) == NEW_EXPECTED
    harness.clock.advance(HOUR)
    assert harness.invoke().summary["notifications"]["sent"] == 0 and len(sink.received) == 2


@pytest.mark.parametrize("operation", ["put_item", "query", "batch_write_item"])
def test_dynamodb_unavailable_before_sending_fails_loudly_and_the_next_run_recovers(
    dynamo: dict[str, Any], harness: Harness, sink: WebhookSink, operation: str
) -> None:
    dynamo["fail"][operation] = [1]  # the lease, the ledger read, the reconcile write
    failed = harness.invoke()
    assert isinstance(failed.error, StateStoreError) and "ProvisionedThroughputExceededException" in str(
        failed.error
    )
    assert sink.attempts == 0
    dynamo["fail"].clear()
    assert harness.invoke().summary["new"] == len(EXPECTED) and alerts(sink) == NEW_EXPECTED
    assert len(sink.received) == 1


def test_dynamodb_lease_lets_one_of_two_overlapping_invocations_send(
    dynamo: dict[str, Any], harness: Harness, sink: WebhookSink, hss: Emulator
) -> None:
    first, second = overlap(harness, hss)
    assert second.summary["status"] == "skipped" and "is being checked by run" in second.summary["errors"][0]
    assert first.summary["status"] == "ok" and len(sink.received) == 1
    assert {item["fingerprint"]["S"] for item in ledger_items(dynamo)} == {
        fingerprint(p, s) for p, s in EXPECTED
    }  # the lease item is gone, every entry is there
