"""JSON Schema errors in our words: where (a JSON pointer), the value (clipped), what was expected, a hint.

One translator for every document a person writes — policy files, the channels file, invocation
events — so none of them shows jsonschema's own text (``'x' is not of type 'string'``,
``Additional properties are not allowed``) and all of them read alike. Loaded only when a document
is already wrong: a valid run never imports it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from jsonschema.exceptions import ValidationError

from imagewatch.policy.errors import child, got, show
from imagewatch.suggest import did_you_mean

Problem = tuple[str, str]  # (JSON pointer, message)

_TYPE_TEXT = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "object": "an object",
    "array": "a list",
    "null": "null",
}

# Patterns our schemas use, in words: a person should not have to read a regular expression.
_PATTERN_TEXT = {
    "^[a-z0-9][a-z0-9._-]{0,63}$": (
        "a name of 1 to 64 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit"
    ),
    "^[a-z][a-z0-9_]{0,31}$": "a name of 1 to 32 lowercase letters, digits or '_', starting with a letter",
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}": ('an ISO timestamp such as "2026-11-26T08:00:00Z"'),
    "^[a-z]{2}(-[a-z0-9]+)+$": 'a region id such as "cn-north-4"',
    "^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$": "an id of 1 to 128 letters, digits, '.', '_' or '-'",
    "^[A-Za-z0-9/_+=.@:-]{1,2048}$": "a Secrets Manager secret name or ARN",
}


def pattern_text(pattern: str) -> str:
    """What a value matching ``pattern`` is, for people."""
    return _PATTERN_TEXT.get(pattern, f"a string matching {pattern}")


def pointer_of(path: Iterable[Any]) -> str:
    """A JSON pointer (RFC 6901) for a jsonschema path; ``""`` is the whole document."""
    pointer = ""
    for part in path:
        pointer = child(pointer, part)
    return pointer


def shown(value: object, secret: bool = False) -> str:
    """A value as JSON, clipped; a value that may hold a secret is described, never quoted."""
    if not secret:
        return show(value)
    if isinstance(value, str):
        return f"a string of {len(value)} characters (not shown: it may hold a secret)"
    return f"{_TYPE_TEXT.get(_json_type(value), type(value).__name__)} (not shown: it may hold a secret)"


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list | tuple) else "object"


class Translator:
    """Turns one schema's errors into problems. ``hints``: text added when a required property is
    missing, by its name; ``synonyms``: words people write for an allowed value (``greater_than`` for
    ``gt``), for did-you-mean; ``secret``: property names whose values are never quoted."""

    def __init__(
        self,
        hints: Mapping[str, str] | None = None,
        synonyms: Mapping[str, str] | None = None,
        secret: frozenset[str] = frozenset(),
    ) -> None:
        self.hints = hints or {}
        self.synonyms = synonyms or {}
        self.secret = secret

    def hint(self, value: object, choices: list[str]) -> str:
        """`` (did you mean 'x'?)``, knowing the synonyms."""
        return did_you_mean(value, choices, self.synonyms)

    def _hidden(self, error: ValidationError) -> bool:
        return any(isinstance(part, str) and part in self.secret for part in error.absolute_path)

    def _got(self, error: ValidationError, expected: str) -> str:
        return f"got {shown(error.instance, self._hidden(error))}, expected {expected}"

    def describe(self, error: ValidationError) -> list[Problem]:
        """The problems one error stands for (``required`` may stand for several missing names)."""
        pointer, rule, instance, limit = (
            pointer_of(error.absolute_path),
            error.validator,
            error.instance,
            error.validator_value,
        )
        if "propertyNames" in error.schema_path:  # the instance is a property name, not a value
            expected = pattern_text(limit) if rule == "pattern" else "a valid property name"
            return [(child(pointer, str(instance)), f"property name {got(instance, expected)}")]
        if rule == "required":
            missing = [name for name in limit if isinstance(instance, dict) and name not in instance]
            return [
                (pointer, f"missing required property {show(name)}{self.hints.get(name, '')}")
                for name in missing
            ]
        if rule == "additionalProperties":
            allowed = sorted(error.schema.get("properties", {}))
            extras = [name for name in instance if name not in allowed]
            expected = f"expected one of {', '.join(allowed)}" if allowed else "expected none"
            return [
                (
                    child(pointer, name),
                    f"unexpected property {show(name)}{self.hint(name, allowed)}; {expected}",
                )
                for name in extras
            ]
        return [(pointer, self._message(error, rule, instance, limit))]

    def _message(self, error: ValidationError, rule: str, instance: Any, limit: Any) -> str:
        if rule == "enum":
            choices = [str(choice) for choice in limit]
            return self._got(error, "one of " + ", ".join(choices) + self.hint(instance, choices))
        if rule == "const":
            return self._got(error, show(limit))
        if rule == "type":
            kinds = limit if isinstance(limit, list) else [limit]
            return self._got(error, " or ".join(_TYPE_TEXT.get(kind, kind) for kind in kinds))
        if rule == "minItems":
            return self._got(error, f"a list of at least {limit} item(s)")
        if rule in ("maxItems", "maxProperties"):
            return f"{len(instance)} entries; expected at most {limit}"
        if rule == "minLength":
            return self._got(error, f"a string of at least {limit} character(s)")
        if rule == "maxLength":
            return f"a string of {len(instance)} characters; expected at most {limit}"
        if rule == "pattern":
            return self._got(error, pattern_text(limit))
        if rule in ("minimum", "maximum"):
            return self._got(error, f"a number {'≥' if rule == 'minimum' else '≤'} {limit}")
        if rule == "uniqueItems":
            repeated = shown(_first_repeat(instance), self._hidden(error))
            return f"{repeated} is listed twice; expected each item once"
        # A rule our schemas do not use yet: say where and that it does not fit, in our words.
        return self._got(error, f"a value that satisfies the schema's {rule!r} rule")

    def problems(self, errors: Iterable[ValidationError]) -> list[Problem]:
        """Every error as problems, without repeats, ordered by place (``pointer_order``)."""
        found: list[Problem] = []
        for error in errors:
            for problem in self.describe(error):
                if problem not in found:
                    found.append(problem)
        return sorted(found, key=lambda problem: pointer_order(problem[0]))


def _first_repeat(items: list[object]) -> object:
    seen: list[object] = []
    for item in items:
        if item in seen:
            return item
        seen.append(item)
    return None


def pointer_order(pointer: str) -> list[tuple[int, int, str]]:
    """Document order: list items by index, properties by name, a container before what is in it."""
    parts = pointer.split("/")[1:]
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in parts]


def as_lines(problems: Iterable[Problem]) -> list[str]:
    """``/pointer: message`` lines (``/`` for the whole document)."""
    return [f"{pointer or '/'}: {message}" for pointer, message in problems]
