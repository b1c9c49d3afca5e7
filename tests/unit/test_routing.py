"""CHANNELS_FILE: schema, ${VAR} references, routing rules, and errors that say where."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imagewatch.alerts.channels import generic, slack
from imagewatch.alerts.routing import ChannelsFileError, channels_for, load_channels
from imagewatch.settings import SettingsError

ENV = {"ONCALL_URL": "https://hooks.slack.com/services/T1/B1/SECRET1", "AUDIT_URL": "https://audit.example/hook",
       "AUDIT_KEY": "k3y"}  # fmt: skip


def write(tmp_path: Path, document: object) -> Path:
    path = tmp_path / "channels.json"
    path.write_text(json.dumps(document))
    return path


def test_a_full_file_resolves_references_and_rules(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {
            "channels": [
                {"name": "oncall", "url": "${ONCALL_URL}", "min_severity": "high", "mentions": ["!here"],
                 "repeat_interval": "4h", "policies": ["high-*", "malicious-files"]},
                {"name": "audit", "url": "${AUDIT_URL}", "secret": "${AUDIT_KEY}", "send_resolved": False,
                 "repeat_interval": None, "labels": {"team": "pay*"}},
            ]
        },
    )  # fmt: skip
    oncall, audit = load_channels(path, ENV)
    assert (oncall.name, oncall.platform, oncall.url, oncall.mentions) == (
        "oncall",
        slack,
        ENV["ONCALL_URL"],
        ("!here",),
    )
    assert oncall.rule.min_severity == "high" and oncall.rule.repeat_interval_ms == 4 * 3_600_000
    assert oncall.rule.policies == ("high-*", "malicious-files")
    assert (audit.platform, audit.secret, audit.rule.send_resolved) == (generic, "k3y", False)
    assert audit.rule.repeat_interval_ms is None and audit.rule.labels == (("team", "pay*"),)
    assert "SECRET1" not in repr(oncall) and "k3y" not in repr(audit)


def test_every_problem_is_reported_with_its_pointer_and_no_secret(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {
            "channels": [
                {"name": "a", "url": "${MISSING_URL}"},
                {"name": "a", "url": "http://insecure.example/${AUDIT_KEY}"},
                {"name": "b", "url": "${AUDIT_URL}", "repeat_interval": "soon"},
            ]
        },
    )
    with pytest.raises(ChannelsFileError) as caught:
        load_channels(path, ENV)
    problems = caught.value.problems
    assert (
        "/channels/0/url: ${MISSING_URL} is not set (expected a setting or secret key named MISSING_URL)"
        in problems
    )
    assert "/channels/1/name: 'a' is used by another channel; names must be unique" in problems
    assert "/channels/1/url: expected an https:// URL (http:// only for 127.0.0.1/localhost)" in problems
    assert any(p.startswith('/channels/2/repeat_interval: got "soon", expected a duration') for p in problems)
    assert "k3y" not in str(caught.value) and str(path) in str(caught.value)


@pytest.mark.parametrize(
    ("document", "fragment"),
    [
        ({}, "'channels' is a required property"),
        ({"channels": []}, "/channels: [] should be non-empty"),
        ({"channels": [{"name": "x"}]}, "/channels/0: 'url' is a required property"),
        (
            {"channels": [{"name": "x", "url": "u", "platform": "icq"}]},
            "/channels/0/platform: 'icq' is not one of",
        ),
        ({"channels": [{"name": "x", "url": "u", "min_severity": "urgent"}]}, "/channels/0/min_severity"),
        ({"channels": [{"name": "x", "url": "u", "colour": "red"}]}, "Additional properties are not allowed"),
    ],
)
def test_schema_errors(tmp_path: Path, document: object, fragment: str) -> None:
    with pytest.raises(ChannelsFileError, match=r"channels\.json") as caught:
        load_channels(write(tmp_path, document), ENV)
    assert fragment in str(caught.value)


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ChannelsFileError, match="cannot read it"):
        load_channels(tmp_path / "absent.json", ENV)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ChannelsFileError, match="not JSON"):
        load_channels(bad, ENV)


def test_webhook_url_alone_is_one_default_channel_with_default_rules() -> None:
    [channel] = channels_for(None, "https://hooks.slack.com/services/T/B/X", None, None, {})
    assert channel.name == "default" and channel.platform is slack
    assert channel.rule.send_resolved and channel.rule.repeat_interval_ms == 24 * 3_600_000
    assert channels_for(None, None, None, None, {}) == []
    with pytest.raises(SettingsError, match="WEBHOOK_PLATFORM"):
        channels_for(None, "https://example.test/hook", None, "icq", {})


def test_channels_json_setting_wins_and_is_checked_the_same_way() -> None:
    document = json.dumps({"channels": [{"name": "ops", "url": "${AUDIT_URL}"}]})
    [channel] = channels_for(
        None, "https://hooks.slack.com/services/T/B/X", None, None, {**ENV, "CHANNELS_JSON": document}
    )
    assert channel.name == "ops" and channel.platform is generic
    with pytest.raises(ChannelsFileError, match=r"^CHANNELS_JSON: /channels/0: 'url' is a required property"):
        channels_for(None, None, None, None, {"CHANNELS_JSON": json.dumps({"channels": [{"name": "x"}]})})
