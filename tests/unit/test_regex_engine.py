"""Review row 6 (issue 12): a hostile regex must never hang a run.

``"regex": "(.{1,9}){1,9}!"`` validated and a 64-character image name hung the run; ``.*.*.*.*x`` took
9.4 s on 256 characters. Regexes now run on RE2 (linear time, no backtracking), so every hostile shape
below is either refused at load with a precise error or matched to a verdict on 10 KB values. Nothing
here asserts a duration: a watchdog turns a match that never returns into a failure instead of a hang
(SIGALRM interrupts Python's ``re``, which is what the old code ran).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from imagewatch.hss.model import Image
from imagewatch.policy import Evaluator, load_policies, policy_from_mapping
from imagewatch.policy.errors import BadValue
from imagewatch.policy.patterns import MAX_PATTERN, MAX_SUBJECT, compile_glob, compile_regex
from support.pack import FIXTURE_PACK

NOW = 1_793_491_200_000
TEN_KB = 10_000
WATCHDOG_S = 30  # far above what RE2 needs for everything here; only a hang reaches it
CHECKER = Path(__file__).resolve().parents[2] / "functions" / "checker"
PACK = FIXTURE_PACK  # the tests' own (no regex); policies/ is the user's


class StillMatching(AssertionError):
    """A match did not return: on a backtracking engine, the run would hang here."""


@contextmanager
def watchdog() -> Iterator[None]:
    def expire(*_: Any) -> None:
        raise StillMatching(f"still matching after {WATCHDOG_S} s: a hostile regex can hang the run")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, WATCHDOG_S)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def verdict(pattern: str, value: str) -> bool:
    with watchdog():
        return compile_regex(pattern)(value) is not None


# (pattern, value, whether it matches): hostile shapes for a backtracking engine, with the input that
# makes one backtrack, and a control that must match. RE2 runs them all in one pass over the value.
RUNS = [
    # the review's two repros
    ("(.{1,9}){1,9}!", "a" * 64, False),
    ("(.{1,9}){1,9}!", "a" * TEN_KB, False),
    (".*.*.*.*x", "a" * 256, False),
    (".*.*.*.*x", "a" * TEN_KB, False),
    # nested quantifiers, unbounded and bounded
    ("^(a+)+$", "a" * TEN_KB + "!", False),
    ("(a*)*b", "a" * TEN_KB, False),
    ("((ab)+c?)+$", "ab" * (TEN_KB // 2) + "!", False),
    ("(x+x+)+y", "x" * TEN_KB, False),
    ("((a{1,9}){1,9})+b", "a" * TEN_KB, False),
    ("(.{1,15}){1,9}z", "a" * TEN_KB, False),
    # stacked runs
    (".*a.*a.*a.*a.*a.*a.*b", "a" * TEN_KB, False),
    (r"\w*\w*\w*\w*\w*\w*!", "w" * TEN_KB, False),
    ("(.*?,){11}P", "," * TEN_KB, False),
    # alternatives that overlap
    ("^(a|a)*$", "a" * TEN_KB + "!", False),
    ("^(a|a)*$", "a" * 4000, True),
    ("^(a|ab|abc)*d", "abc" * (TEN_KB // 3), False),
    (r"^(\w|\w\d)*$", "1" * TEN_KB + "!", False),
    ("(a|)*b", "a" * TEN_KB, False),
    # the classic "words" shape
    (r"(\w+\s?)*$", "ab " * (TEN_KB // 3) + "!", True),  # $ matches after the "!" with zero repeats
    (r"^(\w+\s?)*$", "ab " * (TEN_KB // 3) + "!", False),
    (r"^(\w+\s?)*$", "ab " * 1000, True),
    # as long as a pattern may be
    ("(a|aa)*" * (MAX_PATTERN // 7) + "b", "a" * TEN_KB, False),
]


@pytest.mark.parametrize(
    ("pattern", "value", "found"), RUNS, ids=lambda v: v[:24] if isinstance(v, str) else v
)
def test_hostile_shapes_match_to_a_verdict_on_10kb_values(pattern: str, value: str, found: bool) -> None:
    """Row 6: the review's repros and other backtracking shapes reach a verdict (old code: hang/refuse)."""
    assert verdict(pattern, value) is found


# (pattern, what the refusal must say): what RE2 cannot run in linear time, or would run slowly.
REFUSED = [
    (r"^(a+)+\1$", "a backreference \\1 is not supported"),
    (r"(?P<x>a+)(?P=x)", "a named backreference (?P=name) is not supported"),
    (r"^(?=(a+)+$)b", "lookahead (?=…) is not supported"),
    (r"(?!a+b)", "negative lookahead (?!…) is not supported"),
    (r"(?<=a+)b", "lookbehind (?<=…) is not supported"),
    (r"(?<!a)b", "negative lookbehind (?<!…) is not supported"),
    (r"(?>a+)+b", "an atomic group (?>…) is not supported"),
    (r"(a++)+b", "a possessive quantifier ++ is not supported"),
    (r"(a)?(?(1)b|c)", "a conditional (?(…)…|…) is not supported"),
    (r"a\Z", "\\Z is not supported (write \\z or $"),
    ("a{,9}b", "{,9} is text to RE2 but a repeat to Python; write {0,9}"),
    (".{1000}x", "compiles to at most 2000 RE2 instructions (this one takes 8005"),
    ("(.{1,100}){1,10}x", "compiles to at most 2000 RE2 instructions"),
    ("(.{1,20}){1,20}z", "compiles to at most 2000 RE2 instructions"),
    ("((a{1,20}){1,20}){1,20}", "a repeat count over 1000"),
    ("a{1001}", "a repeat count over 1000 ({1001} here)"),
]


@pytest.mark.parametrize(("pattern", "says"), REFUSED, ids=lambda v: v[:24])
def test_what_re2_cannot_run_fast_is_refused_at_load_with_the_reason(pattern: str, says: str) -> None:
    """Row 6: refused with the pattern and why (old code: loaded, refused for another reason, or hung)."""
    with watchdog(), pytest.raises(BadValue) as caught:
        compile_regex(pattern)
    assert says in caught.value.message
    assert caught.value.message.startswith(f"got {json.dumps(pattern)}, expected a ")


CONTROLS = [  # what the same shapes must still match, and the length cap the old guard had too
    ("(.{1,9}){1,9}!", "a" * 60 + "!", True),
    (".*.*.*.*x", "a" * 100 + "x", True),
    ("(a?)" * (MAX_PATTERN // 4), "a" * TEN_KB, True),
]


@pytest.mark.parametrize(
    ("pattern", "value", "found"), CONTROLS, ids=lambda v: v[:24] if isinstance(v, str) else v
)
def test_controls_the_same_shapes_still_match(pattern: str, value: str, found: bool) -> None:
    """Control for row 6 (passes on the old code too): the switch to RE2 keeps these verdicts."""
    assert verdict(pattern, value) is found
    with pytest.raises(BadValue, match="expected at most 256"):
        compile_regex("(a|a)*" * 43)


def test_a_refused_regex_names_file_pointer_pattern_and_why(tmp_path: Path) -> None:
    """Row 6: a policy using lookahead is reported with file and JSON pointer (old code loaded it)."""
    doc = {
        "id": "lookahead",
        "title": "t",
        "severity": "low",
        "message": "{image_name}",
        "where": {"all": [{"field": "image_name", "op": "regex", "value": "^(?=.*nginx)"}]},
    }
    (tmp_path / "p.json").write_text(json.dumps(doc))
    [error] = load_policies(tmp_path).errors
    assert str(error) == (
        f'{tmp_path / "p.json"} /where/all/0/value: got "^(?=.*nginx)", expected a regular expression in'
        " RE2 syntax: lookahead (?=…) is not supported (RE2 matches in linear time, so it has no"
        " backtracking features; see docs/policies.md)"
    )


def test_evaluating_the_reviews_policy_over_long_names_reaches_a_verdict() -> None:
    """Row 6, as the review ran it: the policy validates and a 64-character name hung evaluation."""
    policy = policy_from_mapping(
        {
            "id": "bang",
            "title": "t",
            "severity": "low",
            "message": "{image_name}",
            "where": {"field": "image_name", "op": "regex", "value": "(.{1,9}){1,9}!"},
        }
    )
    names = ["a" * 64, "b" * TEN_KB, "ok!", "c" * 300 + "!"]
    evaluator = Evaluator([policy], NOW)
    with watchdog():
        for n, name in enumerate(names):
            evaluator.add(Image(image_name=name, image_id=f"id-{n}", host_id="h"))
        result = evaluator.finish()
    assert sorted(v.subject for v in result.violations) == ["id-2", "id-3"]


def test_values_are_matched_on_their_first_max_subject_characters() -> None:
    """Row 6, the input bound: a value longer than MAX_SUBJECT is matched on its first MAX_SUBJECT
    characters, whatever the parser clipped (old code matched the whole value)."""
    tail = "a" * MAX_SUBJECT + "TAIL"
    assert verdict("^a", tail) is True
    assert verdict("TAIL", tail) is False
    assert verdict("TAIL", "a" * (MAX_SUBJECT - 4) + "TAIL") is True
    assert compile_glob("*TAIL")(tail) is None  # globs see the same prefix
    assert compile_glob("a*")(tail) is not None


def test_a_lone_surrogate_in_a_value_is_matched_not_raised() -> None:
    """Regression guard for the RE2 switch (passes on the old code too): JSON may carry a lone
    surrogate ("\\udc00"), which has no UTF-8 form; it is matched as "?" rather than failing the run."""
    assert verdict("^nginx.$", "nginx\udc00") is True
    assert verdict("^nginx$", "nginx\udc00") is False


def test_re2_loads_only_when_a_policy_uses_a_regex() -> None:
    """Row 6, cold start: a pack without a regex (the fixture pack) never imports RE2; a regex policy does."""
    probe = f"""
import sys
sys.path.insert(0, {str(CHECKER)!r})
from imagewatch.policy import load_policies, policy_from_mapping
assert not load_policies({str(PACK)!r}).errors
before = "re2" in sys.modules
policy_from_mapping({{"id": "r", "title": "t", "severity": "low", "message": "m",
                      "where": {{"field": "image_name", "op": "regex", "value": "^nginx"}}}})
print(before, "re2" in sys.modules)
"""
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.split() == ["False", "True"]
