"""Glob and regex values, compiled once at load and guarded against catastrophic backtracking.

Python's ``re`` backtracks, so a pattern like ``(a+)+$`` can take exponential time on a crafted
string. The guard is deliberately simple and documented (docs/policies.md):

* a pattern is at most ``MAX_PATTERN`` characters;
* a quantified part may not contain an unbounded quantifier (``(a+)+``, ``(\\w*\\s?)*``, ``(.*x){9}``),
  the shape behind nearly every real-world ReDoS;
* HSS strings are short (at most 256 characters), which bounds what is left.

It is a guard, not a proof: overlapping alternatives under a star (``(a|a)*``) still pass. Prefer
``glob`` where it suffices: it compiles to a pattern that cannot backtrack catastrophically.
"""

from __future__ import annotations

import fnmatch
import re
import re._constants as _sre_constants  # the parser's node kinds (private, stable since 3.11)
import re._parser as _sre_parser
from collections.abc import Callable, Iterator
from typing import Any

from imagewatch.policy.errors import BadValue, got

MAX_PATTERN = 256

Matcher = Callable[[str], "re.Match[str] | None"]

_REPEATS = (_sre_constants.MAX_REPEAT, _sre_constants.MIN_REPEAT, _sre_constants.POSSESSIVE_REPEAT)


def _check_length(pattern: object, what: str) -> str:
    if not isinstance(pattern, str) or not pattern:
        raise BadValue(got(pattern, f"a non-empty {what} (a string)"))
    if len(pattern) > MAX_PATTERN:
        raise BadValue(f"a {what} of {len(pattern)} characters; expected at most {MAX_PATTERN}")
    return pattern


def compile_glob(pattern: object) -> Matcher:
    """A full-match, case-sensitive shell pattern (``*``, ``?``, ``[abc]``) as a matcher."""
    text = _check_length(pattern, "glob pattern")
    return re.compile(fnmatch.translate(text)).match


def _subpatterns(value: Any) -> Iterator[Any]:
    if isinstance(value, _sre_parser.SubPattern):
        yield value
    elif isinstance(value, tuple | list):
        for item in value:
            yield from _subpatterns(item)


def _nested_unbounded(pattern: Any, inside_repeat: bool) -> bool:
    for op, av in pattern:
        if op in _REPEATS:
            _low, high, body = av
            if inside_repeat and high == _sre_constants.MAXREPEAT:
                return True
            if _nested_unbounded(body, inside_repeat or high > 1):
                return True
        elif any(_nested_unbounded(sub, inside_repeat) for sub in _subpatterns(av)):
            return True
    return False


def compile_regex(pattern: object) -> Matcher:
    """A regular expression that may match anywhere in the value (``re.search``); anchor with ^ and $."""
    text = _check_length(pattern, "regular expression")
    try:
        compiled = re.compile(text)
    except re.error as error:
        raise BadValue(got(text, f"a valid regular expression ({error})")) from None
    if _nested_unbounded(_sre_parser.parse(text), inside_repeat=False):
        raise BadValue(
            got(
                text,
                "a regular expression without an unbounded quantifier inside a repeated part"
                " (like (a+)+), which can backtrack catastrophically",
            )
        )
    return compiled.search
