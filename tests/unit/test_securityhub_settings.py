"""``SECURITY_HUB``: off by default, ``on``/``off`` only (a precise error otherwise), spelled-alike
names warned about; and nothing of Security Hub on the Lambda's cold start."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from imagewatch.handler import build_deps
from imagewatch.misconfiguration import warnings_for
from imagewatch.settings import Settings, SettingsError

BASE = {"HSS_PROJECT_ID": "p1", "HSS_REGION": "cn-north-4", "HSS_AK": "AKID", "HSS_SK": "SKSECRET"}
CHECKER = Path(__file__).resolve().parents[2] / "functions" / "checker"


@pytest.mark.parametrize(("value", "on"), [(None, False), ("", False), ("off", False), ("OFF", False),
                                           ("on", True), (" On ", True)])  # fmt: skip
def test_off_by_default_on_when_said(value: str | None, on: bool) -> None:
    env = BASE if value is None else {**BASE, "SECURITY_HUB": value}
    settings = Settings.from_env(env)
    assert settings.security_hub is on and settings.redacted()["security_hub"] is on


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("true", "SECURITY_HUB: got 'true', expected on or off (did you mean 'on'?)"),
        ("disabled", "SECURITY_HUB: got 'disabled', expected on or off (did you mean 'off'?)"),
        ("of", "SECURITY_HUB: got 'of', expected on or off (did you mean 'off'?)"),
        ("securityhub", "SECURITY_HUB: got 'securityhub', expected on or off"),
    ],
)
def test_anything_else_is_an_error_that_says_what_was_meant(value: str, message: str) -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({**BASE, "SECURITY_HUB": value})
    assert str(raised.value) == message and raised.value.variable == "SECURITY_HUB"


def test_a_misspelt_name_is_warned_about() -> None:
    settings = Settings.from_env({**BASE, "SECURITYHUB": "on"})
    assert settings.security_hub is False
    assert "SECURITYHUB is set but imagewatch reads no such variable (did you mean 'SECURITY_HUB'?)" in (
        warnings_for(settings, [])
    )


def test_on_without_an_aws_region_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from imagewatch import aws

    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/imagewatch-test-config")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no region from an instance's metadata either
    aws.reset()
    env = {**BASE, "SECURITY_HUB": "on", "STATE_PATH": ":memory:"}
    try:
        with pytest.raises(SettingsError) as raised:
            build_deps(Settings.from_env(env), env)
    finally:
        aws.reset()
    assert str(raised.value).startswith(
        "SECURITY_HUB: got 'on', expected an AWS region to import findings into"
    )


PROBE = """
import json, sys
sys.path.insert(0, sys.argv[1])
import app
print(json.dumps(sorted(sys.modules)))
"""


def test_nothing_of_security_hub_is_imported_at_cold_start() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(CHECKER)], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = set(json.loads(done.stdout))
    assert {"imagewatch.run", "imagewatch.alerts.delivery"} <= loaded  # the probe works
    assert (
        not {
            "imagewatch.alerts.channels.securityhub",
            "imagewatch.alerts.findings_delivery",
            "imagewatch.alerts.securityhub_client",
            "boto3",
        }
        & loaded
    )
