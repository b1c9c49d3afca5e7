"""One check run end to end: the handler, each shipped event, the emulator, a real webhook sink."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from imagewatch.emulator import Emulator, Fleet
from imagewatch.handler import lambda_handler
from imagewatch.local_context import LocalContext
from imagewatch.standins.webhook_sink import WebhookSink
from support import reports
from support.known_fleet import EXPECTED, ROOT

EVENTS = ROOT / "events"


def event(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


def invoke(name: str) -> dict:
    return lambda_handler(event(name), LocalContext())


def delivered(sink: WebhookSink, index: int = -1) -> set[tuple[str, str, str]]:
    body = sink.received[index].json()
    return {(alert["kind"], alert["policy_id"], alert["fingerprint"]) for alert in body["alerts"]}


def fingerprints(pairs: set[tuple[str, str]]) -> dict[tuple[str, str], str]:
    from imagewatch.violation import fingerprint

    return {pair: fingerprint(*pair) for pair in pairs}


@pytest.mark.parametrize("name", ["scheduled.json", "eventbridge-scheduled.json"])
def test_scheduled_events_deliver_exactly_the_known_violations(
    env: dict, sink: WebhookSink, name: str
) -> None:
    summary = invoke(name)
    assert summary["errors"] == [] and summary["problems"] == []
    assert summary["violations"]["total"] == len(EXPECTED) and summary["new"] == len(EXPECTED)
    assert summary["notifications"] == {
        "sent": 1,
        "failed": 0,
        "channels": [
            {
                "channel": "default",
                "platform": "generic",
                "ok": True,
                "attempts": 1,
                "detail": "delivered",
                "alerts": {"new": len(EXPECTED)},
            }
        ],
    }
    assert len(sink.received) == 1 and sink.rejected_signatures == 0
    expected = {("new", policy, fp) for (policy, _), fp in fingerprints(EXPECTED).items()}
    assert delivered(sink) == expected
    body = sink.received[0].json()
    assert body["open_by_severity"] == {"critical": 2, "high": 3, "medium": 3}
    assert [a["severity"] for a in body["alerts"]][:2] == ["critical", "critical"]


def test_dry_run_returns_the_digest_and_changes_nothing(env: dict, sink: WebhookSink) -> None:
    summary = invoke("dry-run.json")
    assert summary["dry_run"] and sink.attempts == 0 and "report" not in summary
    [digest] = summary["digests"]
    assert {(a["policy_id"], a["fingerprint"]) for a in digest["payload"]["alerts"]} == {
        (policy, fp) for (policy, _), fp in fingerprints(EXPECTED).items()
    }
    assert digest["payload"]["title"].startswith("[dry run] imagewatch compliance")
    # nothing was recorded: the first real run still finds everything new
    assert invoke("scheduled.json")["new"] == len(EXPECTED)


def test_second_run_over_an_unchanged_fleet_sends_nothing(env: dict, sink: WebhookSink) -> None:
    invoke("scheduled.json")
    again = invoke("scheduled.json")
    assert (again["new"], again["resolved"], again["still_open"]) == (0, 0, len(EXPECTED))
    assert again["notifications"]["sent"] == 0 and sink.attempts == 1


def test_a_fleet_change_sends_exactly_the_new_and_the_cleared(
    env: dict, sink: WebhookSink, hss: Emulator, fleet: Fleet
) -> None:
    invoke("scheduled.json")
    fixed = fleet.delete(["b@h1"])  # its malicious files are gone
    added = fleet.insert([{**fleet.find("a@h1").record, "image_id": "z", "host_id": "h9"}])
    assert fixed == 1 and added == ["z@h9"]
    summary = invoke("scheduled.json")
    assert (summary["new"], summary["resolved"]) == (1, 1)
    fp = fingerprints({("malicious-files", "b"), ("high-severity", "z")})
    assert delivered(sink) == {
        ("resolved", "malicious-files", fp[("malicious-files", "b")]),
        ("new", "high-severity", fp[("high-severity", "z")]),
    }
    assert sink.received[-1].json()["title"] == "imagewatch compliance: 1 new, 1 resolved"


def test_an_image_on_several_hosts_is_one_violation_until_its_last_host_is_fixed(
    env: dict, sink: WebhookSink, fleet: Fleet
) -> None:
    """Issue 13: a violation is an image. Image ``a`` (High) runs on h1; it joins two more hosts, one
    host is fixed, then the others: one alert, its count changing, resolved only with the last host."""
    a = fleet.find("a@h1").record
    invoke("scheduled.json")
    fp = fingerprints({("high-severity", "a")})[("high-severity", "a")]
    added = fleet.insert(
        [{**a, "host_id": "h7", "host_name": "node-h7"}, {**a, "host_id": "h8", "host_name": None}]
    )
    assert added == ["a@h7", "a@h8"]
    grown = invoke("scheduled.json")
    assert (grown["new"], grown["resolved"], grown["violations"]["total"]) == (0, 0, len(EXPECTED))
    row = next(r for r in reports.rows(grown) if r["fingerprint"] == fp)
    assert row["label"] == "shop/a:1.0 on 3 hosts (h8, node-h1, node-h7)" and row["status"] == "open"
    assert len(sink.received) == 1  # hosts joining open no new alert
    fleet.delete(["a@h1", "a@h8"])
    shrunk = invoke("scheduled.json")
    assert (shrunk["new"], shrunk["resolved"]) == (0, 0)
    row = next(r for r in reports.rows(shrunk) if r["fingerprint"] == fp)
    assert row["label"] == "shop/a:1.0 on 1 host (node-h7)" and row["hosts"] == 1
    fleet.update("a@h7", severity_level="Low")  # the last host fixed
    fixed = invoke("scheduled.json")
    assert (fixed["new"], fixed["resolved"]) == (0, 1)
    assert delivered(sink) == {("resolved", "high-severity", fp)}


def test_a_sink_that_fails_once_gets_the_same_violations_next_run(env: dict, sink: WebhookSink) -> None:
    sink.fail_next(1, 400, b"rejected")
    failed = invoke("scheduled.json")
    assert failed["notifications"]["failed"] == 1 and failed["notifications"]["sent"] == 0
    assert failed["notifications"]["channels"][0]["detail"] == "HTTP 400"
    assert sink.received == []
    retried = invoke("scheduled.json")
    assert retried["new"] == 0 and retried["notifications"]["sent"] == 1
    expected = {("new", policy, fp) for (policy, _), fp in fingerprints(EXPECTED).items()}
    assert delivered(sink) == expected
    assert invoke("scheduled.json")["notifications"]["sent"] == 0


def test_an_incomplete_read_resolves_nothing(
    env: dict, sink: WebhookSink, hss: Emulator, fleet: Fleet
) -> None:
    invoke("scheduled.json")
    fleet.delete(["b@h1", "c@h2"])
    hss.faults.corrupt(offset=0, field="vul_num", value="many", times=None)  # every listing breaks
    summary = invoke("scheduled.json")
    assert summary["resolved"] == 0 and summary["notifications"]["sent"] == 0
    assert any("incomplete read" in p and "vul_num" in p for p in summary["problems"])
    hss.faults.clear()
    healed = invoke("scheduled.json")
    assert healed["resolved"] == 2


def test_report_records_what_the_digest_said(env: dict, sink: WebhookSink) -> None:
    summary = invoke("scheduled.json")
    report = json.loads(Path(summary["report"]["json"]).read_text())
    digest = sink.received[0].json()
    assert {row["fingerprint"] for row in reports.rows(summary)} == {
        a["fingerprint"] for a in digest["alerts"]
    }
    assert {row["status"] for row in reports.rows(summary)} == {"new"}
    assert report["violation_files"] == {"jsonl": summary["report"]["jsonl"], "csv": summary["report"]["csv"]}
    assert report["settings"]["hss_sk"] == "(set)" and report["settings"]["webhook_url"] == "(set)"
    text = "".join(reports.text(summary["report"][name]) for name in ("json", "jsonl", "csv"))
    for secret in ("demo-secret", "e2e-signing-secret", sink.url):
        assert secret not in text
    csv_rows = reports.csv_rows(summary)
    assert csv_rows[0][:3] == ["fingerprint", "severity", "policy_id"] and len(csv_rows) == 1 + len(EXPECTED)


def test_slack_webhook_gets_block_kit_and_ok_is_success(env: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    with WebhookSink("slack") as slack:
        monkeypatch.setenv("WEBHOOK_URL", slack.url)
        monkeypatch.setenv("WEBHOOK_PLATFORM", "slack")
        summary = invoke("scheduled.json")
        assert summary["notifications"]["sent"] == 1
        blocks = slack.received[0].json()["blocks"]
    assert blocks[0]["text"]["text"] == "imagewatch compliance: 8 new"
    assert sum("*NEW*" in b.get("text", {}).get("text", "") for b in blocks) == len(EXPECTED)


def test_imagewatch_invoke_runs_the_handler_from_the_command_line(env: dict, sink: WebhookSink) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "imagewatch.cli", "invoke", str(EVENTS / "scheduled.json")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["trigger"] == "schedule" and summary["new"] == len(EXPECTED)
    assert len(sink.wait_for(1)) == 1


def test_malformed_event_is_a_clear_error(env: dict) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "imagewatch.cli", "invoke", "/dev/stdin"],
        input='{"source": "schedule", "scheduled_time": "soon"}',
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert '/scheduled_time: got "soon", expected an ISO timestamp' in result.stderr


def test_an_invalid_policy_is_skipped_announced_and_resolved_when_fixed(
    env: dict, sink: WebhookSink, policy_dir: Path
) -> None:
    broken = policy_dir / "broken.json"
    broken.write_text('{"id": "broken", "title": "B", "severity": "urgent", "where": {}, "message": "m"}')
    summary = invoke("scheduled.json")
    assert summary["violations"]["total"] == len(EXPECTED) + 1  # the others still ran
    assert any(str(broken) in entry and "/severity" in entry for entry in summary["policies"]["invalid"])
    alert = next(
        a for a in sink.received[-1].json()["alerts"] if a["policy_id"] == "imagewatch.invalid-policy"
    )
    assert alert["kind"] == "new" and alert["severity"] == "high" and "/severity" in alert["message"]
    broken.unlink()
    fixed = invoke("scheduled.json")
    assert fixed["resolved"] == 1 and fixed["policies"]["invalid"] == []
    assert [a["kind"] for a in sink.received[-1].json()["alerts"]] == ["resolved"]


def test_exemptions_expired_and_expiring_are_said_in_the_digest(
    env: dict, sink: WebhookSink, policy_dir: Path
) -> None:
    from datetime import UTC, datetime, timedelta

    policy = json.loads((policy_dir / "high-severity.json").read_text())
    soon = (datetime.now(UTC) + timedelta(days=3)).strftime("%Y-%m-%d")
    policy["exempt"] = [
        {
            "where": {"field": "image_name", "op": "eq", "value": "shop/a"},
            "reason": "vendor fix",
            "expires": soon,
            "owner": "team-a",
        },
        {
            "where": {"field": "image_name", "op": "eq", "value": "shop/g"},
            "reason": "old waiver",
            "expires": "2020-01-01",
        },
    ]
    policy.pop("examples", None)
    (policy_dir / "high-severity.json").write_text(json.dumps(policy))
    summary = invoke("scheduled.json")
    body = sink.received[-1].json()
    subjects = {(a["policy_id"], a["label"]) for a in body["alerts"]}
    assert ("high-severity", "shop/a:1.0 on 1 host (node-h1)") not in subjects  # exempted until `soon`
    assert ("high-severity", "shop/g:1.0 on 1 host (node-h4)") in subjects  # its exemption expired
    assert summary["exemptions"]["applied"] == 1
    assert [e["expires"] for e in summary["exemptions"]["expiring_soon"]] == [soon]
    assert [e["expires"] for e in summary["exemptions"]["expired"]] == ["2020-01-01"]
    notes = " | ".join(body["notes"])
    assert f"exemption high-severity/exempt/0 expires {soon}, owner team-a" in notes
    assert "exemption high-severity/exempt/1 expired 2020-01-01 (old waiver)" in notes


def preview(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "imagewatch.cli", "preview", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_preview_renders_the_dry_run_digest_for_a_platform(env: dict, sink: WebhookSink) -> None:
    result = preview("--platform", "slack")
    assert result.returncode == 0, result.stderr
    payload_text, text_view = result.stdout.split("--- channel preview (slack): as text ---")
    payload = json.loads(payload_text.split("payload ---", 1)[1])
    assert payload["blocks"][0]["text"]["text"] == "[dry run] imagewatch compliance: 8 new"
    assert "*NEW* · *CRITICAL* · No images containing malicious files" in text_view
    assert sink.attempts == 0  # nothing was sent


def test_preview_of_a_configured_channel_and_of_everything_open(env: dict, sink: WebhookSink) -> None:
    invoke("scheduled.json")
    quiet = preview("--channel", "default")
    assert quiet.returncode == 0 and quiet.stdout.startswith("nothing would be sent now")
    everything = preview("--channel", "default", "--all")
    assert everything.returncode == 0, everything.stderr
    body = json.loads(everything.stdout.split("payload ---", 1)[1].split("--- channel", 1)[0])
    assert {a["kind"] for a in body["alerts"]} == {"reminder"} and len(body["alerts"]) == len(EXPECTED)
    assert preview("--channel", "nope").returncode == 2
    assert sink.attempts == 1  # only the real run sent anything


def test_a_run_past_its_time_budget_stops_early_and_resolves_nothing(
    env: dict, sink: WebhookSink, fleet
) -> None:
    import os
    import time

    from imagewatch.handler import handle

    invoke("scheduled.json")
    fleet.delete(["b@h1"])
    cut = handle(event("scheduled.json"), os.environ, deadline=time.monotonic() - 1)
    assert cut["resolved"] == 0 and cut["notifications"]["sent"] == 0
    assert all(not q["complete"] for q in cut["queries"])
    assert any("time budget" in p for p in cut["problems"])
    healed = handle(event("scheduled.json"), os.environ, deadline=time.monotonic() + 600)
    assert healed["resolved"] == 1


def test_the_fetch_deadline_keeps_a_margin_for_notify_and_record() -> None:
    from imagewatch.handler import fetch_deadline

    assert fetch_deadline(900_000, now=1000.0) == 1000.0 + 900 - 90  # 15% capped at 90 s
    assert fetch_deadline(300_000, now=0.0) == 300 - 45
    assert fetch_deadline(60_000, now=0.0) == 60 - 20  # at least 20 s
    assert fetch_deadline(5_000, now=0.0) == 0.0  # no time left to fetch at all
