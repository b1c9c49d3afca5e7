"""Invocation events: what may start a run, checked with JSON Schema, turned into a ``RunRequest``.

* ``{"source": "schedule", "scheduled_time": "…"}`` — the EventBridge Scheduler (ScheduleV2) input;
* a classic EventBridge scheduled event (``"source": "aws.events"``, ``"detail-type": "Scheduled Event"``);
* ``{"source": "manual", "action": "check", "dry_run": true, "policies": [ids]}`` — a check by hand
  (``dry_run`` and ``policies`` optional);
* ``{"source": "manual", "action": "test-notification"}`` — one small message to every channel;
* ``{"source": "manual", "action": "resend", "channel": NAME}`` — everything open, again, to one channel;
* ``{"source": "manual", "action": "summary"}`` — the periodic summary to every channel (``dry_run``
  optional); its schedule sends ``{"source": "schedule", "action": "summary", "scheduled_time": …}``.

Scheduled and manual events may carry a ``target`` — which HSS project to check, and where its
credentials are — so one deployment checks many targets, one invocation each (docs/targets.md):
``{"name": "prod-cn4", "region": "cn-north-4", "project_id": "…", "enterprise_project_id": "…",
"settings_secret": "arn:…"}``.

A target's ``endpoint`` is where the deployment's credentials go, so an event may only name a Huawei
Cloud HSS endpoint (``https://hss.{region}.myhuaweicloud.com`` or ``….eu``), the configured
``HSS_ENDPOINT``'s host, or a host the operator lists in ``HSS_ENDPOINT_ALLOWLIST``
(``check_target_endpoint``).

A malformed event is an ``EventError`` naming the JSON pointer, the value and what was expected.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from typing import Any, cast
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator

from imagewatch.hss.endpoint import check_region, is_hss_endpoint
from imagewatch.request import RunRequest
from imagewatch.settings import (
    SettingsError,
    host_allowlist,
    host_key,
    in_allowlist,
    is_loopback_url,
    url_problem,
    without_userinfo,
)
from imagewatch.untrusted_json import LONE_SURROGATE, lone_surrogate_at

_TIME = {"type": "string", "format": "date-time", "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}"}
_TARGET = {
    "type": "object",
    "required": ["name"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "pattern": "^[a-z0-9][a-z0-9._-]{0,63}$"},
        "region": {"type": "string", "pattern": "^[a-z]{2}(-[a-z0-9]+)+$", "maxLength": 40},
        # ids only: they are part of the ledger partition key and of the API path
        "project_id": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"},
        "enterprise_project_id": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"},
        # where the credentials go: checked in code (``_target_problems``, ``check_target_endpoint``),
        # since a schema message would quote a password in the URL
        "endpoint": {"type": "string"},
        # a Secrets Manager name or ARN (in AWS, IAM confines it to TargetSecretsPrefix)
        "settings_secret": {"type": "string", "pattern": "^[A-Za-z0-9/_+=.@:-]{1,2048}$"},
    },
}

SCHEMAS: dict[str, dict[str, Any]] = {
    "schedule": {
        "type": "object",
        "required": ["source", "scheduled_time"],
        "properties": {
            "source": {"const": "schedule"},
            "scheduled_time": _TIME,
            "action": {"enum": ["check", "summary"]},  # the summary has its own schedule
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
            "action": {"enum": ["check", "test-notification", "resend", "summary"]},
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


MAX_PROBLEMS_SHOWN = 10  # in the exception's text; ``problems`` holds them all


class EventError(ValueError):
    """The event cannot start a run; says where and why. ``problems``: every one, as ``/pointer: …``."""

    def __init__(self, *problems: str) -> None:
        self.problems = list(problems)
        shown = "; ".join(self.problems[:MAX_PROBLEMS_SHOWN])
        more = len(self.problems) - MAX_PROBLEMS_SHOWN
        super().__init__(shown + (f"; and {more} more" if more > 0 else ""))


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


_ACTION_KEYS = {
    "check": {"dry_run", "policies", "target"},
    "test-notification": {"target"},
    "resend": {"channel", "target"},
    "summary": {"dry_run", "target"},
}


# Said after "missing required property X" in an event, by X.
_REQUIRED_HINTS = {
    "scheduled_time": ' (an ISO timestamp such as "2026-11-26T08:00:00Z"; EventBridge Scheduler fills'
    " it in with <aws.scheduler.scheduled-time>)",
    "time": ' (an ISO timestamp such as "2026-11-26T08:00:00Z")',
    "detail-type": ' ("Scheduled Event")',
    "action": " (check, test-notification, resend or summary)",
    "name": ' (the target\'s name, such as "prod-cn4")',
}
# Values never quoted in a message: where credentials go, and which secret holds them.
_SECRET_FIELDS = frozenset({"endpoint", "settings_secret"})


def _manual_action_problems(event: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Which keys each manual action takes (JSON Schema's if/then would say it less clearly)."""
    action = event.get("action")
    if action not in _ACTION_KEYS:
        return []  # the schema says what the actions are
    takes = ", ".join(sorted(_ACTION_KEYS[action])) or "nothing"
    problems = [
        (f"/{key}", f"not used by action {action!r} (it takes: {takes})")
        for key in sorted(set(event) - {"source", "action"} - _ACTION_KEYS[action])
        if key in _ALL_MANUAL_KEYS  # an unknown key is the schema's "unexpected property"
    ]
    if action == "resend" and "channel" not in event:
        problems.append(("/channel", "required by action 'resend' (the channel to send everything open to)"))
    return problems


_ALL_MANUAL_KEYS = set().union(*_ACTION_KEYS.values())


def _source_problem(event: Mapping[str, Any]) -> str | None:
    """Why the event's ``source`` names no kind of event, with a hint; None when it does."""
    source = event.get("source")
    if isinstance(source, str) and source in SCHEMAS:
        return None
    from imagewatch.policy.errors import got, show
    from imagewatch.suggest import did_you_mean

    choices = sorted(SCHEMAS)
    if source is None:
        near = next((key for key in event if isinstance(key, str) and did_you_mean(key, ["source"])), None)
        hint = f" (there is {show(near)}: did you mean 'source'?)" if near else ""
        return f'/source: missing required property "source", expected one of {", ".join(choices)}{hint}'
    return _clip(f"/source: {got(source, 'one of ' + ', '.join(choices) + did_you_mean(source, choices))}")


def event_problems(event: object) -> list[str]:
    """Every problem in ``event`` at once, each as ``/pointer: message`` (``/`` for the whole event);
    empty when the event can start a run. Values that may hold credentials are never quoted."""
    if not isinstance(event, Mapping):
        return [f"event: got {type(event).__name__}, expected a JSON object"]
    if _nests_deeper_than(event, MAX_DEPTH):
        return [f"event: nested too deeply to be an imagewatch event (more than {MAX_DEPTH} levels)"]
    if (broken := lone_surrogate_at(event)) is not None:  # no writer downstream could encode it
        return [f"{broken}: {LONE_SURROGATE}"]
    wrong_source = _source_problem(event)
    if wrong_source:
        return [wrong_source]  # which schema applies is unknown: nothing more can be said reliably
    source = event["source"]
    errors = list(_validator(source).iter_errors(dict(event)))
    found: list[tuple[str, str]] = []
    if errors:
        from imagewatch.schema_errors import Translator  # only a broken event needs it

        found = Translator(hints=_REQUIRED_HINTS, secret=_SECRET_FIELDS).problems(errors)
    if source == "manual":
        found += _manual_action_problems(event)
    if isinstance(event.get("target"), Mapping):
        found += _target_problems(event["target"])
    if not found:
        return []
    from imagewatch.schema_errors import pointer_order

    seen: set[str] = set()
    problems = []
    for pointer, message in sorted(found, key=lambda problem: pointer_order(problem[0])):
        # one problem per place: the schema's comes first and says it best
        if pointer not in seen:
            seen.add(pointer)
            problems.append(_clip(f"{pointer or '/'}: {message}"))
    return problems


def parse_event(event: object) -> RunRequest:
    """The run ``event`` asks for; ``EventError`` lists every problem when it cannot start one."""
    problems = event_problems(event)
    if problems:
        raise EventError(*problems)
    event = cast(Mapping[str, Any], event)  # event_problems found it to be one
    source = event["source"]
    if source == "schedule":
        return RunRequest(
            "schedule",
            event["scheduled_time"],
            dry_run=bool(event.get("dry_run", False)),
            action=event.get("action", "check"),
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


_ENDPOINT_EXPECTED = (
    "an https://hss.{region}.myhuaweicloud.com (or .eu) endpoint, the configured HSS_ENDPOINT's "
    "host, or a host listed in HSS_ENDPOINT_ALLOWLIST (the deployment's credentials are sent to it)"
)


def _target_problems(target: Mapping[str, Any]) -> list[tuple[str, str]]:
    """What the schema cannot say: its patterns are searched, so ``$`` lets a trailing newline through
    into a host name, an API path or a ledger key; an endpoint is checked without quoting it."""
    problems: list[tuple[str, str]] = []
    for key, rule in _TARGET["properties"].items():
        value = target.get(key)
        if (
            isinstance(value, str)
            and "pattern" in rule
            and not re.fullmatch(rule["pattern"].strip("^$"), value)
        ):
            from imagewatch.schema_errors import pattern_text, shown

            expected = pattern_text(rule["pattern"])
            problems.append(
                (f"/target/{key}", f"got {shown(value, key in _SECRET_FIELDS)}, expected {expected}")
            )
    region = target.get("region")
    if isinstance(region, str) and not problems:
        try:
            check_region(region)
        except ValueError:
            from imagewatch.schema_errors import shown

            problems.append(
                ("/target/region", f'got {shown(region)}, expected a region id such as "cn-north-4"')
            )
    endpoint = target.get("endpoint")
    if isinstance(endpoint, str):
        problem = url_problem(endpoint) if len(endpoint) <= 2048 else "a URL of at most 2048 characters"
        if problem is None and urlsplit(endpoint).scheme not in ("https", "http"):
            problem = "an https:// URL"
        if problem:
            shown_url = _clip(repr(without_userinfo(endpoint)), 200)
            problems.append(("/target/endpoint", f"got {shown_url}, expected {problem}"))
    return problems


def check_target(target: Mapping[str, Any], env: Mapping[str, str]) -> None:
    """The target may not send the deployment's credentials anywhere the operator did not configure.
    ``env`` is the operator's settings (environment and settings secret) before the target applies."""
    problems = _target_problems(target)
    if problems:
        raise EventError(*(_clip(f"{pointer}: {message}") for pointer, message in problems))
    endpoint = target.get("endpoint")
    if endpoint:
        check_target_endpoint(endpoint, env)


def check_target_endpoint(endpoint: str, env: Mapping[str, str]) -> str:
    """``endpoint`` if an event may name it (see the module docstring), else ``EventError``; the
    message never shows a ``user:password@``."""

    def refuse(expected: str) -> EventError:
        shown = _clip(repr(without_userinfo(endpoint)), 200)
        return EventError(f"/target/endpoint: got {shown}, expected {expected}")

    problem = url_problem(endpoint)
    if problem:
        raise refuse(problem)
    try:
        allowed = host_allowlist("HSS_ENDPOINT_ALLOWLIST", env.get("HSS_ENDPOINT_ALLOWLIST"))
    except SettingsError as exc:
        raise EventError(f"{exc} (needed to check /target/endpoint)") from None
    parts = urlsplit(endpoint)
    if parts.query or parts.fragment:
        raise refuse("an endpoint URL without ?query or #fragment")
    configured = (env.get("HSS_ENDPOINT") or "").strip()
    same_as_configured = bool(configured) and (urlsplit(configured).scheme, host_key(configured)) == (
        parts.scheme,
        host_key(endpoint),
    )
    if is_hss_endpoint(endpoint) or same_as_configured:
        return endpoint
    if in_allowlist(endpoint, allowed) and parts.scheme in ("https", "http"):
        if parts.scheme == "https" or is_loopback_url(endpoint):
            return endpoint
        raise refuse("https:// (http:// only for 127.0.0.1/localhost)")
    raise refuse(_ENDPOINT_EXPECTED)
