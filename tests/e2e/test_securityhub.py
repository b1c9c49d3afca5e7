"""AWS Security Hub end to end on a real moto server (127.0.0.1): the handler with SECURITY_HUB=on, the
HSS emulator, the DynamoDB ledger, a chat channel beside it. Findings appear, stay unchanged while
nothing changes (no call at all), update when a violation changes, archive when it resolves."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from imagewatch import aws, secret_settings
from imagewatch.alerts.securityhub_client import CLIENT_CONFIG
from imagewatch.emulator import Credentials, Emulator, Fleet
from imagewatch.handler import lambda_handler
from imagewatch.local_context import LocalContext
from imagewatch.standins.webhook_sink import WebhookSink
from imagewatch.violation import fingerprint
from support.cli import run_imagewatch
from support.known_fleet import E2E_POLICIES, EXPECTED, FIXTURE_PACK
from support.moto_support import FAKE_CREDENTIALS, REGION, aws_environment, create_ledger_table

PLANTED = {"HSS_AK": "AKPLANTEDHUB00001", "HSS_SK": "sk-planted-hub-Zx81", "WEBHOOK_SECRET": "whsec-hub-Lp02"}
WEBHOOK_TOKEN = "hook-token-planted-Hub7"
SEVERITY = {"high-severity": "HIGH", "malicious-files": "CRITICAL", "scan-freshness": "MEDIUM"}


@pytest.fixture
def hub(moto_server: Any, monkeypatch: pytest.MonkeyPatch, fleet: Fleet, tmp_path: Path) -> Iterator[dict]:
    """The function's environment with Security Hub on, pointing at moto; and what a test looks at."""
    for name, value in aws_environment(moto_server.url).items():
        monkeypatch.setenv(name, value)
    for name in ("HSS_REGION", "CHANNELS_FILE", "STATE_PATH", "REPORT_BUCKET", "SETTINGS_SECRET"):
        monkeypatch.delenv(name, raising=False)
    aws.reset()
    secret_settings.reset()
    securityhub = moto_server.client("securityhub")
    securityhub.enable_security_hub()
    table = create_ledger_table(moto_server.client("dynamodb"))
    policies = tmp_path / "policies"
    policies.mkdir()
    for name in E2E_POLICIES:
        (policies / f"{name}.json").write_text((FIXTURE_PACK / f"{name}.json").read_text())
    credentials = Credentials(access_key=PLANTED["HSS_AK"], secret_key=PLANTED["HSS_SK"])
    with (
        Emulator(fleet, credentials) as hss,
        WebhookSink("generic", secret=PLANTED["WEBHOOK_SECRET"], token=WEBHOOK_TOKEN) as sink,
    ):
        env = {
            **PLANTED,
            "HSS_ENDPOINT": hss.url,
            "HSS_PROJECT_ID": hss.project_id,
            "WEBHOOK_URL": sink.url,
            "POLICY_PATH": str(policies),
            "STATE_TABLE": table,
            "REPORT_DIR": str(tmp_path / "reports"),
            "SECURITY_HUB": "on",
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        calls: list[list[str]] = []  # the Ids of every BatchImportFindings request the function makes
        sent: list[list[dict]] = []  # …and the findings themselves

        def seen(params: dict, **_: Any) -> None:
            calls.append([f["Id"] for f in params["Findings"]])
            sent.append(params["Findings"])

        aws.client("securityhub", **CLIENT_CONFIG).meta.events.register(
            "provide-client-params.securityhub.BatchImportFindings", seen
        )
        target = f"{hss.url.removeprefix('http://')}/{hss.project_id}/0"
        yield {
            "securityhub": securityhub,
            "calls": calls,
            "sent": sent,
            "sink": sink,
            "target": target,
            "env": env,
        }
    aws.reset()
    secret_settings.reset()


def run() -> dict:
    return lambda_handler({"source": "schedule", "scheduled_time": "2026-11-26T08:00:00Z"}, LocalContext())


def findings(hub: dict) -> dict[str, dict]:
    """This test's findings in moto's Security Hub, by Id (moto ignores filters: other tests' are there
    too, under other targets)."""
    prefix = f"imagewatch/{hub['target']}/"
    found: dict[str, dict] = {}
    for page in hub["securityhub"].get_paginator("get_findings").paginate():
        found |= {f["Id"]: f for f in page["Findings"] if f["Id"].startswith(prefix)}
    return found


def finding_of(hub: dict, policy: str, image: str) -> dict:
    return findings(hub)[f"imagewatch/{hub['target']}/{fingerprint(policy, image)}"]


def hub_outcome(summary: dict) -> dict | None:
    found = [o for o in summary["notifications"]["channels"] if o["channel"] == "securityhub"]
    return found[0] if found else None


def test_findings_appear_stay_put_update_and_archive_across_runs(hub: dict, fleet: Fleet) -> None:
    # 1. new: one finding per violation, one call for all eight
    first = run()
    assert first["status"] == "ok" and first["new"] == len(EXPECTED)
    assert hub_outcome(first) == {
        "channel": "securityhub",
        "platform": "securityhub",
        "ok": True,
        "attempts": 1,
        "detail": "imported 8",
        "alerts": {"new": 8},
        "imported": 8,
        "refused": 0,
        "left": 0,
    }
    assert first["notifications"]["failed"] == 0 and first["problems"] == []
    assert len(hub["calls"]) == 1 and len(hub["calls"][0]) == len(EXPECTED)
    imported = findings(hub)
    assert set(imported) == {f"imagewatch/{hub['target']}/{fingerprint(p, i)}" for p, i in EXPECTED}
    for (policy, image), fp in ((pair, fingerprint(*pair)) for pair in EXPECTED):
        found = imported[f"imagewatch/{hub['target']}/{fp}"]
        assert found["RecordState"] == "ACTIVE" and found["Compliance"] == {"Status": "FAILED"}
        assert (
            found["Severity"]["Label"] == SEVERITY[policy] and found["GeneratorId"] == f"imagewatch/{policy}"
        )
        assert found["Resources"][0]["Id"] == f"hss/{hub['target']}/image/{image}"
        assert found["AwsAccountId"] == "123456789012"
        assert (
            found["ProductArn"] == f"arn:aws:securityhub:{REGION}:123456789012:product/123456789012/default"
        )
    # the chat channel beside it got its digest as always, and never an "update"
    assert [a["kind"] for a in hub["sink"].received[-1].json()["alerts"]] == ["new"] * len(EXPECTED)

    # 2. unchanged: nothing is due, nothing is imported, nothing changes
    second = run()
    assert second["status"] == "ok" and second["still_open"] == len(EXPECTED)
    assert hub_outcome(second) is None and len(hub["calls"]) == 1
    assert findings(hub) == imported

    # 3. changed and resolved: exactly those two, in one call
    fleet.update("a@h1", vul_num=20)  # high-severity/a: its message changes
    fleet.delete(["b@h1"])  # malicious-files/b: resolves
    third = run()
    assert third["resolved"] == 1
    outcome = hub_outcome(third)
    assert outcome is not None and outcome["alerts"] == {"update": 1, "resolved": 1} and outcome["ok"]
    assert len(hub["calls"]) == 2
    assert sorted(hub["calls"][1]) == sorted(
        f"imagewatch/{hub['target']}/{fingerprint(*pair)}"
        for pair in (("high-severity", "a"), ("malicious-files", "b"))
    )
    changed = finding_of(hub, "high-severity", "a")
    assert "with 20 vulnerabilities" in changed["Description"] and changed["RecordState"] == "ACTIVE"
    # the top-level severity and types went with the first import only: later ones leave them alone
    assert all("Severity" in f and "Types" in f for f in hub["sent"][0])
    assert not any("Severity" in f or "Types" in f for f in hub["sent"][1])
    assert all(f["FindingProviderFields"]["Severity"]["Label"] for f in hub["sent"][1])
    assert changed["Severity"]["Label"] == "HIGH"
    assert changed["UpdatedAt"] > imported[changed["Id"]]["UpdatedAt"]
    assert changed["CreatedAt"] == imported[changed["Id"]]["CreatedAt"]
    archived = finding_of(hub, "malicious-files", "b")
    assert archived["RecordState"] == "ARCHIVED" and archived["Compliance"] == {"Status": "PASSED"}
    assert archived["Description"].startswith("Resolved: no longer found on ")
    untouched = {i: f for i, f in findings(hub).items() if i not in hub["calls"][1]}
    assert untouched == {i: f for i, f in imported.items() if i not in hub["calls"][1]}
    assert {a["kind"] for a in hub["sink"].received[-1].json()["alerts"]} == {"resolved"}  # chat: no update

    # 4. quiet again: the update and the archive were confirmed and recorded
    fourth = run()
    assert hub_outcome(fourth) is None and len(hub["calls"]) == 2


def test_secrets_never_reach_a_finding(hub: dict) -> None:
    run()
    text = json.dumps(findings(hub))
    for secret in (
        *PLANTED.values(),
        WEBHOOK_TOKEN,
        hub["env"]["WEBHOOK_URL"],
        FAKE_CREDENTIALS["aws_secret_access_key"],
    ):
        assert secret not in text


def test_a_dry_run_imports_nothing_and_shows_what_it_would(hub: dict) -> None:
    summary = lambda_handler({"source": "manual", "action": "check", "dry_run": True}, LocalContext())
    assert hub["calls"] == [] and findings(hub) == {}
    [digest] = [d for d in summary["digests"] if d["channel"] == "securityhub"]
    assert digest["platform"] == "securityhub"
    assert digest["payload"]["findings"] == len(EXPECTED) and digest["payload"]["batches"] == 1
    assert digest["payload"]["by_kind"] == {"new": len(EXPECTED)}
    assert {item["id"] for item in digest["payload"]["sample"]} == {
        f"imagewatch/{hub['target']}/{fingerprint(*pair)}" for pair in EXPECTED
    }


def test_resend_reimports_every_open_finding(hub: dict) -> None:
    run()
    summary = lambda_handler(
        {"source": "manual", "action": "resend", "channel": "securityhub"}, LocalContext()
    )
    assert hub_outcome(summary)["imported"] == len(EXPECTED)  # type: ignore[index]
    assert len(hub["calls"]) == 2 and sorted(hub["calls"][1]) == sorted(hub["calls"][0])


def test_a_test_notification_and_the_summary_leave_security_hub_alone(hub: dict) -> None:
    run()
    for action in ("test-notification", "summary"):
        summary = lambda_handler({"source": "manual", "action": action}, LocalContext())
        assert summary["notifications"]["failed"] == 0, action
        assert all(o["channel"] != "securityhub" for o in summary["notifications"]["channels"])
    assert len(hub["calls"]) == 1


def test_the_ledger_table_remembers_what_security_hub_holds(hub: dict, moto_server: Any) -> None:
    run()
    items = moto_server.client("dynamodb").scan(TableName=hub["env"]["STATE_TABLE"])["Items"]
    entries = [item for item in items if not item["fingerprint"]["S"].startswith("#")]
    assert len(entries) == len(EXPECTED)
    for item in entries:
        deliveries = json.loads(item["deliveries"]["S"])
        assert len(deliveries["securityhub"]["told"]) == 12 and "told" not in deliveries["default"]


def test_doctor_says_whether_security_hub_is_enabled_where_findings_would_go(
    hub: dict, moto_server: Any, tmp_path: Path
) -> None:
    region = "eu-north-1"  # this test's own: Security Hub starts disabled there
    env = {**os.environ, "AWS_DEFAULT_REGION": region, "STATE_PATH": str(tmp_path / "state.sqlite3")}
    env.pop("STATE_TABLE")  # the table lives in the fixture's region
    done = run_imagewatch("doctor", "--format", "json", env=env)
    report = json.loads(done.stdout)
    [check] = [c for c in report["checks"] if c["name"] == "Security Hub"]
    assert done.returncode == 4 and check["status"] == "fail" and check["exit_code"] == 4
    assert check["summary"].startswith(f"Security Hub is not enabled in {region} (account 123456789012)")
    regional = boto3.client(
        "securityhub", region_name=region, endpoint_url=moto_server.url, **FAKE_CREDENTIALS
    )
    regional.enable_security_hub()
    try:
        done = run_imagewatch("doctor", "--format", "json", env=env)
    finally:
        regional.disable_security_hub()
    [check] = [c for c in json.loads(done.stdout)["checks"] if c["name"] == "Security Hub"]
    assert done.returncode == 0 and check["status"] == "ok"
    assert check["summary"] == (
        f"enabled in {region}, account 123456789012: findings go to "
        f"arn:aws:securityhub:{region}:123456789012:product/123456789012/default"
    )
