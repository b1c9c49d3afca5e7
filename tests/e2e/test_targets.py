"""Many targets, one deployment: each invocation names its target (project and credentials secret);
the ledger is partitioned by target, so targets never see each other's alerts."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from imagewatch import aws, secret_settings
from imagewatch.emulator import Credentials, Emulator, Fleet
from imagewatch.events import EventError
from imagewatch.handler import lambda_handler
from imagewatch.local_context import LocalContext
from imagewatch.standins.webhook_sink import WebhookSink
from support import moto_support
from support.known_fleet import E2E_POLICIES, EXPECTED, FIXTURE_PACK, known_fleet
from support.moto_support import aws_environment, create_ledger_table


@pytest.fixture
def two_targets(moto_server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[dict]:
    for name, value in aws_environment(moto_server.url).items():
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
        (policies / f"{name}.json").write_text((FIXTURE_PACK / f"{name}.json").read_text())
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
            # the emulators are not Huawei Cloud: the operator lists them for the targets' endpoints
            "HSS_ENDPOINT_ALLOWLIST": f"{a.url.split('//')[1]},{b.url.split('//')[1]}",
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
    items = moto_support.ledger_items(two_targets["dynamodb"], two_targets["table"])
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


# -- issue 12 row 2: an event cannot redirect the deployment's credentials ------------------------------


class _Listener(ThreadingHTTPServer):
    """Stands for the review's hostile HSS (127.0.0.1 only): records every request, issues a token to
    anyone, and answers every listing with an empty one."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, dict[str, str], bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _record(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.seen.append((self.command, self.path, dict(self.headers), body))

            def do_POST(self) -> None:
                self._record()
                answer = json.dumps({"token": {"expires_at": "2099-01-01T00:00:00.000000Z"}}).encode()
                self.send_response(201)
                self.send_header("X-Subject-Token", "attacker-issued")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def do_GET(self) -> None:
                self._record()
                answer = json.dumps({"total_num": 0, "data_list": []}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        super().__init__(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def listener() -> Iterator[_Listener]:
    server = _Listener()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


AUTH_MODES = {
    "token": {"HSS_REGION": "cn-north-4", "HSS_AUTH_TOKEN": "deployment-token-0000"},
    "iam-password": {
        "HSS_IAM_USER": "ops",
        "HSS_IAM_PASSWORD": "deployment-password-0000",
        "HSS_IAM_DOMAIN": "d",
    },
    "aksk": {"HSS_REGION": "cn-north-4", "HSS_AK": "DEMOAK", "HSS_SK": "demo-secret"},
}


@pytest.mark.parametrize("mode", sorted(AUTH_MODES))
@pytest.mark.parametrize("scheme", ["http", "https"])
def test_an_event_cannot_send_the_deployments_credentials_to_its_own_endpoint(
    env: dict, listener: _Listener, sink: WebhookSink, monkeypatch: pytest.MonkeyPatch, mode: str, scheme: str
) -> None:
    """Issue 12 row 2, the review's repro: {"source": "manual", "action": "check", "target": {"name":
    "prod", "endpoint": "http://127.0.0.1:18041"}} sent the deployment's X-Auth-Token there, and with IAM
    password login (no region: IAM fell back to the HSS endpoint) POSTed the password there. Now the
    event is refused before any request: nothing reaches the listener, nothing is sent to chat."""
    for name in ("HSS_AK", "HSS_SK", "HSS_REGION", "HSS_ENDPOINT_ALLOWLIST"):
        monkeypatch.delenv(name, raising=False)
    for name, value in AUTH_MODES[mode].items():
        monkeypatch.setenv(name, value)
    endpoint = listener.url.replace("http://", f"{scheme}://")
    event = {"source": "manual", "action": "check", "target": {"name": "prod", "endpoint": endpoint}}
    with pytest.raises(
        EventError, match=r"^/target/endpoint: got 'https?://127\.0\.0\.1:\d+', expected an https://hss"
    ):
        lambda_handler(event, LocalContext())
    assert listener.seen == [] and sink.attempts == 0


def test_an_answer_from_another_endpoint_never_resolves_the_configured_ones_violations(
    env: dict, hss: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 12 row 2: the ledger key stayed the region's whatever the endpoint, so an empty answer from
    another endpoint resolved every real violation (3,000 in the review). Each endpoint that is not the
    region's own now has its own partition: an allowlisted second endpoint with an empty fleet resolves
    nothing of the configured endpoint's."""
    with Emulator(Fleet.from_records([])) as empty:
        monkeypatch.setenv("HSS_REGION", "cn-north-4")
        monkeypatch.setenv("HSS_ENDPOINT_ALLOWLIST", empty.url.split("//")[1])
        scheduled = {"source": "schedule", "scheduled_time": "2026-11-26T08:00:00Z"}
        first = lambda_handler(scheduled, LocalContext())
        assert (
            first["new"] == len(EXPECTED)
            and first["target"] == f"cn-north-4@{hss.url.split('//')[1]}/{hss.project_id}/0"
        )
        other = lambda_handler(
            {"source": "manual", "action": "check", "target": {"name": "other", "endpoint": empty.url}},
            LocalContext(),
        )
        assert other["target"] == f"cn-north-4@{empty.url.split('//')[1]}/{hss.project_id}/0"
        assert (other["new"], other["resolved"]) == (0, 0)
        again = lambda_handler(scheduled, LocalContext())
        assert (again["new"], again["resolved"], again["still_open"]) == (0, 0, len(EXPECTED))
