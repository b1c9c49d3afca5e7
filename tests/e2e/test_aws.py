"""The deployed shape, end to end on AWS stand-ins: a real moto server on 127.0.0.1 (DynamoDB, S3,
Secrets Manager) set up as template.yaml would, the HSS emulator, and a webhook stand-in. Settings
that are secrets live only in the secret, as in the stack."""

from __future__ import annotations

import gzip
import io
import json
import logging
import uuid
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import httpx
import pytest

from imagewatch import aws, secret_settings
from imagewatch.alerts.store import StateStoreError
from imagewatch.emulator import Credentials, Emulator, Fleet
from imagewatch.handler import lambda_handler
from imagewatch.local_context import LocalContext
from imagewatch.settings import SettingsError
from imagewatch.standins.webhook_sink import WebhookSink
from support import moto_support
from support.known_fleet import E2E_POLICIES, EXPECTED, FIXTURE_PACK, ROOT
from support.moto_support import FAKE_CREDENTIALS, REGION, create_ledger_table

PLANTED = {  # secret values no output may ever contain
    "HSS_AK": "AKPLANTED0123456789",
    "HSS_SK": "sk-planted-Zq9x7Yw2",
    "WEBHOOK_SECRET": "whsec-planted-Kp3m",
}
WEBHOOK_TOKEN = "hook-token-planted-Vt5r"


@pytest.fixture
def stack(moto_server, monkeypatch: pytest.MonkeyPatch, fleet: Fleet, tmp_path: Path) -> Iterator[dict]:
    """Resources as the template creates them, and the function's environment pointing at them."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.url)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", FAKE_CREDENTIALS["aws_access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", FAKE_CREDENTIALS["aws_secret_access_key"])
    aws.reset()
    secret_settings.reset()
    dynamodb, s3, secrets = (moto_server.client(name) for name in ("dynamodb", "s3", "secretsmanager"))
    table = create_ledger_table(dynamodb)
    bucket = f"reports-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    credentials = Credentials(access_key=PLANTED["HSS_AK"], secret_key=PLANTED["HSS_SK"])
    with Emulator(fleet, credentials) as hss, WebhookSink("generic", secret=PLANTED["WEBHOOK_SECRET"],
                                                         token=WEBHOOK_TOKEN) as sink:  # fmt: skip
        secret_values = {**PLANTED, "WEBHOOK_URL": sink.url}
        arn = secrets.create_secret(
            Name=f"imagewatch-{uuid.uuid4().hex[:8]}", SecretString=json.dumps(secret_values)
        )["ARN"]
        for name in (
            "HSS_AK",
            "HSS_SK",
            "WEBHOOK_URL",
            "WEBHOOK_SECRET",
            "HSS_REGION",
            "CHANNELS_FILE",
            "STATE_PATH",
        ):
            monkeypatch.delenv(name, raising=False)
        policies = tmp_path / "policies"
        policies.mkdir()
        for name in E2E_POLICIES:
            (policies / f"{name}.json").write_text((FIXTURE_PACK / f"{name}.json").read_text())
        env = {
            "HSS_ENDPOINT": hss.url,
            "HSS_PROJECT_ID": hss.project_id,
            "POLICY_PATH": str(policies),
            "STATE_TABLE": table,
            "REPORT_BUCKET": bucket,
            "REPORT_PREFIX": "reports/",
            "REPORT_LINK_TTL_SECONDS": "3600",
            "SETTINGS_SECRET": arn,
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        yield {"env": env, "sink": sink, "hss": hss, "dynamodb": dynamodb, "s3": s3, "secrets": secrets,
               "table": table, "bucket": bucket, "arn": arn, "secret_values": secret_values}  # fmt: skip
    aws.reset()
    secret_settings.reset()


def invoke(name: str) -> dict:
    return lambda_handler(json.loads((ROOT / "events" / name).read_text()), LocalContext())


def ledger_items(stack: dict) -> list[dict]:
    return moto_support.ledger_items(stack["dynamodb"], stack["table"])


def _unzipped(key: str, body: bytes) -> str:
    return (gzip.decompress(body) if key.endswith(".gz") else body).decode()


def report_keys(stack: dict) -> list[str]:
    listed = stack["s3"].list_objects_v2(Bucket=stack["bucket"], Prefix="reports/")
    return sorted(item["Key"] for item in listed.get("Contents", []))


def test_scheduled_run_uses_table_bucket_and_secret(stack: dict) -> None:
    summary = invoke("scheduled.json")
    assert summary["status"] == "ok" and summary["new"] == len(EXPECTED)
    items = ledger_items(stack)
    assert len(items) == len(EXPECTED)  # the lease is released, only entries remain
    assert all(int(item["expires_at"]["N"]) > 0 for item in items)
    keys = report_keys(stack)
    assert [k.rsplit("/", 1)[1].split(".", 1)[1] for k in keys] == [
        "html",
        "json",
        "violations.csv.gz",
        "violations.jsonl.gz",
    ]
    assert (
        keys[1].startswith("reports/127.0.0.1_")
        and summary["report"]["json"] == f"s3://{stack['bucket']}/{keys[1]}"
        and summary["report"]["html"] == f"s3://{stack['bucket']}/{keys[0]}"
    )
    report = json.loads(stack["s3"].get_object(Bucket=stack["bucket"], Key=keys[1])["Body"].read())
    body = stack["s3"].get_object(Bucket=stack["bucket"], Key=keys[3])["Body"].read()
    rows = [json.loads(line) for line in gzip.decompress(body).decode().splitlines()]
    digest = stack["sink"].received[0].json()
    assert {row["fingerprint"] for row in rows} == {a["fingerprint"] for a in digest["alerts"]}
    assert report["violation_files"]["jsonl"] == f"s3://{stack['bucket']}/{keys[3]}"
    assert report["settings"]["state_table"] == stack["table"] and report["settings"]["hss_sk"] == "(set)"
    # the digest's link is a presigned URL that really serves this run's HTML report
    linked = httpx.get(digest["report_url"], timeout=10)
    assert linked.status_code == 200 and linked.headers["content-type"] == "text/html; charset=utf-8"
    assert f'<b class="mono">{summary["run_id"]}</b>' in linked.text


@pytest.mark.parametrize(
    ("event", "expect"),
    [
        (
            "eventbridge-scheduled.json",
            {"new": len(EXPECTED), "sent": 1, "reports": 4, "entries": len(EXPECTED)},
        ),
        ("dry-run.json", {"new": len(EXPECTED), "sent": 0, "reports": 0, "entries": 0}),
        ("policy-subset.json", {"new": 5, "sent": 1, "reports": 4, "entries": 5}),
        ("test-notification.json", {"sent": 1, "reports": 0, "entries": 0}),
    ],
)
def test_each_event_file_on_the_stand_ins(stack: dict, event: str, expect: dict) -> None:
    summary = invoke(event)
    assert summary["notifications"]["sent"] == expect["sent"]
    if "new" in expect:
        assert summary["new"] == expect["new"]
    assert len(report_keys(stack)) == expect["reports"] and len(ledger_items(stack)) == expect["entries"]
    assert len(stack["sink"].received) == expect["sent"] and stack["sink"].rejected_signatures == 0


def test_resend_event_sends_everything_open_again(stack: dict) -> None:
    invoke("scheduled.json")
    resent = invoke("resend-open.json")
    assert resent["notifications"]["sent"] == 1
    assert {a["kind"] for a in stack["sink"].received[-1].json()["alerts"]} == {"reminder"}
    assert len(stack["sink"].received[-1].json()["alerts"]) == len(EXPECTED)


def test_second_run_is_quiet_and_a_fix_resolves(stack: dict, fleet: Fleet) -> None:
    invoke("scheduled.json")
    assert invoke("scheduled.json")["notifications"]["sent"] == 0
    fleet.delete(["b@h1"])
    summary = invoke("scheduled.json")
    assert (
        summary["resolved"] == 1 and len(ledger_items(stack)) == len(EXPECTED) - 1
    )  # finished entry deleted


def test_policies_can_come_from_s3(stack: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    s3 = stack["s3"]
    for name in ("malicious-files", "high-severity"):
        s3.put_object(Bucket=stack["bucket"], Key=f"policies/{name}.json",
                      Body=(FIXTURE_PACK / f"{name}.json").read_bytes())  # fmt: skip
    s3.put_object(Bucket=stack["bucket"], Key="policies/notes.txt", Body=b"not a policy")
    monkeypatch.setenv("POLICY_S3_URI", f"s3://{stack['bucket']}/policies/")
    summary = invoke("scheduled.json")
    assert sorted(summary["policies"]["evaluated"]) == ["high-severity", "malicious-files"]
    assert summary["new"] == 5


def test_no_secret_value_appears_anywhere(stack: dict, caplog: pytest.LogCaptureFixture) -> None:
    out, err = io.StringIO(), io.StringIO()
    caplog.set_level(logging.DEBUG)
    with redirect_stdout(out), redirect_stderr(err):
        summaries = [invoke("scheduled.json"), invoke("dry-run.json"), invoke("test-notification.json")]
    stack["sink"].fail_next(1, 500)
    with redirect_stdout(out), redirect_stderr(err):
        stack["hss"].fleet.delete(["b@h1"])
        summaries.append(invoke("scheduled.json"))
    captured = [out.getvalue(), err.getvalue(), caplog.text, json.dumps(summaries)]
    captured += [
        _unzipped(k, stack["s3"].get_object(Bucket=stack["bucket"], Key=k)["Body"].read())
        for k in report_keys(stack)
    ]
    captured += [json.dumps(ledger_items(stack))]
    captured += [request.body.decode() for request in stack["sink"].received]
    assert '"_aws"' in out.getvalue()  # EMF metrics were emitted, and are searched too
    haystack = "\n".join(captured)
    for secret in (*PLANTED.values(), WEBHOOK_TOKEN, stack["secret_values"]["WEBHOOK_URL"]):
        assert secret not in haystack


def test_an_unreadable_secret_is_a_clear_error(stack: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SETTINGS_SECRET", "arn:aws:secretsmanager:eu-west-1:123456789012:secret:nope")
    with pytest.raises(
        SettingsError, match=r"SETTINGS_SECRET: .*Secrets Manager said ResourceNotFoundException"
    ):
        invoke("scheduled.json")


def test_an_unavailable_table_fails_loudly_and_sends_nothing(
    stack: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STATE_TABLE", "missing-table")
    with pytest.raises(StateStoreError, match="state table missing-table: cannot take the lease"):
        invoke("scheduled.json")
    assert stack["sink"].attempts == 0
    monkeypatch.setenv("STATE_TABLE", stack["table"])
    assert invoke("scheduled.json")["notifications"]["sent"] == 1  # the next run recovers
