"""Invocation events: what may start a run, checked with JSON Schema, turned into a ``RunRequest``.

* ``{"source": "schedule", "scheduled_time": "…"}`` — the EventBridge Scheduler (ScheduleV2) input;
* a classic EventBridge scheduled event (``"source": "aws.events"``, ``"detail-type": "Scheduled Event"``);
* ``{"source": "manual", "action": "check", "dry_run": true, "policies": [ids]}`` — a check by hand
  (``dry_run`` and ``policies`` optional);
* ``{"source": "manual", "action": "test-notification"}`` — one small message to every channel;
* ``{"source": "manual", "action": "resend", "channel": NAME}`` — everything open, again, to one channel.

Scheduled and manual events may carry a ``target`` — which HSS project to check, and where its
credentials are — so one deployment checks many targets, one invocation each (docs/targets.md):
``{"name": "prod-cn4", "region": "cn-north-4", "project_id": "…", "enterprise_project_id": "…",
"settings_secret": "arn:…"}``.

A malformed event is an ``EventError`` naming the JSON pointer, the value and what was expected.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator

from imagewatch.request import RunRequest

_TIME = {"type": "string", "format": "date-time", "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}"}
_TARGET = {
    "type": "object",
    "required": ["name"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "pattern": "^[a-z0-9][a-z0-9._-]{0,63}$"},
        "region": {"type": "string", "pattern": "^[a-z]{2}(-[a-z0-9]+)+$"},
        "project_id": {"type": "string", "minLength": 1, "maxLength": 256},
        "enterprise_project_id": {"type": "string", "minLength": 1, "maxLength": 256},
        "endpoint": {"type": "string", "pattern": "^https?://"},
        "settings_secret": {"type": "string", "minLength": 1, "maxLength": 2048},
    },
}

SCHEMAS: dict[str, dict[str, Any]] = {
    "schedule": {
        "type": "object",
        "required": ["source", "scheduled_time"],
        "properties": {
            "source": {"const": "schedule"},
            "scheduled_time": _TIME,
            "dry_run": {"type": "boolean"},
            "target": _TARGET,
        },
        "additionalProperties": False,
    },
    "aws.events": {
        "type": "object",
        "required": ["source", "detail-type", "time"],
        "properties": {
            "source": {"const": "aws.events"},
            "detail-type": {"const": "Scheduled Event"},
            "time": _TIME,
        },
    },
    "manual": {
        "type": "object",
        "required": ["source", "action"],
        "properties": {
            "source": {"const": "manual"},
            "action": {"enum": ["check", "test-notification", "resend"]},
            "dry_run": {"type": "boolean"},
            "target": _TARGET,
            "channel": {"type": "string", "pattern": "^[a-z0-9][a-z0-9._-]{0,63}$"},
            "policies": {
                "type": "array",
                "items": {"type": "string", "minLength": 1},
                "minItems": 1,
                "uniqueItems": True,
            },
        },
        "additionalProperties": False,
    },
}


@cache
def _validator(source: str) -> Draft202012Validator:
    """Built on first use: a container invoked by its schedule never needs the other sources'."""
    return Draft202012Validator(SCHEMAS[source])


class EventError(ValueError):
    """The event cannot start a run; says where and why."""


def _clip(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


MAX_DEPTH = 16  # a valid event nests 2 levels (a target object, a policies list); hostile ones stop here


def _nests_deeper_than(value: object, limit: int) -> bool:
    """Level by level, not recursively: a hostile event cannot exhaust the stack, whatever the
    Python version's recursion limits, and neither can validating or quoting it afterwards."""
    level = [value]
    for _ in range(limit):
        level = [
            child
            for node in level
            if isinstance(node, Mapping | list | tuple)
            for child in (node.values() if isinstance(node, Mapping) else node)
        ]
        if not level:
            return False
    return any(isinstance(node, Mapping | list | tuple) for node in level)


def _pointer(path: Any) -> str:
    return "/" + "/".join(str(part) for part in path) if path else "(event)"


_ACTION_KEYS = {
    "check": {"dry_run", "policies", "target"},
    "test-notification": {"target"},
    "resend": {"channel", "target"},
}


def _manual_action_problems(event: Mapping[str, Any]) -> list[str]:
    """Which keys each manual action takes (JSON Schema's if/then would say it less clearly)."""
    action = event["action"]
    takes = ", ".join(sorted(_ACTION_KEYS[action])) or "nothing"
    problems = [
        f"/{key}: not used by action {action!r} (it takes: {takes})"
        for key in sorted(set(event) - {"source", "action"} - _ACTION_KEYS[action])
    ]
    if action == "resend" and "channel" not in event:
        problems.append("/channel: required by action 'resend' (the channel to send everything open to)")
    return problems


def parse_event(event: object) -> RunRequest:
    if not isinstance(event, Mapping):
        raise EventError(f"event: got {type(event).__name__}, expected a JSON object")
    if _nests_deeper_than(event, MAX_DEPTH):
        raise EventError(f"event: nested too deeply to be an imagewatch event (more than {MAX_DEPTH} levels)")
    source = event.get("source")
    if not isinstance(source, str) or source not in SCHEMAS:
        raise EventError(_clip(f"/source: got {source!r}, expected one of {', '.join(sorted(SCHEMAS))}"))
    validator = _validator(source)
    found = sorted(validator.iter_errors(dict(event)), key=lambda e: list(e.absolute_path))
    # jsonschema quotes the offending value: keep each message short, whatever the event holds
    problems = [_clip(f"{_pointer(p.absolute_path)}: {p.message}") for p in found]
    if source == "manual" and not problems:
        problems = _manual_action_problems(event)
    if problems:
        raise EventError("; ".join(problems[:10]))
    if source == "schedule":
        return RunRequest(
            "schedule",
            event["scheduled_time"],
            dry_run=bool(event.get("dry_run", False)),
            target=event.get("target"),
        )
    if source == "aws.events":
        return RunRequest("eventbridge", event["time"])
    policies = event.get("policies")
    return RunRequest(
        "manual",
        None,
        dry_run=bool(event.get("dry_run", False)),
        policy_ids=tuple(policies) if policies else None,
        action=event["action"],
        channel=event.get("channel"),
        target=event.get("target"),
    )
