"""Building one policy from its (parsed) JSON object: every semantic check, then compilation.

The schema has already checked the shapes; this adds what a schema cannot say — that a field exists
and takes the operator, that a regex compiles, a duration parses, a select parameter is known, a
placeholder names a field. It reports problems as (pointer, message) and builds the Policy only
when there are none.
"""

from __future__ import annotations

from typing import Any

from imagewatch.hss.errors import InvalidQueryError
from imagewatch.hss.model import IMAGE_FIELDS
from imagewatch.hss.query import FILTER_PARAMS, ImageQuery
from imagewatch.policy.compile import compile_condition
from imagewatch.policy.conditions import ConditionReader, Problems
from imagewatch.policy.durations import parse_duration
from imagewatch.policy.errors import BadValue, child, got, show
from imagewatch.policy.example_cases import DEFAULT_EXAMPLES_NOW, read_examples, read_now
from imagewatch.policy.exemptions import read_exemptions
from imagewatch.policy.fleet import FLEET_PLACEHOLDERS, read_fleet
from imagewatch.policy.model import Policy
from imagewatch.policy.render import compile_violation
from imagewatch.policy.template import Template, parse_template
from imagewatch.violation import SEVERITIES, SubjectKind

SUBJECTS: tuple[SubjectKind, ...] = ("image", "record")  # what an image rule may judge; image by default


def read_select(raw: object, problems: Problems) -> ImageQuery | None:
    """The pushed-down query; each parameter is checked on its own so every bad one is reported."""
    if raw is None:
        return ImageQuery()
    if not isinstance(raw, dict):
        return None
    good: dict[str, Any] = {}
    for name, value in raw.items():
        if name not in FILTER_PARAMS:
            from imagewatch.suggest import did_you_mean  # only a broken policy needs it

            hint = did_you_mean(name, FILTER_PARAMS)
            known = ", ".join(FILTER_PARAMS)
            problems.append(
                (child("/select", name), f"unknown parameter {show(name)}{hint}; expected one of {known}")
            )
            continue
        try:
            ImageQuery.from_mapping({name: value})
        except InvalidQueryError as error:
            problems.append((child("/select", name), got(error.value, error.expected)))
        else:
            good[name] = value
    return ImageQuery.from_mapping(good) if len(good) == len(raw) else None


def read_message(raw: object, allowed: tuple[str, ...], problems: Problems) -> Template | None:
    if not isinstance(raw, str):
        return None
    try:
        return parse_template(raw, allowed)
    except BadValue as error:
        problems.append(("/message", error.message))
        return None


def read_subject(doc: dict[str, Any], is_fleet: bool, problems: Problems) -> SubjectKind | None:
    """An image rule's subject (``image`` when not given), ``fleet`` for a fleet rule, None when wrong.
    The schema says the same about an unknown value; this keeps the policy from building with one."""
    if is_fleet:
        if "subject" in doc:
            problems.append(
                (
                    "/subject",
                    "a fleet rule has no subject: it judges the fleet as a whole (its violation's subject"
                    " is the fleet); remove it",
                )
            )
            return None
        return "fleet"
    raw = doc.get("subject", "image")
    if raw not in SUBJECTS:
        from imagewatch.suggest import did_you_mean  # only a broken policy needs it

        hint = did_you_mean(raw, SUBJECTS)
        problems.append(("/subject", got(raw, "one of " + ", ".join(SUBJECTS) + hint)))
        return None
    return raw  # type: ignore[no-any-return]


def read_sla(doc: dict[str, Any], problems: Problems) -> tuple[bool, int | None]:
    """The policy's own time to fix: (False, None) when not given; ``"none"`` is (True, None)."""
    if "sla" not in doc:
        return False, None
    raw = doc["sla"]
    if raw == "none":
        return True, None
    try:
        return True, parse_duration(raw)
    except BadValue as error:
        problems.append(("/sla", f'{error.message}, or "none" for no SLA clock'))
        return True, None


def build_policy(doc: dict[str, Any], source: str, sha256: str) -> tuple[Policy | None, Problems]:
    """The policy in ``doc`` and the problems found; the policy is None when there is any problem."""
    problems: Problems = []
    reader = ConditionReader(problems)
    is_fleet = "fleet" in doc
    if is_fleet and "where" in doc:
        problems.append(
            ("/where", "a fleet rule has no top-level where; its condition goes in /fleet/…/where")
        )
    if is_fleet and "exempt" in doc:
        problems.append(
            ("/exempt", "exemptions apply to image rules; a fleet rule's threshold is its allowance")
        )
    policy_id = doc.get("id") if isinstance(doc.get("id"), str) else "?"
    subject = read_subject(doc, is_fleet, problems)
    sla_set, sla_ms = read_sla(doc, problems)
    select = read_select(doc.get("select"), problems)
    where = fleet = None
    if is_fleet:
        fleet = read_fleet(doc["fleet"], policy_id, reader, problems)
        placeholders: tuple[str, ...] = FLEET_PLACEHOLDERS
    else:
        node = reader.read(doc.get("where"), "/where")
        where = compile_condition(node, f"{policy_id} where") if node is not None else None
        placeholders = tuple(IMAGE_FIELDS)
    message = read_message(doc.get("message"), placeholders, problems)
    exemptions = read_exemptions(doc.get("exempt"), policy_id, reader, problems) if not is_fleet else ()
    default_now = DEFAULT_EXAMPLES_NOW
    if "examples_now" in doc:
        default_now = read_now(doc["examples_now"], "/examples_now", problems) or DEFAULT_EXAMPLES_NOW
    examples = read_examples(doc.get("examples"), fleet=is_fleet, default_now=default_now, problems=problems)

    rule_ok = fleet is not None if is_fleet else where is not None
    if (
        problems
        or select is None
        or message is None
        or subject is None
        or not rule_ok
        or doc.get("severity") not in SEVERITIES
    ):
        return None, problems
    report_fields = tuple(dict.fromkeys([*message.fields, *where.fields])) if where is not None else ()
    title, severity = str(doc.get("title")), doc["severity"]
    builder = (
        compile_violation(policy_id, title, severity, message, report_fields, subject)
        if where is not None
        else None
    )
    policy = Policy(
        id=policy_id,
        title=title,
        severity=severity,
        description=str(doc.get("description", "")),
        select=select,
        where=where,
        fleet=fleet,
        message=message,
        exemptions=exemptions,
        examples=examples,
        source=source,
        sha256=sha256,
        report_fields=report_fields,
        violation=builder,
        labels=tuple(sorted((doc.get("labels") or {}).items())),
        subject=subject,
        sla_set=sla_set,
        sla_ms=sla_ms,
    )
    return policy, problems
