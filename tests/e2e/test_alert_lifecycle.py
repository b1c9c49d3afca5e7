"""Alert lifecycle across runs with a fixed clock and two routed channels (CHANNELS_FILE)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from imagewatch.emulator import Emulator, Fleet
from imagewatch.handler import build_deps
from imagewatch.request import RunRequest
from imagewatch.run import check
from imagewatch.settings import Settings
from imagewatch.standins.webhook_sink import WebhookSink
from imagewatch.violation import fingerprint
from support.known_fleet import EXPECTED

HOUR = 3600.0
CRITICAL = {pair for pair in EXPECTED if pair[0] == "malicious-files"}


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def sinks() -> Iterator[tuple[WebhookSink, WebhookSink]]:
    with WebhookSink("generic") as ops, WebhookSink("generic") as oncall:
        yield ops, oncall


@pytest.fixture
def settings_env(env: dict, sinks: tuple[WebhookSink, WebhookSink], tmp_path: Path) -> dict:
    ops, oncall = sinks
    channels = tmp_path / "channels.json"
    channels.write_text(
        json.dumps(
            {
                "channels": [
                    {"name": "ops", "url": "${OPS_URL}"},
                    {"name": "oncall", "url": "${ONCALL_URL}", "min_severity": "critical"},
                ]
            }
        )
    )
    resolved = {**env, "CHANNELS_FILE": str(channels), "OPS_URL": ops.url, "ONCALL_URL": oncall.url}
    resolved.pop("WEBHOOK_URL")
    resolved.pop("WEBHOOK_SECRET")
    return resolved


def run(settings_env: dict, clock: Clock, **request: object) -> dict:
    deps = build_deps(Settings.from_env(settings_env), settings_env)
    deps.clock = clock
    try:
        return check(RunRequest("manual", **request), deps)
    finally:
        deps.hss.close()
        deps.deliverer.close()
        deps.store.close()


def kinds(sink: WebhookSink, index: int = -1) -> set[tuple[str, str]]:
    return {(a["kind"], a["fingerprint"]) for a in sink.received[index].json()["alerts"]}


def fps(pairs: set[tuple[str, str]]) -> set[str]:
    return {fingerprint(*pair) for pair in pairs}


def test_new_then_reminder_after_the_interval_then_resolved(settings_env: dict, sinks, fleet: Fleet) -> None:
    ops, oncall = sinks
    clock = Clock()
    first = run(settings_env, clock)
    assert first["notifications"]["sent"] == 2
    assert kinds(ops) == {("new", fp) for fp in fps(EXPECTED)}
    assert kinds(oncall) == {("new", fp) for fp in fps(CRITICAL)}  # routed: critical only

    clock.now += HOUR
    assert run(settings_env, clock)["notifications"]["sent"] == 0

    clock.now += 23 * HOUR  # 24 h after they were told
    reminded = run(settings_env, clock)
    assert reminded["notifications"]["sent"] == 2
    assert kinds(ops) == {("reminder", fp) for fp in fps(EXPECTED)}
    assert ops.received[-1].json()["title"] == f"imagewatch compliance: {len(EXPECTED)} reminder"

    fleet.delete(["b@h1"])
    clock.now += HOUR
    cleared = run(settings_env, clock)
    gone = fingerprint("malicious-files", "b")
    assert kinds(ops) == {("resolved", gone)} and kinds(oncall) == {("resolved", gone)}
    assert (
        cleared["resolved"] == 1 and len(ops.received) == 3 and len(oncall.received) == 3
    )  # new, reminder, resolved


def test_a_failing_channel_gets_its_alerts_next_run_and_the_healthy_one_is_not_told_twice(
    settings_env: dict, sinks
) -> None:
    ops, oncall = sinks
    clock = Clock()
    oncall.fail_next(1, 400, b"rejected")
    first = run(settings_env, clock)
    outcome = {c["channel"]: c["ok"] for c in first["notifications"]["channels"]}
    assert outcome == {"ops": True, "oncall": False}
    clock.now += 60
    second = run(settings_env, clock)
    assert [c["channel"] for c in second["notifications"]["channels"]] == ["oncall"]
    assert len(ops.received) == 1 and kinds(oncall) == {("new", fp) for fp in fps(CRITICAL)}


def test_two_overlapping_runs_send_each_alert_once(settings_env: dict, sinks, hss: Emulator) -> None:
    ops, oncall = sinks
    hss.faults.slow(20.0, times=1)  # hold the first run's first page until we wake it
    first: list[dict] = []
    thread = threading.Thread(target=lambda: first.append(run(settings_env, Clock())))
    thread.start()
    hss.wait_for(lambda stats: stats.in_flight == 1)  # the first run holds the lease and is mid-fetch
    second = run(settings_env, Clock())
    hss.wake()
    thread.join(timeout=60)
    assert second["status"] == "skipped" and "is being checked by run" in second["errors"][0]
    assert first[0]["status"] == "ok" and first[0]["notifications"]["sent"] == 2
    assert len(ops.received) == 1 and len(oncall.received) == 1


def test_test_notification_reaches_every_channel_and_changes_nothing(settings_env: dict, sinks) -> None:
    summary = run(settings_env, Clock(), action="test-notification")
    assert summary["status"] == "ok" and summary["notifications"]["sent"] == 2
    for sink in sinks:
        body = sink.received[-1].json()
        assert body["title"] == "imagewatch compliance: test notification — this channel is set up"
        assert body["alerts"] == []
    assert run(settings_env, Clock())["new"] == len(EXPECTED)  # the ledger was untouched


def test_resend_sends_everything_open_to_one_channel(settings_env: dict, sinks) -> None:
    ops, oncall = sinks
    clock = Clock()
    run(settings_env, clock)
    clock.now += 60
    resent = run(settings_env, clock, action="resend", channel="ops")
    assert [c["channel"] for c in resent["notifications"]["channels"]] == ["ops"]
    assert kinds(ops) == {("reminder", fp) for fp in fps(EXPECTED)}
    assert len(oncall.received) == 1


def test_a_policy_subset_evaluates_only_those_policies(settings_env: dict, sinks) -> None:
    ops, _ = sinks
    summary = run(settings_env, Clock(), policy_ids=("malicious-files",))
    assert summary["policies"]["evaluated"] == ["malicious-files"]
    assert kinds(ops) == {("new", fp) for fp in fps(CRITICAL)}
    missing = run(settings_env, Clock(), policy_ids=("no-such-policy",))
    assert missing["errors"] == ["policy 'no-such-policy' requested but not loaded"]
