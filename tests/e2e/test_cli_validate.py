"""``imagewatch validate`` across the three kinds of file users write: policies, channels, events."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from support.known_fleet import ROOT


def validate(*paths: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "imagewatch.cli", "validate", *paths],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )


def test_shipped_events_and_policies_are_valid() -> None:
    events = sorted(str(p) for p in (ROOT / "events").glob("*.json"))
    result = validate(*events, "policies")
    assert result.returncode == 0, result.stdout
    assert result.stdout.count(": valid event") == len(events)
    assert result.stdout.rstrip().endswith("8 files: 8 valid policies, 0 errors, 0 warnings")


def test_broken_channel_file_event_and_policy_each_say_where(tmp_path: Path) -> None:
    channels = tmp_path / "channels.json"
    channels.write_text(
        json.dumps({"channels": [{"name": "ops", "url": "${OPS_URL}", "min_severity": "urgent"}]})
    )
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"source": "manual", "action": "resend"}))
    result = validate(str(channels), str(event), "tests/fixtures/policies_broken/bad_severity.json")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert f"{channels} /channels/0/min_severity: 'urgent' is not one of" in "\n".join(lines)
    assert f"{event} /channel: required by action 'resend'" in "\n".join(lines)
    assert any(
        line.startswith("tests/fixtures/policies_broken/bad_severity.json /severity:") for line in lines
    )


def test_a_good_channels_file_is_checked_without_its_secrets(tmp_path: Path) -> None:
    channels = tmp_path / "channels.json"
    channels.write_text(json.dumps({"channels": [{"name": "ops", "url": "${OPS_URL}", "platform": "slack"}]}))
    result = validate(str(channels))
    assert result.returncode == 0 and f"{channels}: valid channels file" in result.stdout
