"""Fault-matrix fixtures: the known fleet on an emulator that takes planted credentials, a signed
webhook stand-in on the harness's virtual clock, and the handler wired to the fault harness.

Every secret here is planted: a value no output may ever contain (tests/support/fault_harness.leaks).
The soak prints its tallies through ``pytest_terminal_summary``, so they show in ``make test``'s
``pytest -q`` output, not only with ``-s``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from imagewatch import aws, secret_settings
from imagewatch.emulator import Credentials, Emulator, Fleet
from imagewatch.standins.webhook_sink import WebhookSink
from support.fault_harness import FakeTime, Harness, RunClock
from support.known_fleet import e2e_policy_folder, known_fleet
from support.soak_model import SOAK_REPORT

PLANTED = {
    "HSS_AK": "AKPLANTEDFAULTS0001",
    "HSS_SK": "sk-planted-faults-Qw8e",
    "HSS_SECURITY_TOKEN": "sectok-planted-faults-Rt5y",
    "HSS_IAM_PASSWORD": "iampw-planted-faults-Ui7o",
    "WEBHOOK_SECRET": "whsec-planted-faults-Pa9s",
}
WEBHOOK_TOKEN = "hooktoken-planted-faults-Df2g"  # the secret part of the stand-in's webhook URL


def credentials() -> Credentials:
    return Credentials(
        access_key=PLANTED["HSS_AK"],
        secret_key=PLANTED["HSS_SK"],
        security_token=PLANTED["HSS_SECURITY_TOKEN"],
        iam_user="faults-user",
        iam_password=PLANTED["HSS_IAM_PASSWORD"],
        iam_domain="faults-domain",
    )


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def run_clock() -> RunClock:
    return RunClock()


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    return e2e_policy_folder(tmp_path)


@pytest.fixture
def fleet(run_clock: RunClock) -> Fleet:
    return Fleet.from_records(known_fleet(int(run_clock.now * 1000)))


@pytest.fixture
def hss(fleet: Fleet) -> Iterator[Emulator]:
    with Emulator(fleet, credentials()) as running:
        yield running
        running.wake()


@pytest.fixture
def sink(fake_time: FakeTime) -> Iterator[WebhookSink]:
    with WebhookSink(
        "generic", secret=PLANTED["WEBHOOK_SECRET"], token=WEBHOOK_TOKEN, clock=fake_time.wall
    ) as running:
        yield running


@pytest.fixture
def env(
    monkeypatch: pytest.MonkeyPatch, hss: Emulator, sink: WebhookSink, policy_dir: Path, tmp_path: Path
) -> dict[str, str]:
    """The function's settings as Lambda gives them: AK/SK with a security token, one signed channel."""
    values = {
        "HSS_ENDPOINT": hss.url,
        "HSS_PROJECT_ID": hss.project_id,
        "HSS_AK": PLANTED["HSS_AK"],
        "HSS_SK": PLANTED["HSS_SK"],
        "HSS_SECURITY_TOKEN": PLANTED["HSS_SECURITY_TOKEN"],
        "WEBHOOK_URL": sink.url,
        "WEBHOOK_SECRET": PLANTED["WEBHOOK_SECRET"],
        "POLICY_PATH": str(policy_dir),
        "STATE_PATH": str(tmp_path / "state.sqlite3"),
        "REPORT_DIR": str(tmp_path / "reports"),
    }
    for name in (
        "HSS_REGION",
        "HSS_AUTH_TOKEN",
        "HSS_IAM_USER",
        "HSS_IAM_PASSWORD",
        "HSS_IAM_DOMAIN",
        "HSS_IAM_ENDPOINT",
        "WEBHOOK_PLATFORM",
        "CHANNELS_FILE",
        "CHANNELS_JSON",
        "STATE_TABLE",
        "REPORT_BUCKET",
        "SETTINGS_SECRET",
        "POLICY_S3_URI",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    aws.reset()
    secret_settings.reset()
    return values


@pytest.fixture
def harness(
    env: dict[str, str],
    sink: WebhookSink,
    fake_time: FakeTime,
    run_clock: RunClock,
    monkeypatch: pytest.MonkeyPatch,
) -> Harness:
    """The handler wired to virtual time and a store that fails on cue; one sink named ``default``."""
    return Harness({"default": sink}, fake=fake_time, clock=run_clock, loopback_transport=True).install(
        monkeypatch
    )


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The soak's tallies, in every output mode (``make test`` runs ``pytest -q``)."""
    lines = terminalreporter.config.stash.get(SOAK_REPORT, None)
    if lines:
        terminalreporter.section("imagewatch fault soak")
        for line in lines:
            terminalreporter.write_line(line)
