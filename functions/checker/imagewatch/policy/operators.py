"""The operator table: every operator a policy leaf may use, in one place (Cloud Custodian style).

Each entry says which field kinds it accepts, how its JSON value is checked and turned into a
constant at load time, and the Python expression it compiles to (``compile.py`` splices these into one
function per condition). Semantics on absent fields follow one rule: a leaf that asserts something
about the value is false when the value is absent, and ``ne``/``not_in`` are exactly ``not eq``/
``not in`` (so true on absent); ``missing`` and ``older_than`` are true on absent.

``severity_level`` compares by rank (``SEVERITY_RANK``), and only for an image whose scan succeeded;
such an image with an unknown or empty level counts as the highest level (fail closed). Any other
image is unrated: every level comparison is false for it, ``ne``/``not_in`` true.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any, Literal

from msgspec import Struct

from imagewatch.hss.model import IMAGE_FIELDS, SEVERITY_RANK
from imagewatch.policy.durations import parse_duration
from imagewatch.policy.errors import BadValue, got
from imagewatch.policy.instants import parse_instant
from imagewatch.policy.patterns import compile_glob, compile_regex

Kind = Literal["str", "int", "timestamp", "severity"]

SEVERITY_FIELD = "severity_level"
SEVERITY_LEVELS: tuple[str, ...] = tuple(sorted(SEVERITY_RANK, key=SEVERITY_RANK.__getitem__))
FAIL_CLOSED_RANK = max(SEVERITY_RANK.values())
SCAN_SUCCESS = "success"
MAX_MEMBERS = 1000
MAX_STRING = 1024

KIND_TEXT: dict[str, str] = {
    "str": "a string",
    "int": "an integer",
    "timestamp": "a timestamp (ms)",
    "severity": "a severity level",
}


def field_kind(name: str) -> Kind | None:
    """How a policy compares ``name``: its ImageLocalInfo type, or "severity" for severity_level."""
    if name == SEVERITY_FIELD:
        return "severity"
    kind = IMAGE_FIELDS.get(name)
    return kind  # type: ignore[return-value]


def _scalar(field: str, kind: Kind, value: object) -> object:
    """One value of the field's type, as the compiled code compares it."""
    if kind == "severity":
        if isinstance(value, str) and value in SEVERITY_RANK:
            return SEVERITY_RANK[value]
        from imagewatch.suggest import did_you_mean  # only a broken policy needs it

        hint = did_you_mean(value, SEVERITY_LEVELS)
        raise BadValue(got(value, "one of " + ", ".join(SEVERITY_LEVELS) + " (ranked in that order)" + hint))
    if kind == "str":
        if isinstance(value, str) and len(value) <= MAX_STRING:
            return value
        raise BadValue(got(value, f"a string ({field} is a string field)"))
    if kind == "timestamp":
        return parse_instant(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise BadValue(got(value, f"an integer ({field} is an integer field)"))


def _members(field: str, kind: Kind, value: object) -> frozenset[object]:
    if not isinstance(value, list) or not value or len(value) > MAX_MEMBERS:
        raise BadValue(got(value, f"a list of 1..{MAX_MEMBERS} values of {field}"))
    members = []
    for index, item in enumerate(value):
        try:
            members.append(_scalar(field, kind, item))
        except BadValue as error:
            raise BadValue(error.message, at=f"/{index}") from None
    return frozenset(members)


def _substring(field: str, kind: Kind, value: object) -> str:
    if isinstance(value, str) and value and len(value) <= MAX_STRING:
        return value
    raise BadValue(got(value, "a non-empty string to look for"))


def _glob(field: str, kind: Kind, value: object) -> object:
    return compile_glob(value)


def _regex(field: str, kind: Kind, value: object) -> object:
    return compile_regex(value)


def _duration(field: str, kind: Kind, value: object) -> int:
    return parse_duration(value)


def _rank_expr(compare: str, const: str) -> str:
    return f"(i.scan_status == _SUCCESS and _rank(i.severity_level, {FAIL_CLOSED_RANK}) {compare} {const})"


def _compare(symbol: str) -> Callable[[str, Kind, str], str]:
    def expr(field: str, kind: Kind, const: str) -> str:
        if kind == "severity":
            return _rank_expr(symbol, const)
        if symbol in ("==", "!="):
            return f"(i.{field} {symbol} {const})"
        return f"((v := i.{field}) is not None and v {symbol} {const})"

    return expr


def _negated(inner: Callable[[str, Kind, str], str]) -> Callable[[str, Kind, str], str]:
    return lambda field, kind, const: f"(not {inner(field, kind, const)})"


def _member_expr(field: str, kind: Kind, const: str) -> str:
    return _rank_expr("in", const) if kind == "severity" else f"(i.{field} in {const})"


def _exists_expr(field: str, kind: Kind, const: str) -> str:
    if kind in ("str", "severity"):
        return f'((v := i.{field}) is not None and v != "")'
    return f"(i.{field} is not None)"


class Operator(Struct, frozen=True):
    """One operator: which field kinds take it, how its value is read, what it compiles to."""

    name: str
    kinds: frozenset[Kind]
    summary: str
    read: Callable[[str, Kind, object], object] | None  # None: the operator takes no value
    expr: Callable[[str, Kind, str], str]  # (field, kind, constant name) -> Python expression over `i`
    uses_now: bool = False  # the constant is a duration, compared with `now - duration`
    compare: Callable[[Any, Any], bool] | None = None  # plain comparison, for fleet thresholds


_ANY: frozenset[Kind] = frozenset(("str", "int", "timestamp", "severity"))
_ORDERED: frozenset[Kind] = frozenset(("int", "timestamp", "severity"))
_TEXT: frozenset[Kind] = frozenset(("str",))
_TIME: frozenset[Kind] = frozenset(("timestamp",))


def _ordering(name: str, symbol: str, compare: Callable[[Any, Any], bool], words: str) -> Operator:
    return Operator(
        name, _ORDERED, f"field {words} value (false when absent)", _scalar, _compare(symbol), compare=compare
    )


OPERATORS: dict[str, Operator] = {
    op.name: op
    for op in (
        Operator("eq", _ANY, "field equals value", _scalar, _compare("=="), compare=operator.eq),
        Operator(
            "ne", _ANY, "not eq (true when absent)", _scalar, _negated(_compare("==")), compare=operator.ne
        ),
        _ordering("lt", "<", operator.lt, "is less than"),
        _ordering("lte", "<=", operator.le, "is at most"),
        _ordering("gt", ">", operator.gt, "is greater than"),
        _ordering("gte", ">=", operator.ge, "is at least"),
        Operator("in", _ANY, "field is one of the listed values", _members, _member_expr),
        Operator("not_in", _ANY, "not in (true when absent)", _members, _negated(_member_expr)),
        Operator(
            "contains",
            _TEXT,
            "value is a substring of the field",
            _substring,
            lambda f, k, c: f"((v := i.{f}) is not None and {c} in v)",
        ),
        Operator(
            "glob",
            _TEXT,
            "the whole field matches a shell pattern (* ? [..]), case-sensitive",
            _glob,
            lambda f, k, c: f"((v := i.{f}) is not None and {c}(v) is not None)",
        ),
        Operator(
            "regex",
            _TEXT,
            "the regular expression (RE2 syntax) matches somewhere in the field (a search)",
            _regex,
            lambda f, k, c: f"((v := i.{f}) is not None and {c}(v) is not None)",
        ),
        Operator("exists", _ANY, "field is present, not null and not empty", None, _exists_expr),
        Operator("missing", _ANY, "field is absent, null or empty", None, _negated(_exists_expr)),
        Operator(
            "older_than",
            _TIME,
            "more than the duration ago; 0 (never) and absent count as older",
            _duration,
            lambda f, k, c: f"((v := i.{f}) is None or v == 0 or v < {c})",
            uses_now=True,
        ),
        Operator(
            "within",
            _TIME,
            "at most the duration ago (or in the future); false for 0 and absent",
            _duration,
            lambda f, k, c: f"((v := i.{f}) is not None and v != 0 and v >= {c})",
            uses_now=True,
        ),
    )
}

THRESHOLD_OPERATORS: tuple[str, ...] = tuple(name for name, op in OPERATORS.items() if op.compare)

# Words people write for an operator (other query languages, symbols, English), to the operator they
# mean: a did-you-mean that goes by meaning, not spelling ("greater_than" is "gt", not "older_than").
OPERATOR_SYNONYMS: dict[str, str] = {
    **dict.fromkeys(("equals", "equal", "equal_to", "is", "=", "=="), "eq"),
    **dict.fromkeys(("not_equals", "not_equal", "not_equal_to", "neq", "is_not", "!=", "<>"), "ne"),
    **dict.fromkeys(("greater_than", "greater", "more_than", "above", "over", ">"), "gt"),
    **dict.fromkeys(("greater_than_or_equal", "greater_or_equal", "at_least", "ge", ">="), "gte"),
    **dict.fromkeys(("less_than", "less", "fewer_than", "below", "under", "<"), "lt"),
    **dict.fromkeys(("less_than_or_equal", "less_or_equal", "at_most", "le", "<="), "lte"),
    **dict.fromkeys(("one_of", "any_of", "is_in", "within_list"), "in"),
    **dict.fromkeys(("not_one_of", "none_of", "nin", "notin", "not_within_list"), "not_in"),
    **dict.fromkeys(("includes", "has", "substring"), "contains"),
    **dict.fromkeys(("wildcard", "like", "fnmatch", "starts_with", "startswith", "ends_with"), "glob"),
    **dict.fromkeys(("regexp", "matches", "match", "re", "pattern", "~"), "regex"),
    **dict.fromkeys(("exist", "present", "is_set", "not_empty", "defined"), "exists"),
    **dict.fromkeys(("absent", "not_exists", "is_empty", "empty", "undefined", "null"), "missing"),
    **dict.fromkeys(("older", "before", "not_within", "age_over", "stale"), "older_than"),
    **dict.fromkeys(("newer_than", "newer", "since", "younger_than", "recent", "after"), "within"),
}


def operators_for(kind: Kind) -> list[str]:
    """The operator names a field of ``kind`` accepts, in table order (for error messages)."""
    return [name for name, op in OPERATORS.items() if kind in op.kinds]
