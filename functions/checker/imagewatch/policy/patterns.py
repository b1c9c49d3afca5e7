"""Glob and regex values, compiled once at load; matching one can never hang a run.

``regex`` runs on RE2 (the ``google-re2`` package), not Python's ``re``: RE2 matches in time linear in
the input and never backtracks, so no pattern, listed or not, can be catastrophic. A guard over a
backtracking engine is a blacklist of shapes (``(a+)+``, ``(.{1,9}){1,9}!``, ``.*.*.*x``, …) that a
new shape slips past; RE2 is a guarantee. What stays bounded (docs/policies.md, "The regex engine"):

* a pattern is at most ``MAX_PATTERN`` characters, and compiles to at most ``MAX_PROGRAM`` RE2
  instructions: linear time has a constant, and large counted repeats (``.{1000}``) make it large;
* a value is matched on at most its first ``MAX_SUBJECT`` characters (the HSS parser already clips
  strings to their documented bounds, at most 256; this does not rely on it);
* what RE2 cannot run in linear time (backreferences, lookaround, atomic groups, possessive
  quantifiers, conditionals) is refused at load with the reason, and so is ``{,n}``, which Python
  reads as ``{0,n}`` and RE2 as literal text.

RE2 is imported on first use, so a pack without regexes never loads it (cold start).

``glob`` stays on ``re``: ``fnmatch.translate`` turns each ``*`` into an atomic group, so a glob
matches in O(length × stars) and cannot backtrack catastrophically.
"""

from __future__ import annotations

import fnmatch
import functools
import re
from collections.abc import Callable
from typing import Any

from imagewatch.policy.errors import BadValue, got, show

MAX_PATTERN = 256
MAX_PROGRAM = 2000  # RE2 instructions; ordinary patterns take 5..100, (.{1,9}){1,9}! takes 751
MAX_SUBJECT = 16_384  # characters of a value a pattern sees: 64x the longest documented HSS string

Matcher = Callable[[str], object]  # the match, or None

_WHY = "RE2 matches in linear time, so it has no backtracking features; see docs/policies.md"
# RE2's error text starts with one of these when the pattern uses what RE2 leaves out: (prefix, the
# feature named for a person, what to do or why).
_UNSUPPORTED: tuple[tuple[str, str, str], ...] = (
    ("invalid perl operator: (?=", "lookahead (?=…)", _WHY),
    ("invalid perl operator: (?!", "negative lookahead (?!…)", _WHY),
    ("invalid perl operator: (?<=", "lookbehind (?<=…)", _WHY),
    ("invalid perl operator: (?<!", "negative lookbehind (?<!…)", _WHY),
    ("invalid perl operator: (?>", "an atomic group (?>…)", _WHY),
    ("invalid perl operator: (?(", "a conditional (?(…)…|…)", _WHY),
    ("invalid perl operator: (?#", "a comment group (?#…)", "leave it out"),
    ("invalid escape sequence: \\Z", "\\Z", "write \\z or $: both mean the end of the value in RE2"),
    ("invalid escape sequence: \\u", "\\u", "write \\x{263a} for a code point"),
    ("invalid escape sequence: \\U", "\\U", "write \\x{1f600} for a code point"),
    ("invalid escape sequence: \\N", "\\N{…}", "write \\x{263a} for a code point"),
    ("pattern too large", "a pattern this large", "its compiled form exceeds RE2's memory budget"),
)
# Read only when RE2 refuses a pattern: plain strings, compiled (and cached) by ``re`` on first use
_BACKREFERENCE = r"invalid escape sequence: \\[1-9]"
_POSSESSIVE = r"bad repetition operator: (?:[*+?]|\{[0-9,]*\})\+"
_INVERTED = r"\{([0-9]+),([0-9]+)\}"  # {3,1}: Python's error too, not a limit
_FLAG = r"invalid perl operator: \(\?[-a-zA-Z]"
_EMPTY_MIN = re.compile(r"\{,[0-9]*\}")


def _inverted(culprit: str) -> bool:
    found = re.fullmatch(_INVERTED, culprit)
    return bool(found) and int(found.group(1)) > int(found.group(2))


def _check_length(pattern: object, what: str) -> str:
    if not isinstance(pattern, str) or not pattern:
        raise BadValue(got(pattern, f"a non-empty {what} (a string)"))
    if len(pattern) > MAX_PATTERN:
        raise BadValue(f"a {what} of {len(pattern)} characters; expected at most {MAX_PATTERN}")
    return pattern


def compile_glob(pattern: object) -> Matcher:
    """A full-match, case-sensitive shell pattern (``*``, ``?``, ``[abc]``) as a matcher."""
    text = _check_length(pattern, "glob pattern")
    match = re.compile(fnmatch.translate(text)).match

    def matcher(value: str) -> object:
        return match(value, 0, MAX_SUBJECT)  # endpos: the value's first MAX_SUBJECT characters

    return matcher


def _unsupported(pattern: str, message: str) -> tuple[str, str] | None:
    """(feature, what to do or why) when RE2 refused a feature it leaves out on purpose, else None."""
    culprit = message.rsplit(" ", 1)[-1]
    if re.match(_BACKREFERENCE, message):
        return f"a backreference {culprit}", _WHY
    if re.match(_POSSESSIVE, message):
        return f"a possessive quantifier {culprit}", f"drop the last +; {_WHY}"
    if message.startswith("invalid repetition size") and not _inverted(culprit):
        return f"a repeat count over 1000 ({culprit} here)", "RE2's limit, with nested counts multiplied"
    for prefix, feature, hint in _UNSUPPORTED:
        if message.startswith(prefix):
            return feature, hint
    if message.startswith("invalid perl operator: (?P"):
        named = "a named backreference (?P=name)" if "(?P=" in pattern else "a recursive call (?P>name)"
        return named, _WHY
    if re.match(_FLAG, message):
        return f"the inline flag {culprit}…)", "RE2 knows the flags i, m, s and U"
    return None


def _refuse(pattern: str, feature: str, hint: str) -> BadValue:
    return BadValue(got(pattern, f"a regular expression in RE2 syntax: {feature} is not supported ({hint})"))


def _literal_brace_repeat(pattern: str) -> str | None:
    """A ``{,n}`` outside a character class: Python reads it as ``{0,n}``, RE2 as the text itself."""
    index, in_class = 0, False
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            index += 2
            continue
        if in_class:
            if pattern.startswith("[:", index) and (end := pattern.find(":]", index + 2)) != -1:
                index = end + 2  # a POSIX class like [:alpha:]
                continue
            in_class = char != "]"
        elif char == "[":
            in_class = True
            index += 1
            index += pattern.startswith("^", index)
            index += pattern.startswith("]", index)  # a leading ] is literal
            continue
        elif char == "{" and (found := _EMPTY_MIN.match(pattern, index)):
            return found.group()
        index += 1
    return None


@functools.cache
def _re2() -> tuple[Any, Any]:
    """The RE2 module and its options: loaded on the first regex, never at cold start."""
    import re2

    options = re2.Options()
    options.log_errors = False  # RE2 would print every refused pattern to stderr
    options.never_capture = True  # only "does it match" is asked: the DFA alone answers it
    return re2, options


def _searcher(compiled: Any) -> Matcher:
    search = compiled.search

    def matcher(value: str) -> object:
        text = value[:MAX_SUBJECT]
        try:
            return search(text)
        except UnicodeEncodeError:  # a lone surrogate (JSON "\ud800") has no UTF-8 form: match it as "?"
            return search(text.encode("utf-8", "replace").decode("utf-8"))

    return matcher


def compile_regex(pattern: object) -> Matcher:
    """A regular expression in RE2 syntax that may match anywhere in the value (search); anchor with
    ^ and $. Refused with the reason when RE2 cannot run it or it would be slow."""
    text = _check_length(pattern, "regular expression")
    try:
        re2, options = _re2()
    except ImportError:  # a packaging fault: this policy is reported, the others still run
        raise BadValue("the regex operator needs the google-re2 package, which is not installed") from None
    try:
        compiled = re2.compile(text, options)
    except UnicodeEncodeError:
        raise BadValue(got(text, "a regular expression of valid Unicode text (no lone surrogates)")) from None
    except re2.error as error:
        reason = error.args[0] if error.args else ""
        message = reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)
        unsupported = _unsupported(text, message)
        if unsupported:
            raise _refuse(text, *unsupported) from None
        kind, _, fragment = message.partition(": ")
        where = f" at {show(fragment)}" if fragment else ""
        raise BadValue(got(text, f"a valid regular expression in RE2 syntax ({kind}{where})")) from None
    if "\\C" in text.replace("\\\\", ""):
        raise _refuse(text, "\\C", "it matches one byte, which can split a character; use .")
    if brace := _literal_brace_repeat(text):
        low_high = brace[2:-1] or ""
        raise BadValue(
            got(
                text,
                f"a regular expression in RE2 syntax: {brace} is text to RE2 but a repeat to Python;"
                f" write {{0,{low_high}}} for the repeat or \\{brace} for the text",
            )
        )
    size = max(compiled.programsize, compiled.reverseprogramsize)
    if size > MAX_PROGRAM:
        raise BadValue(
            got(
                text,
                f"a regular expression that compiles to at most {MAX_PROGRAM} RE2 instructions (this one"
                f" takes {size}; large counted repeats such as .{{1000}} make every match slow)",
            )
        )
    return _searcher(compiled)
