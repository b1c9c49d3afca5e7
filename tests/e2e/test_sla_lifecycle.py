"""One critical violation's SLA life over eleven simulated days, end to end (docs/sla.md's worked
example): the real handler against the HSS emulator and a stand-in of every chat platform, plus an
escalation channel, with the run's clock moved by the test (``support.fault_harness``: nothing sleeps).

Found (due in 7 d) → a day before due every digest says "due in 1 d" → past due every channel hears
OVERDUE once, "overdue by 1 h", listed before a newer item → an exemption for 2 days stops the clock:
no word about it, not even to the escalation channel it would have reached → it lapses: open again,
due 2 days later (``imagewatch violations --format json``) → the escalation channel (``overdue_by``
1 d) hears it once it is a day past the moved due date → fixed late: RESOLVED, ``within_sla`` false in
the report, and the run history's ``fixed`` counts it outside its SLA (the newer one inside).
"""

from __future__ import annotations

import contextlib
import html
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from imagewatch.alerts.digest import HEADER
from imagewatch.alerts.sqlite_store import SqliteStore
from imagewatch.emulator import Fleet
from imagewatch.standins.chat.base import strings
from imagewatch.standins.webhook_sink import WebhookSink
from support import reports
from support.fault_harness import Harness, RunClock, fingerprint

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
PLATFORMS = ("slack", "teams", "feishu", "dingtalk", "wecom", "discord", "googlechat", "generic")
SIGNED = {"feishu", "dingtalk", "generic"}
SECRET = "sla-lifecycle-signing-secret"
ESCALATION = "lead"  # a security lead's channel: critical items overdue by at least a day
POLICY = "malware"
LATE, NEWER = "zz/payments", "aa/frontend"  # the late one sorts last by name: overdue-first must move it
EVENT = {"source": "manual", "action": "check"}
# the clock: hour-aligned and placed so the run at day 9 + 3 h is now (within the hour), so that
# ``imagewatch violations`` (the real clock) sees the ledger as that run left it
T0_MS = (int(time.time() * 1000) // HOUR_MS) * HOUR_MS - (9 * DAY_MS + 3 * HOUR_MS)


def record(image: str, host: str, malicious: int) -> dict[str, Any]:
    return {
        "image_id": image.replace("/", "-"),
        "image_name": image,
        "image_version": "1.0",
        "host_id": host,
        "host_name": f"node-{host}",
        "scan_status": "success",
        "severity_level": "Low",
        "malicious_file_num": malicious,
        "latest_scan_time": T0_MS - HOUR_MS,
        "latest_update_time": T0_MS - DAY_MS,
    }


def policy(exempt: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    document: dict[str, Any] = {
        "id": POLICY,
        "title": "Malicious files",
        "severity": "critical",
        "where": {"field": "malicious_file_num", "op": "gt", "value": 0},
        "message": "{image_name} holds malicious files",
    }
    return document | ({"exempt": exempt} if exempt else {})


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def fleet() -> Fleet:
    """Overrides the e2e fleet: one image with malicious files (``LATE``)."""
    return Fleet.from_records([record(LATE, "h1", 2)])


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    """Overrides the e2e pack: one critical rule (7 d to fix by default)."""
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / f"{POLICY}.json").write_text(json.dumps(policy()))
    return folder


@pytest.fixture
def sinks() -> Iterator[dict[str, WebhookSink]]:
    with contextlib.ExitStack() as stack:
        sinks = {
            name: stack.enter_context(
                WebhookSink(
                    name,
                    secret=SECRET if name in SIGNED else None,
                    keywords=(HEADER,) if name in ("feishu", "dingtalk") else (),
                )
            )
            for name in PLATFORMS
        }
        sinks[ESCALATION] = stack.enter_context(WebhookSink("generic", secret=SECRET))
        yield sinks


@pytest.fixture
def harness(env: dict, sinks: dict[str, WebhookSink], monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    channels: list[dict[str, Any]] = [
        {"name": name, "platform": name, "url": f"${{CHANNEL_{name.upper()}_URL}}"}
        | ({"secret": "${CHAT_SECRET}"} if name in SIGNED else {})
        for name in PLATFORMS
    ]
    channels.append(
        {
            "name": ESCALATION,
            "platform": "generic",
            "url": f"${{CHANNEL_{ESCALATION.upper()}_URL}}",
            "secret": "${CHAT_SECRET}",
            "min_severity": "critical",
            "overdue_by": "1d",
        }
    )
    monkeypatch.delenv("WEBHOOK_URL")
    monkeypatch.delenv("WEBHOOK_SECRET")
    monkeypatch.setenv("CHANNELS_JSON", json.dumps({"channels": channels}))
    monkeypatch.setenv("CHAT_SECRET", SECRET)
    for name, sink in sinks.items():
        monkeypatch.setenv(f"CHANNEL_{name.upper()}_URL", sink.url)
    yield Harness(sinks, clock=RunClock(T0_MS / 1000), loopback_transport=True).install(monkeypatch)


class Timeline:
    """Runs the handler at ``T0 + offset`` and reads back what each stand-in accepted in that run."""

    def __init__(self, harness: Harness, sinks: dict[str, WebhookSink]) -> None:
        self.harness, self.sinks = harness, sinks

    def run(self, at_ms: int) -> tuple[dict[str, Any], dict[str, list[Any]]]:
        self.harness.clock.now = (T0_MS + at_ms) / 1000
        record = self.harness.invoke(EVENT)
        assert record.error is None, record.error
        assert record.summary is not None and record.summary["status"] == "ok", record.summary
        return record.summary, {name: record.messages(self.sinks, name) for name in self.sinks}


def alerts(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A generic body's alerts by fingerprint."""
    return {alert["fingerprint"]: alert for alert in body["alerts"]}


def text(body: object) -> str:
    """Every string of a body as a reader sees it: entities (Feishu's ``&#40;``) and markdown escapes
    undone."""
    return html.unescape(strings(body)).replace("\\", "")


def violations_json(env: dict[str, str]) -> dict[str, dict[str, Any]]:
    """``imagewatch violations --format json`` (the real CLI, the real clock) by fingerprint."""
    done = subprocess.run(
        [sys.executable, "-m", "imagewatch.cli", "violations", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    return {row["fingerprint"]: row for row in json.loads(done.stdout)}


def test_a_critical_violation_due_overdue_paused_escalated_and_fixed_late(
    harness: Harness, sinks: dict[str, WebhookSink], hss: Any, policy_dir: Path, tmp_path: Path
) -> None:
    timeline = Timeline(harness, sinks)
    late_fp, newer_fp = (fingerprint(POLICY, image.replace("/", "-")) for image in (LATE, NEWER))
    chats = [name for name in PLATFORMS if name != "generic"]

    # day 0: found, due in 7 d; every channel but the escalation one hears NEW
    summary, got = timeline.run(0)
    assert summary["new"] == 1 and summary["overdue"]["total"] == 0
    assert {name for name, bodies in got.items() if bodies} == set(PLATFORMS)
    first = alerts(got["generic"][0])[late_fp]
    assert first["kind"] == "new" and first["due_at"] == iso(T0_MS + 7 * DAY_MS) and not first["overdue"]

    # day 6: a day before due, the reminder says it falls due soon
    summary, got = timeline.run(6 * DAY_MS)
    assert got[ESCALATION] == []
    for name in chats:
        (body,) = got[name]
        assert f"due in 1 d ({iso(T0_MS + 7 * DAY_MS)[:10]})" in text(body), name
    assert alerts(got["generic"][0])[late_fp]["kind"] == "reminder"

    # day 7 + 1 h: overdue. Each channel hears OVERDUE once, "overdue by 1 h", before a new item that
    # its name would put first
    hss.fleet.insert([record(NEWER, "h2", 1)])
    summary, got = timeline.run(7 * DAY_MS + HOUR_MS)
    assert summary["overdue"] == {"total": 1, "by_severity": {"critical": 1}}
    assert got[ESCALATION] == [], "overdue by 1 h is not overdue by a day"
    for name in chats:
        (body,) = got[name]
        said = text(body)
        assert "OVERDUE" in said and "overdue by 1 h" in said, name
        assert said.index(LATE) < said.index(NEWER), f"{name}: the overdue item is not listed first"
    (body,) = got["generic"]
    assert [a["fingerprint"] for a in body["alerts"]] == [late_fp, newer_fp]
    assert [a["kind"] for a in body["alerts"]] == ["overdue", "new"]
    assert body["alerts"][0]["overdue"] and body["alerts"][0]["overdue_ms"] == HOUR_MS

    # an hour later: nothing new to say (the overdue is not said twice)
    summary, got = timeline.run(7 * DAY_MS + 2 * HOUR_MS)
    assert summary["overdue"]["total"] == 1 and not any(got.values())

    # day 7 + 3 h: an exemption for 2 days stops its clock: not open, not overdue, no word about it
    lapses = T0_MS + 9 * DAY_MS + 3 * HOUR_MS
    exempt = [{"where": {"field": "image_name", "op": "eq", "value": LATE}, "reason": "vendor fix due",
               "expires": iso(lapses)}]  # fmt: skip
    (policy_dir / f"{POLICY}.json").write_text(json.dumps(policy(exempt)))
    summary, got = timeline.run(7 * DAY_MS + 3 * HOUR_MS)
    assert (summary["exempted_open"], summary["overdue"]["total"], summary["resolved"]) == (1, 0, 0)
    assert not any(got.values())
    # day 8 + 3 h: still exempted. The newer one is reminded; the paused one is in no message, and the
    # escalation channel (which a running clock would have reached: 1 d 3 h late) hears nothing
    summary, got = timeline.run(8 * DAY_MS + 3 * HOUR_MS)
    assert summary["exempted_open"] == 1 and summary["overdue"]["total"] == 0
    assert got[ESCALATION] == []
    for name in PLATFORMS:
        (body,) = got[name]
        assert NEWER in text(body) and LATE not in text(body), name
    assert set(violations_json(dict(os.environ))) == {newer_fp}, "an exempted violation is not listed as open"

    # day 9 + 3 h: the exemption lapsed. Open again, due 2 days later (day 9), 3 h late; channels that
    # were told are reminded, never told NEW or OVERDUE again
    summary, got = timeline.run(9 * DAY_MS + 3 * HOUR_MS)
    assert summary["exempted_open"] == 0 and summary["overdue"]["total"] == 1 and summary["new"] == 0
    assert got[ESCALATION] == []
    body = got["generic"][0]
    resumed = alerts(body)[late_fp]
    assert resumed["kind"] == "reminder" and resumed["due_at"] == iso(T0_MS + 9 * DAY_MS)
    assert resumed["overdue_ms"] == 3 * HOUR_MS
    for name in chats:
        (body,) = got[name]
        assert "overdue by 3 h" in text(body) and "NEW" not in text(body), name
    listed = violations_json(dict(os.environ))
    assert listed[late_fp]["due_at"] == iso(T0_MS + 9 * DAY_MS) and listed[late_fp]["overdue"] is True
    assert listed[late_fp]["first_seen"] == iso(T0_MS) and listed[late_fp]["overdue_s"] >= 3 * 3600
    assert listed[newer_fp]["due_at"] == iso(T0_MS + 14 * DAY_MS + HOUR_MS)
    assert listed[newer_fp]["overdue"] is False
    row = {r["fingerprint"]: r for r in reports.rows(summary)}[late_fp]
    assert row["due_at"] == T0_MS + 9 * DAY_MS and row["overdue"] and row["overdue_ms"] == 3 * HOUR_MS

    # overdue by 23 h: not yet the lead's; by a day and an hour: the lead hears OVERDUE, once
    _, got = timeline.run(9 * DAY_MS + 23 * HOUR_MS)
    assert got[ESCALATION] == []
    _, got = timeline.run(10 * DAY_MS + HOUR_MS)
    (body,) = got[ESCALATION]
    assert [(a["kind"], a["fingerprint"]) for a in body["alerts"]] == [("overdue", late_fp)]
    assert body["alerts"][0]["overdue_ms"] == DAY_MS + HOUR_MS
    assert not any(got[name] for name in PLATFORMS), "the others were reminded 22 h ago"
    _, got = timeline.run(10 * DAY_MS + 2 * HOUR_MS)
    assert not any(got.values())

    # day 11: both fixed. RESOLVED everywhere told; the late one outside its SLA, the newer one inside
    for image in (LATE, NEWER):
        hss.fleet.update(f"{image.replace('/', '-')}@{'h1' if image == LATE else 'h2'}", malicious_file_num=0)
    summary, got = timeline.run(11 * DAY_MS)
    assert summary["resolved"] == 2 and summary["overdue"]["total"] == 0
    for name in PLATFORMS:
        (body,) = got[name]
        assert "RESOLVED" in text(body) or name == "generic", name
    assert {(a["kind"], a["fingerprint"]) for a in got["generic"][0]["alerts"]} == {
        ("resolved", late_fp),
        ("resolved", newer_fp),
    }
    (body,) = got[ESCALATION]
    assert [(a["kind"], a["fingerprint"]) for a in body["alerts"]] == [("resolved", late_fp)]
    resolved = {r["fingerprint"]: r for r in reports.rows(summary) if r["status"] == "resolved"}
    assert resolved[late_fp]["within_sla"] is False and resolved[newer_fp]["within_sla"] is True
    assert resolved[late_fp]["due_at"] == T0_MS + 9 * DAY_MS

    store = SqliteStore(str(tmp_path / "state.sqlite3"))
    try:
        history = list(store.history(summary["target"], 0))
    finally:
        store.close()
    last = history[-1]
    assert last.at == T0_MS + 11 * DAY_MS and last.resolved == 2
    late_fix = 11 * DAY_MS - 2 * DAY_MS  # 11 d open, 2 d of them exempted: 9 d against its 7 d
    newer_fix = 11 * DAY_MS - (7 * DAY_MS + HOUR_MS)
    assert last.fixed == {"critical": [2, late_fix + newer_fix, 1]}
    paused = [record for record in history if record.at == T0_MS + 8 * DAY_MS + 3 * HOUR_MS]
    assert [(r.exempted, r.overdue) for r in paused] == [(1, 0)]
