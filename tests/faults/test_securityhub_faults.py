"""AWS Security Hub when it does not simply say yes: findings refused (``FailedFindings``), throttling,
a hub that is not enabled or a role that may not import, an answer that does not add up, a time
budget used up. Each time what was not imported stays due and goes next run, nothing else is sent
twice, and the run says so (the outcome, ``problems``, exit code 4).

The real boto3 client talks to a loopback stand-in (support/securityhub_standin.py) through the
handler; STS (the account) is the session's moto server. botocore's own retries are off here so the
adapter's retry rounds, and their waits (recorded, not slept), are what is tested.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from imagewatch import aws, secret_settings
from imagewatch.alerts import findings_delivery
from imagewatch.alerts.securityhub_client import CONNECT_S, READ_S, SecurityHubClient
from imagewatch.commands.exit_codes import ExitCode, exit_code_for
from imagewatch.emulator import Credentials, Emulator, Fleet
from imagewatch.handler import RunFailedError, lambda_handler
from imagewatch.local_context import LocalContext
from imagewatch.violation import fingerprint
from support.cli import run_imagewatch
from support.known_fleet import EXPECTED, e2e_policy_folder, known_fleet
from support.moto_support import FAKE_CREDENTIALS, REGION, aws_environment
from support.securityhub_standin import SecurityHubStandIn

PLANTED = {"HSS_AK": "AKPLANTEDSHFAULT01", "HSS_SK": "sk-planted-shfaults-Wq4r"}
PRODUCT = f"arn:aws:securityhub:{REGION}:123456789012:product/123456789012/default"
UNSET = ("HSS_REGION", "HSS_SECURITY_TOKEN", "WEBHOOK_URL", "CHANNELS_FILE", "CHANNELS_JSON", "STATE_TABLE",
         "REPORT_BUCKET", "SETTINGS_SECRET")  # fmt: skip


@pytest.fixture
def now_ms() -> int:
    import time

    return int(time.time() * 1000)


@pytest.fixture
def fleet(now_ms: int) -> Fleet:
    return Fleet.from_records(known_fleet(now_ms))


@pytest.fixture
def standin() -> Iterator[SecurityHubStandIn]:
    with SecurityHubStandIn() as running:
        yield running


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def timeouts() -> dict[str, float]:
    """The Security Hub client's timeouts, as production sets them (a test may shorten them)."""
    return {"connect_timeout": CONNECT_S, "read_timeout": READ_S}


@pytest.fixture
def env(
    moto_server: Any,
    standin: SecurityHubStandIn,
    fleet: Fleet,
    sleeps: list[float],
    timeouts: dict[str, float],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Iterator[dict[str, str]]:
    """Security Hub the only channel; its client built as the handler builds it, but on the stand-in."""
    policies = e2e_policy_folder(tmp_path)
    with Emulator(fleet, Credentials(access_key=PLANTED["HSS_AK"], secret_key=PLANTED["HSS_SK"])) as hss:
        values = {
            **PLANTED,
            "HSS_ENDPOINT": hss.url,
            "HSS_PROJECT_ID": hss.project_id,
            "POLICY_PATH": str(policies),
            "STATE_PATH": str(tmp_path / "state.sqlite3"),
            "REPORT_DIR": str(tmp_path / "reports"),
            "SECURITY_HUB": "on",
            **aws_environment(moto_server.url),  # STS
            "AWS_ENDPOINT_URL_SECURITYHUB": standin.url,
        }
        for name in UNSET:
            monkeypatch.delenv(name, raising=False)
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        aws.reset()
        secret_settings.reset()

        def port() -> SecurityHubClient:
            client = boto3.client(
                "securityhub",
                region_name=REGION,
                endpoint_url=standin.url,
                config=Config(retries={"mode": "standard", "total_max_attempts": 1}, **timeouts),
                **FAKE_CREDENTIALS,
            )
            return SecurityHubClient(client, moto_server.client("sts"), sleep=sleeps.append)

        monkeypatch.setattr(SecurityHubClient, "from_environment", staticmethod(port))
        yield values
    aws.reset()
    secret_settings.reset()


def run() -> dict:
    return lambda_handler({"source": "manual", "action": "check"}, LocalContext())


def outcome(summary: dict) -> dict:
    [found] = [o for o in summary["notifications"]["channels"] if o["channel"] == "securityhub"]
    return found


def ids(target: str, pairs: Any) -> set[str]:
    return {f"imagewatch/{target}/{fingerprint(*pair)}" for pair in pairs}


def target_of(env: dict[str, str]) -> str:
    return f"{env['HSS_ENDPOINT'].removeprefix('http://')}/{env['HSS_PROJECT_ID']}/0"


def add_high_images(fleet: Fleet, count: int, now_ms: int) -> set[tuple[str, str]]:
    """``count`` more images rated High (so ``count`` more high-severity violations)."""
    base = next(record for record in known_fleet(now_ms) if record["image_id"] == "a")
    names = [f"x{index:04d}" for index in range(count)]
    fleet.insert(
        [
            {**base, "image_id": name, "image_name": f"shop/{name}", "image_digest": f"sha256:{name:0>64}"}
            for name in names
        ]
    )
    return {("high-severity", name) for name in names}


def test_refused_findings_are_retried_next_run_and_nothing_else_is_sent_again(
    env: dict[str, str], standin: SecurityHubStandIn
) -> None:
    target = target_of(env)
    refused = ids(target, [("scan-freshness", "c"), ("high-severity", "g")])
    standin.refuse = lambda finding: (
        ("InvalidInput", "Finding is malformed") if finding["Id"] in refused else None
    )
    first = run()
    said = outcome(first)
    assert (said["ok"], said["imported"], said["refused"], said["left"]) == (False, 6, 2, 0)
    assert "refused 2" in said["detail"] and "InvalidInput: Finding is malformed" in said["detail"]
    assert exit_code_for(first) is ExitCode.DELIVERY
    assert set(standin.findings) == ids(target, EXPECTED) - refused

    standin.refuse = lambda finding: None
    second = run()
    assert set(standin.calls[1]) == refused  # only the two it refused
    assert (outcome(second)["ok"], outcome(second)["imported"]) == (True, 2)
    assert set(standin.findings) == ids(target, EXPECTED)
    third = run()
    assert standin.imports == 2 and not [o for o in third["notifications"]["channels"]]


def test_throttling_is_retried_within_the_run(
    env: dict[str, str], standin: SecurityHubStandIn, sleeps: list[float]
) -> None:
    standin.throttle_next(1, "TooManyRequestsException")
    standin.throttle_next(1, "LimitExceededException")
    said = outcome(run())
    assert said["ok"] and said["imported"] == len(EXPECTED) and said["attempts"] == 3
    assert standin.imports == 3 and len({frozenset(call) for call in standin.calls}) == 1  # the same batch
    assert len(sleeps) == 2 and all(wait >= 1.0 for wait in sleeps)  # the throttle floor, then backoff


def test_throttled_past_the_retries_the_rest_goes_next_run(
    env: dict[str, str], standin: SecurityHubStandIn, fleet: Fleet, now_ms: int, sleeps: list[float]
) -> None:
    target = target_of(env)
    extra = add_high_images(fleet, 142, now_ms)  # 150 violations: two batches
    everything = ids(target, EXPECTED | extra)
    standin.throttled_calls = {2, 3, 4}  # the first batch goes through; every try of the second is throttled
    first = run()
    said = outcome(first)
    assert (said["ok"], said["imported"], said["left"]) == (False, 100, 50)
    assert "throttled (TooManyRequestsException) after 3 tries: left for the next run" in said["detail"]
    assert len(standin.findings) == 100 and len(sleeps) == 2 and standin.imports == 4
    second = run()
    assert (outcome(second)["ok"], outcome(second)["imported"]) == (True, 50)
    assert set(standin.calls[-1]) == everything - set(standin.calls[0])  # the fifty it had left, only
    assert set(standin.findings) == everything


def test_not_enabled_is_a_clear_error_and_nothing_is_lost(
    env: dict[str, str], standin: SecurityHubStandIn
) -> None:
    standin.enabled = False
    first = run()
    said = outcome(first)
    assert (said["ok"], said["imported"], said["left"], said["attempts"]) == (False, 0, len(EXPECTED), 1)
    message = (
        f"Security Hub is not enabled in {REGION} (account 123456789012) (InvalidAccessException: Account"
        " 123456789012 is not subscribed to AWS Security Hub): enable it or set SECURITY_HUB=off"
    )
    assert message in said["detail"]
    assert f"AWS Security Hub: {message}" in first["problems"]
    assert exit_code_for(first) is ExitCode.DELIVERY and first["status"] == "ok"  # the read itself was fine
    standin.enabled = True
    second = run()
    assert outcome(second)["ok"] and outcome(second)["imported"] == len(EXPECTED)
    assert set(standin.findings) == ids(target_of(env), EXPECTED)


def test_access_denied_names_the_permission_and_the_product(
    env: dict[str, str], standin: SecurityHubStandIn
) -> None:
    standin.answer_next(403, {"Code": "AccessDeniedException", "Message": "not authorized"})
    first = run()
    assert (
        f"allow securityhub:BatchImportFindings on {PRODUCT}, or set SECURITY_HUB=off"
        in outcome(first)["detail"]
    )
    assert any(
        problem.startswith("AWS Security Hub: the function's role may not import")
        for problem in first["problems"]
    )
    assert outcome(run())["imported"] == len(EXPECTED)


def test_an_answer_that_does_not_add_up_confirms_nothing(
    env: dict[str, str], standin: SecurityHubStandIn
) -> None:
    standin.answer_next(200, {"FailedCount": 0, "SuccessCount": 3, "FailedFindings": []})
    said = outcome(run())
    assert (said["ok"], said["imported"], said["left"]) == (False, 0, len(EXPECTED))
    assert "does not account for every finding" in said["detail"]
    assert standin.findings == {}
    assert outcome(run())["imported"] == len(EXPECTED) and set(standin.calls[1]) == set(standin.calls[0])


def test_a_used_up_time_budget_leaves_the_rest_for_the_next_run(
    env: dict[str, str],
    standin: SecurityHubStandIn,
    fleet: Fleet,
    now_ms: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    extra = add_high_images(fleet, 242, now_ms)  # 250 violations: three batches
    clock = {"now": 0.0}
    monkeypatch.setattr(findings_delivery, "_monotonic", lambda: clock["now"])

    def slow() -> None:
        clock["now"] += 100.0  # each call takes 100 s of the run's 180 s budget

    standin.on_import = slow
    said = outcome(run())
    assert (said["ok"], said["imported"], said["left"]) == (False, 200, 50)
    assert "time budget for imports used up (180 s" in said["detail"]
    said = outcome(run())
    assert (said["ok"], said["imported"]) == (True, 50)
    assert set(standin.findings) == ids(target_of(env), EXPECTED | extra)


def test_the_cli_exits_4_says_why_and_shows_no_secret(
    env: dict[str, str], standin: SecurityHubStandIn
) -> None:
    standin.enabled = False
    cli_env = dict(os.environ)
    done = run_imagewatch("run", env=cli_env)
    assert done.returncode == int(ExitCode.DELIVERY), done.stderr
    summary = json.loads(done.stdout)
    assert outcome(summary)["left"] == len(EXPECTED)
    assert "Security Hub is not enabled in eu-west-1" in done.stderr + done.stdout
    for secret in (*PLANTED.values(), FAKE_CREDENTIALS["aws_secret_access_key"]):
        assert secret not in done.stdout + done.stderr
    standin.enabled = True
    again = run_imagewatch("run", env=cli_env)
    assert again.returncode == 0, again.stderr
    assert set(standin.findings) == ids(target_of(env), EXPECTED)


def test_a_dry_run_from_the_cli_shows_the_findings_it_would_import(
    env: dict[str, str], standin: SecurityHubStandIn
) -> None:
    done = run_imagewatch("run", "--dry-run", "--format", "human", env=dict(os.environ))
    assert done.returncode == 0, done.stderr
    assert "would send to channel securityhub (securityhub)" in done.stdout
    assert (
        f"imagewatch → AWS Security Hub: {len(EXPECTED)} finding(s) in 1 batch(es) of up to 100"
        in done.stdout
    )
    assert standin.imports == 0


def test_a_summary_with_security_hub_alone_is_skipped_quietly(
    env: dict[str, str], standin: SecurityHubStandIn
) -> None:
    run()
    summary = lambda_handler({"source": "manual", "action": "summary"}, LocalContext())  # no RunFailedError
    assert summary["status"] == "ok" and summary["errors"] == [] and summary["notifications"]["sent"] == 0
    assert any("no summary sent: no chat channel is configured" in w for w in summary["warnings"])
    assert exit_code_for(summary) is ExitCode.OK and standin.imports == 1  # the check's import only


def test_a_test_notification_with_security_hub_alone_says_there_is_no_chat_channel(
    env: dict[str, str], standin: SecurityHubStandIn
) -> None:
    with pytest.raises(RunFailedError) as raised:  # it sent nothing: not "ok"
        lambda_handler({"source": "manual", "action": "test-notification"}, LocalContext())
    summary = raised.value.summary
    assert summary["errors"] == [
        "no chat channel configured: set WEBHOOK_URL or CHANNELS_FILE (AWS Security Hub takes no test"
        " notification: `imagewatch doctor` checks it)"
    ]
    assert summary["notifications"]["sent"] == 0 and standin.imports == 0
    assert exit_code_for(summary) is ExitCode.CONFIG  # as with no channel at all


def test_a_port_that_breaks_unexpectedly_fails_its_channel_not_the_run(
    env: dict[str, str], standin: SecurityHubStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    working = SecurityHubClient.from_environment

    class Broken:
        calls = 0
        call_s = 15.0

        def hub(self) -> Any:
            return working().hub()

        def import_findings(self, findings: list[dict], *, within_s: float | None = None) -> list:
            raise RuntimeError("a bug in the port")

    monkeypatch.setattr(SecurityHubClient, "from_environment", staticmethod(Broken))
    first = run()
    said = outcome(first)
    assert first["status"] == "ok" and first["new"] == len(EXPECTED)  # the run itself went through
    assert (said["ok"], said["left"]) == (False, len(EXPECTED))
    assert "import failed unexpectedly: RuntimeError: a bug in the port" in said["detail"]
    monkeypatch.setattr(SecurityHubClient, "from_environment", staticmethod(working))
    assert outcome(run())["imported"] == len(EXPECTED)  # nothing lost: all of it was due again


def test_a_call_that_timed_out_may_have_imported_so_the_archive_still_follows(
    env: dict[str, str], standin: SecurityHubStandIn, fleet: Fleet, timeouts: dict[str, float]
) -> None:
    """The service imported the batch, but its answer came after the client gave up: the ledger must
    still know the findings may be there, or one that resolves first stays ACTIVE for 90 days."""
    target = target_of(env)
    gone = f"imagewatch/{target}/{fingerprint('malicious-files', 'b')}"
    timeouts["read_timeout"] = 0.5
    standin.stall = True
    said = outcome(run())
    assert (said["ok"], said["imported"], said["left"]) == (False, 0, len(EXPECTED))
    assert "no answer from Security Hub" in said["detail"] and "may have been imported" in said["detail"]
    assert "could not be reached" not in said["detail"]  # it was reached
    assert standin.findings[gone]["RecordState"] == "ACTIVE"  # imported all the same
    standin.release()
    timeouts["read_timeout"] = READ_S

    fleet.delete(["b@h1"])  # resolves before any import was confirmed
    second = run()
    assert second["resolved"] == 1
    said = outcome(second)
    assert said["ok"] and said["alerts"] == {"new": len(EXPECTED) - 1, "resolved": 1}
    assert standin.findings[gone]["RecordState"] == "ARCHIVED"
    assert not run()["notifications"]["channels"]  # the archive and the imports were confirmed


def test_a_refusal_before_processing_puts_the_marks_back(
    env: dict[str, str], standin: SecurityHubStandIn, fleet: Fleet
) -> None:
    """A definite "no" (a 4xx) imported nothing: a violation that resolves before the next import is
    owed no archive, and the ledger forgets it."""
    standin.answer_next(403, {"Code": "AccessDeniedException", "Message": "not authorized"})
    assert outcome(run())["left"] == len(EXPECTED)
    fleet.delete(["b@h1"])
    said = outcome(run())
    assert said["ok"] and said["alerts"] == {"new": len(EXPECTED) - 1}  # no archive of what never was


def test_one_bad_finding_is_split_out_and_the_rest_of_its_batch_imported(
    env: dict[str, str], standin: SecurityHubStandIn
) -> None:
    target = target_of(env)
    [bad] = ids(target, [("scan-freshness", "c")])
    standin.bad = lambda finding: finding["Id"] == bad  # Security Hub refuses any batch holding it, whole
    first = run()
    said = outcome(first)
    assert (said["ok"], said["imported"], said["refused"], said["left"]) == (False, len(EXPECTED) - 1, 1, 0)
    assert f"refused {bad}: InvalidInputException: Finding is malformed" in said["detail"]
    assert set(standin.findings) == ids(target, EXPECTED) - {bad}
    assert standin.imports <= 2 * 3 + 1  # halving: a few calls, not one per finding
    assert exit_code_for(first) is ExitCode.DELIVERY

    calls = standin.imports
    said = outcome(run())  # next run: the bad one alone, refused again; nothing else is sent
    assert standin.calls[calls:] == [[bad]] and (said["imported"], said["refused"]) == (0, 1)
    standin.bad = lambda finding: False
    said = outcome(run())
    assert (said["ok"], said["imported"]) == (True, 1) and set(standin.findings) == ids(target, EXPECTED)


def test_every_finding_refused_with_invalid_access_means_security_hub_is_not_enabled(
    env: dict[str, str], standin: SecurityHubStandIn, fleet: Fleet, now_ms: int
) -> None:
    """AWS: with Security Hub disabled the findings come back in FailedFindings with InvalidAccess, in
    a 200 answer. That is the hub unavailable, not 150 bad findings: one call, a problem, all left."""
    target = target_of(env)
    extra = add_high_images(fleet, 142, now_ms)  # two batches
    standin.refuse = lambda finding: ("InvalidAccess", "Security Hub is not enabled for this account")
    first = run()
    said = outcome(first)
    assert (said["ok"], said["imported"], said["refused"], said["left"]) == (False, 0, 0, 150)
    assert standin.imports == 1
    assert any(
        p.startswith(f"AWS Security Hub: Security Hub is not enabled in {REGION} (account 123456789012)")
        and p.endswith("enable it or set SECURITY_HUB=off")
        for p in first["problems"]
    )
    standin.refuse = lambda finding: None
    assert outcome(run())["imported"] == 150 and set(standin.findings) == ids(target, EXPECTED | extra)


def test_the_budget_comes_from_the_functions_remaining_time(
    env: dict[str, str], standin: SecurityHubStandIn
) -> None:
    """55 s left: the fetch deadline leaves 35 s, but the reports need their reserve after the
    imports, and a call's worst case does not fit in what remains: no import starts."""
    summary = lambda_handler({"source": "manual", "action": "check"}, LocalContext(timeout_s=55))
    said = outcome(summary)
    assert summary["status"] == "ok" and summary["new"] == len(EXPECTED)
    assert (said["ok"], said["imported"], said["left"]) == (False, 0, len(EXPECTED))
    assert "time budget for imports used up" in said["detail"] and standin.imports == 0
    assert outcome(run())["imported"] == len(EXPECTED)  # a run with time imports them


def test_no_call_starts_unless_its_worst_case_fits_in_the_budget(
    env: dict[str, str],
    standin: SecurityHubStandIn,
    fleet: Fleet,
    now_ms: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    add_high_images(fleet, 142, now_ms)  # 150 violations: two batches
    clock = {"now": 0.0}
    monkeypatch.setattr(findings_delivery, "_monotonic", lambda: clock["now"])

    def slow() -> None:
        clock["now"] += 170.0  # 10 s of the 180 s budget left: less than a call may take

    standin.on_import = slow
    said = outcome(run())
    assert (said["ok"], said["imported"], said["left"]) == (False, 100, 50) and standin.imports == 1
    assert "time budget for imports used up" in said["detail"]


def test_a_policy_file_that_fails_to_load_is_a_finding_about_that_file(
    env: dict[str, str], standin: SecurityHubStandIn
) -> None:
    broken = Path(env["POLICY_PATH"]) / "broken.json"
    broken.write_text("{ not json")
    run()
    [found] = [
        f for f in standin.findings.values() if f["GeneratorId"] == "imagewatch/imagewatch.invalid-policy"
    ]
    [resource] = found["Resources"]
    assert resource["Type"] == "Other"
    assert resource["Id"] == f"imagewatch/{target_of(env)}/policy-file/{broken}"
    assert "/image/" not in json.dumps(found["Resources"])
