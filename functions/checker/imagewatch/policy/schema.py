"""The packaged policy JSON Schema, and its errors turned into ``PolicyError``s people can act on.

There is one copy of the schema: ``policy.schema.json`` in this package. Policy files point editors
at it with a relative ``$schema`` path; the loader reads it through importlib.resources.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from imagewatch.policy.conditions import suggest
from imagewatch.policy.errors import child, got, show

SCHEMA_FILE = "policy.schema.json"
_TYPE_TEXT = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "object": "an object",
    "array": "a list",
    "null": "null",
}


@cache
def policy_schema() -> dict[str, Any]:
    """The schema as data (read once)."""
    text = resources.files("imagewatch.policy").joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    return json.loads(text)


@cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(policy_schema())


def _pointer(path: Any) -> str:
    pointer = ""
    for part in path:
        pointer = child(pointer, part)
    return pointer


def _describe(error: ValidationError) -> tuple[str, str]:
    """(pointer, message) for one schema error, in the house style."""
    pointer = _pointer(error.absolute_path)
    rule, instance = error.validator, error.instance
    if rule == "required":
        missing = next((name for name in error.validator_value if name not in instance), "?")
        hint = ' (write "never" for an exemption that does not expire)' if missing == "expires" else ""
        return pointer, f"missing required property {show(missing)}{hint}"
    if rule == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extras = [name for name in instance if name not in allowed]
        name = extras[0] if extras else "?"
        return child(
            pointer, name
        ), f"unexpected property {show(name)}{suggest(name, allowed)}; expected one of {', '.join(allowed)}"
    if rule == "enum":
        choices = [str(choice) for choice in error.validator_value]
        hint = suggest(instance, choices) if isinstance(instance, str) else ""
        return pointer, got(instance, "one of " + ", ".join(choices) + hint)
    if rule == "type":
        kinds = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        return pointer, got(instance, " or ".join(_TYPE_TEXT.get(kind, kind) for kind in kinds))
    limit = error.validator_value
    if rule == "minItems":
        return pointer, got(instance, f"a list of at least {limit} item(s)")
    if rule in ("maxItems", "maxProperties"):
        return pointer, f"{len(instance)} entries; expected at most {limit}"
    if rule == "minLength":
        return pointer, got(instance, f"a string of at least {limit} character(s)")
    if rule == "maxLength":
        return pointer, f"a string of {len(instance)} characters; expected at most {limit}"
    if rule == "pattern":
        return pointer, got(instance, f"a string matching {error.validator_value}")
    if rule in ("minimum", "maximum"):
        return pointer, got(instance, f"a number {'≥' if rule == 'minimum' else '≤'} {error.validator_value}")
    return pointer, error.message


def _path_order(error: ValidationError) -> list[tuple[int, int, str]]:
    return [(0, part, "") if isinstance(part, int) else (1, 0, str(part)) for part in error.absolute_path]


def schema_problems(doc: object) -> list[tuple[str, str]]:
    """Every schema error in ``doc`` as (pointer, message), in document order, without repeats."""
    found: list[tuple[str, str]] = []
    for error in sorted(_validator().iter_errors(doc), key=_path_order):
        problem = _describe(error)
        if problem not in found:
            found.append(problem)
    return found
