"""End-to-end fixtures: the emulator with a known fleet, webhook sinks, and the handler's settings."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from imagewatch.emulator import Emulator, Fleet
from imagewatch.standins.webhook_sink import WebhookSink
from support.known_fleet import e2e_policy_folder, known_fleet


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    """Three policies of the tests' own pack (a copy of what shipped), copied as they are."""
    return e2e_policy_folder(tmp_path)


@pytest.fixture
def fleet() -> Fleet:
    return Fleet.from_records(known_fleet(int(time.time() * 1000)))


@pytest.fixture
def hss(fleet: Fleet) -> Iterator[Emulator]:
    with Emulator(fleet) as running:
        yield running


@pytest.fixture
def sink() -> Iterator[WebhookSink]:
    with WebhookSink("generic", secret="e2e-signing-secret") as running:
        yield running


@pytest.fixture
def env(
    monkeypatch: pytest.MonkeyPatch, hss: Emulator, sink: WebhookSink, policy_dir: Path, tmp_path: Path
) -> dict:
    """The handler's settings, as environment variables (the way Lambda gives them)."""
    values = {
        "HSS_ENDPOINT": hss.url,
        "HSS_PROJECT_ID": hss.project_id,
        "HSS_AK": "DEMOAK",
        "HSS_SK": "demo-secret",
        "WEBHOOK_URL": sink.url,
        "WEBHOOK_SECRET": "e2e-signing-secret",
        "POLICY_PATH": str(policy_dir),
        "STATE_PATH": str(tmp_path / "state.sqlite3"),
        "REPORT_DIR": str(tmp_path / "reports"),
    }
    for name in ("HSS_REGION", "CHANNELS_FILE", "STATE_TABLE", "REPORT_BUCKET", "SETTINGS_SECRET"):
        monkeypatch.delenv(name, raising=False)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values
