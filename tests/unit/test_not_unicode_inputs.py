"""Text that is not Unicode from what people configure: an event, a setting, a channel setting, a policy
file's name, a channels document nested past the validator. Each is refused at its place, never quoted
where it may be a secret; before, each failed the run later with ``UnicodeEncodeError`` (or, for the
deep document, ``RecursionError``) — found by review.

Python keeps undecodable bytes in the environment and in file names as U+DC80..U+DCFF, and JSON's
``\\ud800`` escape as half a UTF-16 pair: no UTF-8 writer downstream encodes either.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from imagewatch.alerts.routing import ChannelsFileError, channels_for, parse_channels
from imagewatch.events import EventError, parse_event
from imagewatch.policy import load_policies
from imagewatch.policy.validate import validate_files
from imagewatch.settings import Settings, SettingsError

BASE = {"HSS_PROJECT_ID": "p1", "HSS_REGION": "cn-north-4", "HSS_AK": "AKID", "HSS_SK": "SKSECRET"}


@pytest.mark.parametrize(
    ("event", "pointer"),
    [
        ({"source": "schedule", "scheduled_time": "2026-01-01T00:00:00Z\ud800"}, "/scheduled_time"),
        ({"source": "aws.events", "time": "2026-01-01T00:00:00Z", "detail": {"x": "\udcff"}}, "/detail/x"),
        ({"source": "manual", "action": "check", "\udc80": 1}, "/\\udc80"),
    ],
)
def test_an_event_holding_half_a_character_is_refused_at_its_pointer(event: dict, pointer: str) -> None:
    with pytest.raises(EventError) as caught:
        parse_event(event)
    assert str(caught.value).startswith(f"{pointer}: a lone surrogate")
    str(caught.value).encode("utf-8")


@pytest.mark.parametrize(
    ("variable", "value"),
    [("HSS_PROJECT_ID", "p1\udcff"), ("REPORT_DIR", "/tmp/reports-\udcff"), ("HSS_SK", "SK\ud800SECRET")],
)
def test_a_setting_that_is_not_unicode_is_refused_by_name(variable: str, value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({**BASE, variable: value})
    message = str(caught.value)
    assert message.startswith(f"{variable}: ") and "Unicode text" in message
    message.encode("utf-8")  # printable: the value is shown escaped, or hidden
    if variable == "HSS_SK":
        assert "SECRET" not in message


def test_a_channel_setting_that_is_not_unicode_is_refused_without_quoting_it() -> None:
    document = {
        "channels": [{"name": "b", "url": "${CHANNEL_ONCALL}", "mentions": ["${CHANNEL_ONCALL_MENTION}"]}]
    }
    env = {
        "CHANNEL_ONCALL": "https://hooks.slack.com/services/T/B/2",
        "CHANNEL_ONCALL_MENTION": "U123\ud800",  # e.g. from the settings secret's JSON
        "CHANNELS_JSON": json.dumps(document),
    }
    with pytest.raises(ChannelsFileError) as caught:
        channels_for(None, None, None, None, env)
    assert caught.value.problems == [
        "/channels/0/mentions: ${CHANNEL_ONCALL_MENTION} is not Unicode text (it holds undecodable bytes, "
        "or half of a \\ud800-\\udfff pair)"
    ]
    assert "U123" not in str(caught.value)


def test_a_policy_file_whose_name_is_not_unicode_is_refused_by_its_escaped_name(tmp_path: Path) -> None:
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / os.fsdecode(b"broken\xff.json")).write_text('{"id": "x"}')
    [error] = load_policies(folder).errors
    assert error.file == str(folder / "broken\\udcff.json")
    assert "a file name that is not Unicode text" in error.message
    str(error).encode("utf-8")
    # `imagewatch validate` reads files the same way, so it says so too (before: "valid" or schema errors)
    [said] = validate_files([str(folder)]).errors
    assert said == str(error)


def test_a_channels_document_nested_past_the_validator_is_refused_before_validation() -> None:
    """The deepest document json.loads still decodes here (~990 levels): before, the schema's error
    text then recursed past Python's limit (RecursionError out of parse_channels)."""
    depth = next(n for n in range(1000, 0, -5) if _decodes("[" * n + "]" * n))
    text = '{"channels": ' + "[" * depth + "]" * depth + "}"
    with pytest.raises(ChannelsFileError, match="nested more than 32 levels deep"):
        parse_channels(text, "CHANNELS_JSON", {})


def _decodes(text: str) -> bool:
    try:
        json.loads(text)
    except RecursionError:
        return False
    return True
