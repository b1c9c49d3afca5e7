"""Run history through the deployed path (handler → check → store): each check appends one record
after its ledger writes and sends, with what resolved in it; dry runs, resends and test notifications
append nothing; a lost history write loses no alert and fails nothing."""

from __future__ import annotations

from pathlib import Path

from imagewatch.alerts.sqlite_store import SqliteStore
from imagewatch.emulator import Fleet
from imagewatch.history import RunRecord
from imagewatch.standins.webhook_sink import WebhookSink
from support.fault_harness import HOUR, Harness, fingerprint
from support.known_fleet import EXPECTED

NEW_EXPECTED = {("new", policy, fingerprint(policy, subject)) for policy, subject in EXPECTED}
DAY = 24 * HOUR


def alerts(sink: WebhookSink, index: int = -1) -> set[tuple[str, str, str]]:
    return {(a["kind"], a["policy_id"], a["fingerprint"]) for a in sink.received[index].json()["alerts"]}


def history(env: dict[str, str], target: str) -> list[RunRecord]:
    store = SqliteStore(Path(env["STATE_PATH"]))
    try:
        return list(store.history(target, 0))
    finally:
        store.close()


def test_each_check_appends_one_record_with_what_it_fixed(
    harness: Harness, env: dict[str, str], fleet: Fleet
) -> None:
    first = harness.invoke().summary
    harness.clock.advance(2 * DAY)
    fleet.delete(["b@h1"])  # the one critical violation is fixed two days later
    second = harness.invoke().summary
    assert second["resolved"] == 1
    one, two = history(env, first["target"])
    assert one.at == int(harness.clock.now * 1000) - 2 * DAY * 1000 and one.target == first["target"]
    assert (one.status, one.complete, one.new, one.resolved, one.fixed) == ("ok", True, len(EXPECTED), 0, {})
    assert sum(one.open_by_severity.values()) == len(EXPECTED)
    assert (one.records, one.images) == (first["records_read"], first["images"])
    assert (two.new, two.resolved) == (0, 1)
    assert two.fixed == {"critical": [1, two.at - one.at, 1]}  # two days, within critical's 7 d
    assert sum(two.open_by_severity.values()) == len(EXPECTED) - 1
    assert two.overdue == second.get("overdue", {}).get("total", 0)


def test_dry_runs_resends_and_test_notifications_append_nothing(
    harness: Harness, env: dict[str, str]
) -> None:
    target = harness.invoke({"source": "manual", "action": "check", "dry_run": True}).summary["target"]
    harness.invoke({"source": "manual", "action": "test-notification"})
    assert history(env, target) == []
    harness.invoke()
    harness.clock.advance(HOUR)
    harness.invoke({"source": "manual", "action": "resend", "channel": "default"})
    assert len(history(env, target)) == 1


def test_a_lost_history_write_loses_no_alert(
    harness: Harness, sink: WebhookSink, env: dict[str, str]
) -> None:
    harness.store_faults.arm("history")
    lost = harness.invoke()
    assert lost.error is None and harness.store_faults.tripped == ["history"]
    summary = lost.summary
    assert summary["status"] == "ok" and summary["notifications"]["sent"] == 1
    assert alerts(sink) == NEW_EXPECTED  # every alert went out...
    [problem] = [p for p in summary["problems"] if "run history" in p]
    assert problem.startswith("run history not written") and "injected at history" in problem
    harness.clock.advance(HOUR)
    again = harness.invoke().summary
    assert again["new"] == 0 and again["notifications"]["sent"] == 0  # ...and was recorded as sent
    assert len(sink.received) == 1
    [kept] = history(env, summary["target"])  # the next run's record; the lost one is a gap, no more
    assert kept.at == int(harness.clock.now * 1000) and kept.new == 0
    assert not [p for p in again["problems"] if "run history" in p]
