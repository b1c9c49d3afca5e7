"""Glob and regex values, compiled once at load and guarded against catastrophic backtracking.

Python's ``re`` backtracks, so a pattern like ``(a+)+$`` can take exponential time on a crafted
string. The guard is deliberately simple and documented (docs/policies.md):

* a pattern is at most ``MAX_PATTERN`` characters;
* a quantified part may not contain an unbounded quantifier (``(a+)+``, ``(\\w*\\s?)*``, ``(.*x){9}``),
  the shape behind nearly every real-world ReDoS;
* an unbounded repeat may not contain alternatives that can start with the same character
  (``(a|ab)*``, ``(\\w|\\w\\d)*``): they backtrack exponentially too. Alternatives with distinct
  first characters (``(foo|bar)+``) pass, and so do single-character ones (``(\\w|\\d)*``, one
  character class to the parser); a class too wide to tell (``\\w``, ``[^x]``) counts as overlapping;
* HSS strings are short (at most 256 characters), which bounds what is left.

It is a guard, not a proof. Prefer ``glob`` where it suffices: it compiles to a pattern that cannot
backtrack catastrophically.
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


def _first_chars(items: Any) -> frozenset[int] | None:
    """The characters a branch can start with, when that is a small known set (else None)."""
    if not items:
        return None  # an empty alternative matches anything's start
    op, av = items[0]
    if op == _sre_constants.LITERAL:
        return frozenset((av,))
    if op == _sre_constants.SUBPATTERN:
        return _first_chars(av[3])
    if op == _sre_constants.IN:
        chars: set[int] = set()
        for kind, value in av:
            if kind == _sre_constants.LITERAL:
                chars.add(value)
            elif kind == _sre_constants.RANGE and value[1] - value[0] < 256:
                chars.update(range(value[0], value[1] + 1))
            else:
                return None  # categories, negation: too wide to tell
        return frozenset(chars)
    return None


def _branches_overlap(av: Any) -> bool:
    """Whether two alternatives can start with the same character (then backtracking can multiply)."""
    seen: set[int] = set()
    for branch in av[1]:
        first = _first_chars(branch)
        if first is None or seen & first:
            return True
        seen |= first
    return False


def _nested_unbounded(pattern: Any, inside_repeat: bool, inside_unbounded: bool = False) -> bool:
    """An unbounded quantifier inside a repeated part (``(a+)+``), or alternatives that can start alike
    inside an unbounded repeat (``(a|ab)*``): both can backtrack exponentially."""
    for op, av in pattern:
        if op in _REPEATS:
            _low, high, body = av
            unbounded = high == _sre_constants.MAXREPEAT
            if inside_repeat and unbounded:
                return True
            if _nested_unbounded(body, inside_repeat or high > 1, inside_unbounded or unbounded):
                return True
        elif (op == _sre_constants.BRANCH and inside_unbounded and _branches_overlap(av)) or any(
            _nested_unbounded(sub, inside_repeat, inside_unbounded) for sub in _subpatterns(av)
        ):
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
                " (like (a+)+) or alternatives that start alike inside an unbounded repeat"
                " (like (a|ab)*), which can backtrack catastrophically",
            )
        )
    return compiled.search
