"""Many targets, one deployment: each invocation names its target (project and credentials secret);
the ledger is partitioned by target, so targets never see each other's alerts."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from imagewatch import aws, secret_settings
from imagewatch.emulator import Credentials, Emulator, Fleet
from imagewatch.handler import lambda_handler
from imagewatch.local_context import LocalContext
from imagewatch.standins.webhook_sink import WebhookSink
from support.known_fleet import E2E_POLICIES, EXPECTED, ROOT, known_fleet
from support.moto_support import FAKE_CREDENTIALS, REGION, create_ledger_table


@pytest.fixture
def two_targets(moto_server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[dict]:
    for name, value in {
        "AWS_ENDPOINT_URL": moto_server.url,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": FAKE_CREDENTIALS["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": FAKE_CREDENTIALS["aws_secret_access_key"],
    }.items():
        monkeypatch.setenv(name, value)
    for name in (
        "HSS_AK",
        "HSS_SK",
        "HSS_REGION",
        "HSS_ENDPOINT",
        "HSS_PROJECT_ID",
        "SETTINGS_SECRET",
        "CHANNELS_FILE",
        "STATE_PATH",
        "REPORT_BUCKET",
    ):
        monkeypatch.delenv(name, raising=False)
    aws.reset()
    secret_settings.reset()
    dynamodb, secrets = moto_server.client("dynamodb"), moto_server.client("secretsmanager")
    table = create_ledger_table(dynamodb)
    policies = tmp_path / "policies"
    policies.mkdir()
    for name in E2E_POLICIES:
        (policies / f"{name}.json").write_text((ROOT / "policies" / f"{name}.json").read_text())
    now_ms = int(time.time() * 1000)
    a = Emulator(
        Fleet.from_records(known_fleet(now_ms)),
        Credentials(project_id="proj-a", access_key="AKA", secret_key="ska"),
    )
    b = Emulator(
        Fleet.from_records(known_fleet(now_ms)[:3]),
        Credentials(project_id="proj-b", access_key="AKB", secret_key="skb"),
    )
    with a, b, WebhookSink("generic") as sink:
        targets = {}
        for name, emulator, ak, sk in (("team-a", a, "AKA", "ska"), ("team-b", b, "AKB", "skb")):
            arn = secrets.create_secret(
                Name=f"imagewatch/targets/{name}-{uuid.uuid4().hex[:6]}",
                SecretString=json.dumps({"HSS_AK": ak, "HSS_SK": sk}),
            )["ARN"]
            targets[name] = {
                "name": name,
                "endpoint": emulator.url,
                "project_id": emulator.project_id,
                "settings_secret": arn,
            }
        for name, value in {
            "STATE_TABLE": table,
            "WEBHOOK_URL": sink.url,
            "POLICY_PATH": str(policies),
            "REPORT_DIR": str(tmp_path / "reports"),
        }.items():
            monkeypatch.setenv(name, value)
        yield {"targets": targets, "sink": sink, "dynamodb": dynamodb, "table": table, "a": a, "b": b}
    aws.reset()
    secret_settings.reset()


def run_target(target: dict) -> dict:
    event = {"source": "schedule", "scheduled_time": "2026-11-26T08:00:00Z", "target": target}
    return lambda_handler(event, LocalContext())


def test_each_target_runs_with_its_own_credentials_and_ledger_partition(two_targets: dict) -> None:
    a = run_target(two_targets["targets"]["team-a"])
    b = run_target(two_targets["targets"]["team-b"])
    assert (a["target_name"], a["new"]) == ("team-a", len(EXPECTED))
    assert (b["target_name"], b["new"]) == ("team-b", 3)  # images a, b, c: high, malicious, stale
    assert a["target"].endswith("/proj-a/0") and b["target"].endswith("/proj-b/0")
    items = two_targets["dynamodb"].scan(TableName=two_targets["table"])["Items"]
    by_target: dict[str, int] = {}
    for item in items:
        by_target[item["target"]["S"]] = by_target.get(item["target"]["S"], 0) + 1
    assert by_target == {a["target"]: len(EXPECTED), b["target"]: 3}
    bodies = [r.json() for r in two_targets["sink"].received]
    assert [(body["target"], len(body["alerts"])) for body in bodies] == [
        (a["target"], len(EXPECTED)),
        (b["target"], 3),
    ]


def test_a_target_fixed_resolves_only_in_its_own_partition(two_targets: dict) -> None:
    run_target(two_targets["targets"]["team-a"])
    run_target(two_targets["targets"]["team-b"])
    two_targets["b"].fleet.delete(["b@h1"])  # fixed in team-b's project only
    again_a = run_target(two_targets["targets"]["team-a"])
    again_b = run_target(two_targets["targets"]["team-b"])
    assert (again_a["new"], again_a["resolved"]) == (0, 0)
    assert (again_b["new"], again_b["resolved"]) == (0, 1)


def test_a_target_with_the_wrong_credentials_fails_loudly_without_touching_others(two_targets: dict) -> None:
    wrong = {**two_targets["targets"]["team-b"], "project_id": "proj-a"}  # team-b's keys on team-a's project
    wrong["endpoint"] = two_targets["a"].url
    with pytest.raises(Exception, match=r"run .* failed: .*APIG\.0301"):
        run_target(wrong)
    assert two_targets["sink"].attempts == 0
    assert run_target(two_targets["targets"]["team-a"])["new"] == len(EXPECTED)
