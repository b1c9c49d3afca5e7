"""Invocation events: each shipped event file parses; malformed ones say where and why."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imagewatch.events import EventError, parse_event

EVENTS = Path(__file__).resolve().parents[2] / "events"


def test_shipped_events_parse() -> None:
    requests = {path.name: parse_event(json.loads(path.read_text())) for path in EVENTS.glob("*.json")}
    assert requests["scheduled.json"].trigger == "schedule"
    assert requests["scheduled.json"].scheduled_time == "2026-11-26T08:00:00Z"
    assert requests["eventbridge-scheduled.json"].trigger == "eventbridge"
    assert requests["dry-run.json"].dry_run is True
    assert requests["policy-subset.json"].policy_ids == ("high-severity", "malicious-files")
    assert requests["test-notification.json"].action == "test-notification"
    assert (requests["resend-open.json"].action, requests["resend-open.json"].channel) == (
        "resend",
        "default",
    )


@pytest.mark.parametrize(
    ("event", "fragment"),
    [
        ([], "expected a JSON object"),
        ({}, "/source: got None"),
        ({"source": "sqs"}, "/source: got 'sqs', expected one of aws.events, manual, schedule"),
        ({"source": "schedule"}, "'scheduled_time' is a required property"),
        (
            {"source": "schedule", "scheduled_time": "yesterday"},
            "/scheduled_time: 'yesterday' does not match",
        ),
        (
            {"source": "manual", "action": "check", "dry_run": "yes"},
            "/dry_run: 'yes' is not of type 'boolean'",
        ),
        (
            {"source": "manual", "action": "explode"},
            "/action: 'explode' is not one of ['check', 'test-notification'",
        ),
        ({"source": "manual", "action": "resend"}, "/channel: required by action 'resend'"),
        ({"source": "manual", "action": "check", "channel": "ops"}, "/channel: not used by action 'check'"),
        (
            {"source": "manual", "action": "test-notification", "dry_run": True},
            "/dry_run: not used by action",
        ),
        (
            {"source": "manual", "action": "resend", "channel": "Bad Name"},
            "/channel: 'Bad Name' does not match",
        ),
        ({"source": "manual", "action": "check", "policies": []}, "/policies: [] should be non-empty"),
        ({"source": "manual", "action": "check", "extra": 1}, "Additional properties are not allowed"),
    ],
)
def test_malformed_events_name_pointer_and_expectation(event: object, fragment: str) -> None:
    with pytest.raises(EventError) as caught:
        parse_event(event)
    assert fragment in str(caught.value)


def test_manual_subset() -> None:
    request = parse_event({"source": "manual", "action": "check", "policies": ["a", "b"]})
    assert request.policy_ids == ("a", "b") and not request.dry_run


def test_a_target_travels_in_scheduled_and_manual_events() -> None:
    target = {"name": "prod-cn4", "region": "cn-north-4", "project_id": "p", "settings_secret": "arn:x"}
    assert (
        parse_event({"source": "schedule", "scheduled_time": "2026-11-26T08:00:00Z", "target": target}).target
        == target
    )
    assert parse_event({"source": "manual", "action": "check", "target": target}).target == target
    with pytest.raises(EventError, match="/target: 'name' is a required property"):
        parse_event({"source": "manual", "action": "check", "target": {"region": "cn-north-4"}})
    with pytest.raises(EventError, match="/target/region: 'North 4' does not match"):
        parse_event({"source": "manual", "action": "check", "target": {"name": "x", "region": "North 4"}})


def test_hostile_events_get_short_clear_errors() -> None:
    deep: list = []
    node = deep
    for _ in range(5000):
        node.append([])
        node = node[0]
    with pytest.raises(EventError, match=r"^event: nested too deeply"):
        parse_event({"source": "manual", "action": "check", "policies": deep})
    with pytest.raises(EventError, match=r"^event: nested too deeply"):  # before the source is quoted
        parse_event({"source": deep})
    with pytest.raises(EventError, match=r"^event: nested too deeply"):
        parse_event({"source": "manual", "action": "check", "target": {"name": {"x": deep}}})
    shallow = {"source": "manual", "action": "check", "policies": [[[["p"]]]]}  # wrong, but not a bomb
    with pytest.raises(EventError, match=r"^/policies/0: \[\[\['p'\]\]\] is not of type 'string'"):
        parse_event(shallow)
    with pytest.raises(EventError) as huge:
        parse_event({"source": "schedule", "scheduled_time": "x" * 1_000_000})
    assert str(huge.value).startswith("/scheduled_time: 'xxx") and len(str(huge.value)) <= 300
    with pytest.raises(EventError) as wrong:
        parse_event({"source": "y" * 100_000})
    assert len(str(wrong.value)) <= 300
