"""``imagewatch doctor`` as a user runs it: a subprocess against the emulator and webhook stand-ins.

Every run asserts that no credential and no webhook URL reaches stdout or stderr.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from imagewatch.emulator import Emulator, Fleet
from imagewatch.emulator.auth import (
    DEMO_AK,
    DEMO_IAM_DOMAIN,
    DEMO_IAM_PASSWORD,
    DEMO_IAM_USER,
    DEMO_SK,
    DEMO_TOKEN,
    Credentials,
)
from imagewatch.standins.webhook_sink import WebhookSink
from support.emulator_support import loopback_client
from support.known_fleet import FIXTURE_PACK, ROOT

PACKAGE_ROOT = ROOT / "functions" / "checker"
STS_TOKEN = "sts-session-token-for-the-doctor"  # made up
CREDENTIALS = {
    "AK/SK": {"HSS_AK": DEMO_AK, "HSS_SK": DEMO_SK},
    "temporary AK/SK": {"HSS_AK": DEMO_AK, "HSS_SK": DEMO_SK, "HSS_SECURITY_TOKEN": STS_TOKEN},
    "X-Auth-Token": {"HSS_AUTH_TOKEN": DEMO_TOKEN},
    "IAM password": {
        "HSS_IAM_USER": DEMO_IAM_USER,
        "HSS_IAM_PASSWORD": DEMO_IAM_PASSWORD,
        "HSS_IAM_DOMAIN": DEMO_IAM_DOMAIN,
    },
}
SECRETS = (DEMO_SK, DEMO_TOKEN, DEMO_IAM_PASSWORD, STS_TOKEN)


def doctor(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "imagewatch.cli", "doctor", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env,
        timeout=120,
        check=False,
    )
    shown = done.stdout + done.stderr
    leaked = [secret for secret in (*SECRETS, *env.get("_SECRETS", "").split()) if secret and secret in shown]
    assert not leaked, shown
    return done


def base_env(tmp_path: Path, emulator: Emulator, **settings: str) -> dict[str, str]:
    """Only what the doctor should see: no HSS_* or WEBHOOK_* from the developer's shell."""
    values = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", str(tmp_path)),
        "PYTHONPATH": os.pathsep.join([str(PACKAGE_ROOT), os.environ.get("PYTHONPATH", "")]),
        "PYTHONIOENCODING": "utf-8",
        "POWERTOOLS_LOG_LEVEL": "DEBUG",  # whatever is logged is checked for secrets too
        "HSS_ENDPOINT": emulator.url,
        "HSS_PROJECT_ID": emulator.project_id,
        "POLICY_PATH": str(FIXTURE_PACK),  # the tests' own pack: policies/ is the user's
        "STATE_PATH": str(tmp_path / "state" / "state.sqlite3"),
        "REPORT_DIR": str(tmp_path / "reports"),
        **settings,
    }
    return {name: value for name, value in values.items() if value}


def total_num(emulator: Emulator, enterprise_project: str | None = None) -> int:
    """What HSS says it holds, asked independently of the doctor (plain httpx, the demo token)."""
    params = {"limit": 10, **({"enterprise_project_id": enterprise_project} if enterprise_project else {})}
    with loopback_client(headers={"X-Auth-Token": DEMO_TOKEN}) as http:
        return int(http.get(emulator.list_url, params=params).json()["total_num"])


def lines(done: subprocess.CompletedProcess[str], start: str) -> list[str]:
    return [line for line in done.stdout.splitlines() if line.startswith(start)]


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(Fleet.synthetic(50, seed=1)) as running:  # 60% of hosts in the default project
        yield running


@pytest.fixture
def sink() -> Iterator[WebhookSink]:
    with WebhookSink("generic") as running:
        yield running


@pytest.mark.parametrize("kind", list(CREDENTIALS))
def test_a_good_setup_says_host_credential_kind_and_total(
    kind: str, tmp_path: Path, sink: WebhookSink
) -> None:
    credentials = Credentials(security_token=STS_TOKEN if kind == "temporary AK/SK" else None)
    with Emulator(Fleet.synthetic(50, seed=1), credentials) as emulator:
        env = base_env(tmp_path, emulator, WEBHOOK_URL=sink.url, **CREDENTIALS[kind])
        done = doctor(env=env)
        default, every = total_num(emulator), total_num(emulator, "all_granted_eps")
        host = f"127.0.0.1:{emulator.port}"
    assert done.returncode == 0, done.stdout + done.stderr
    assert lines(done, "✓ HSS:") == [
        f"✓ HSS: reached {host} with {kind}: ListImageLocal total_num {default} "
        "in the default enterprise project"
    ]
    assert f"credentials: {kind} (" in lines(done, "✓ settings:")[0]
    assert lines(done, "! enterprise project:") == [
        "! enterprise project: HSS_ENTERPRISE_PROJECT_ID is unset, so HSS lists only the default enterprise "
        f"project: {default} records there, {every} in all granted enterprise projects"
    ]
    assert default < every
    assert "    fix: export HSS_ENTERPRISE_PROJECT_ID=all_granted_eps" in done.stdout
    assert lines(done, "✓ channels:") == ["✓ channels: 1 channel"]
    assert f"    default: generic (127.0.0.1:{urlsplit(sink.url).port})" in done.stdout
    assert sink.url not in done.stdout and sink.token not in done.stdout
    assert lines(done, "✓ policies:") == [f"✓ policies: 8 valid policies in {FIXTURE_PACK}"]
    assert "✓ ledger: SQLite file" in done.stdout and "(will be created)" in done.stdout
    assert done.stdout.rstrip().endswith("0 problems, 1 warning (exit 0)")
    assert not (tmp_path / "state").exists() and not (tmp_path / "reports").exists()  # looked at, not made
    assert sink.attempts == 0  # nothing is sent without --send-test


def test_all_granted_eps_reads_everything_and_json_says_so(tmp_path: Path, emulator: Emulator) -> None:
    env = base_env(tmp_path, emulator, HSS_ENTERPRISE_PROJECT_ID="all_granted_eps", **CREDENTIALS["AK/SK"])
    done = doctor("--format", "json", env=env)
    report = json.loads(done.stdout)
    checks = {check["name"]: check for check in report["checks"]}
    assert done.returncode == 0 and report["exit_code"] == 0 and report["ok"] is True
    assert checks["HSS"]["summary"].endswith(
        f"total_num {total_num(emulator, 'all_granted_eps')} in all granted enterprise projects"
    )
    assert checks["enterprise project"]["status"] == "ok"
    assert checks["channels"]["status"] == "warn"  # none configured
    assert report["warnings"] == 1


@pytest.mark.parametrize(
    ("kind", "wrong", "needle"),
    [
        ("AK/SK", {"HSS_AK": DEMO_AK, "HSS_SK": "not-the-secret-key-1234"}, "HSS_AK and HSS_SK"),
        ("X-Auth-Token", {"HSS_AUTH_TOKEN": "not-a-valid-token-5678"}, "HSS_AUTH_TOKEN"),
        (
            "IAM password",
            {
                "HSS_IAM_USER": DEMO_IAM_USER,
                "HSS_IAM_PASSWORD": "wrong-password-90",
                "HSS_IAM_DOMAIN": "demo-domain",
            },
            "HSS_IAM_PASSWORD",
        ),
    ],
)
def test_wrong_credentials_exit_3_with_the_kind_and_the_hss_error(
    kind: str, wrong: dict[str, str], needle: str, tmp_path: Path, emulator: Emulator
) -> None:
    secret = next(
        value for name, value in wrong.items() if name in ("HSS_SK", "HSS_AUTH_TOKEN", "HSS_IAM_PASSWORD")
    )
    env = {**base_env(tmp_path, emulator, **wrong), "_SECRETS": secret}  # doctor() checks it never shows
    done = doctor(env=env)
    assert done.returncode == 3, done.stdout + done.stderr
    [failed] = lines(done, "✗ HSS:")
    host = f"127.0.0.1:{emulator.port}"
    shown_kind = f"{kind} (tokens from {host})" if kind == "IAM password" else kind
    assert failed.startswith(
        f"✗ HSS: could not list images at {host} with {shown_kind}: HSS answered HTTP 401"
    )
    fix = done.stdout.split(failed, 1)[1].splitlines()[1]
    assert fix.startswith("    fix: ") and needle in fix
    assert "✓ policies:" in done.stdout  # the other checks still ran
    assert done.stdout.rstrip().endswith("(exit 3)")


def test_no_channel_is_a_warning_that_names_a_misspelled_variable(tmp_path: Path, emulator: Emulator) -> None:
    hook = "http://127.0.0.1:9/hook/misspelled-token"
    env = base_env(tmp_path, emulator, WEBHOOK_ULR=hook, **CREDENTIALS["AK/SK"])
    done = doctor(env=env)
    assert done.returncode == 0
    assert lines(done, "! channels:") == [
        "! channels: no channel configured: runs find violations and tell no one"
    ]
    assert "    WEBHOOK_ULR is set, but it is not a setting: did you mean WEBHOOK_URL?" in done.stdout
    assert "misspelled-token" not in done.stdout


def test_a_loopback_slack_url_is_warned_then_chosen_then_sent_to(tmp_path: Path, emulator: Emulator) -> None:
    with WebhookSink("slack") as slack:
        env = base_env(tmp_path, emulator, WEBHOOK_URL=slack.url, **CREDENTIALS["AK/SK"])
        unrecognised = doctor(env=env)
        chosen = doctor("--send-test", env={**env, "WEBHOOK_PLATFORM": "slack"})
        received = list(slack.received)
    assert unrecognised.returncode == 0
    assert (
        "    default: the URL looks like a slack webhook but is not slack's own host and path"
        in unrecognised.stdout
    )
    assert "WEBHOOK_PLATFORM=slack" in unrecognised.stdout
    assert slack.token not in unrecognised.stdout + chosen.stdout
    assert chosen.returncode == 0, chosen.stdout
    assert "    default: slack (127.0.0.1:" in chosen.stdout and "looks like" not in chosen.stdout
    assert lines(chosen, "✓ test notification:") == ["✓ test notification: sent to 1 channel"]
    assert len(received) == 1 and "blocks" in received[0].json()  # a Slack message, as Slack takes it


def test_a_refused_test_message_exits_4(tmp_path: Path, emulator: Emulator, sink: WebhookSink) -> None:
    sink.fail_next(1, 400, b"rejected")
    env = base_env(tmp_path, emulator, WEBHOOK_URL=sink.url, **CREDENTIALS["AK/SK"])
    done = doctor("--send-test", env=env)
    assert done.returncode == 4, done.stdout
    assert "✗ test notification: 1 of 1 channel did not confirm" in done.stdout
    assert "    default (generic): FAILED after 1 attempt: HTTP 400" in done.stdout


def test_a_malformed_region_exits_2_with_the_closest_region_and_reads_nothing(
    tmp_path: Path, emulator: Emulator
) -> None:
    env = base_env(tmp_path, emulator, HSS_REGION="cn_north_4", **CREDENTIALS["AK/SK"])
    del env["HSS_ENDPOINT"]
    done = doctor(env=env)
    assert done.returncode == 2, done.stdout
    assert lines(done, "✗ settings:") == [
        "✗ settings: HSS_REGION: got 'cn_north_4', expected a region id such as 'cn-north-4'"
    ]
    assert (
        "    fix: set HSS_REGION to a region id such as cn-north-4 (did you mean 'cn-north-4'?)"
        in done.stdout
    )
    assert "- HSS: not tried: the settings are incomplete" in done.stdout
    assert "✓ policies:" in done.stdout  # what does not need the settings is still checked
    assert emulator.stats.requests == 0


def test_an_unreachable_hss_exits_3_with_where(tmp_path: Path, emulator: Emulator) -> None:
    with socket.socket() as probe:  # a port nothing listens on: connection refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = base_env(tmp_path, emulator, HSS_ENDPOINT=f"http://127.0.0.1:{port}", **CREDENTIALS["AK/SK"])
    done = doctor(env=env)
    assert done.returncode == 3, done.stdout
    assert lines(done, "✗ HSS:")[0].startswith(f"✗ HSS: could not list images at 127.0.0.1:{port} with AK/SK")
    assert f"    fix: check that 127.0.0.1:{port} is reachable from here" in done.stdout


def test_every_problem_at_once_and_the_exit_code_that_says_the_most(
    tmp_path: Path, emulator: Emulator
) -> None:
    """Broken policies (2), an unusable ledger path (5), a report folder that is a file (5): all shown,
    exit 2 — configuration before storage."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    env = base_env(
        tmp_path,
        emulator,
        POLICY_PATH=str(ROOT / "tests" / "fixtures" / "policies_broken"),
        STATE_PATH=str(blocker / "state.sqlite3"),
        REPORT_DIR=str(blocker),
        **CREDENTIALS["AK/SK"],
    )
    done = doctor(env=env)
    assert done.returncode == 2, done.stdout
    assert lines(done, "✗ policies:") and "    fix: run `imagewatch validate " in done.stdout
    assert lines(done, "✗ ledger:") == [
        f"✗ ledger: SQLite file {blocker / 'state.sqlite3'}: {blocker} is a file, so "
        f"{blocker / 'state.sqlite3'} cannot be created below it"
    ]
    assert lines(done, "✗ reports:") == [
        f"✗ reports: report folder {blocker}: {blocker} is a file, not a folder"
    ]
    assert "✓ HSS:" in done.stdout
    only_storage = doctor(env={**env, "POLICY_PATH": str(FIXTURE_PACK)})
    assert only_storage.returncode == 5


def test_a_dynamodb_ledger_is_asked_one_page(tmp_path: Path, emulator: Emulator, moto_server: object) -> None:
    from support.moto_support import REGION, create_ledger_table

    table = create_ledger_table(moto_server.client("dynamodb"))  # type: ignore[attr-defined]
    aws = {
        "AWS_ENDPOINT_URL": moto_server.url,  # type: ignore[attr-defined]
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }
    env = base_env(tmp_path, emulator, **aws, **CREDENTIALS["AK/SK"])
    found = doctor(env={**env, "STATE_TABLE": table})
    missing = doctor(env={**env, "STATE_TABLE": "no-such-table"})
    assert found.returncode == 0 and lines(found, "✓ ledger:") == [
        f"✓ ledger: DynamoDB table {table} answered"
    ]
    assert missing.returncode == 5
    assert lines(missing, "✗ ledger:") == [
        "✗ ledger: DynamoDB table no-such-table: cannot read the ledger: ResourceNotFoundException"
    ]


def test_a_bad_format_names_the_flag_and_the_choices(tmp_path: Path, emulator: Emulator) -> None:
    done = doctor("--format", "jsn", env=base_env(tmp_path, emulator, **CREDENTIALS["AK/SK"]))
    assert done.returncode == 2
    assert "argument --format: got 'jsn', expected one of: human, json (did you mean 'json'?)" in done.stderr
