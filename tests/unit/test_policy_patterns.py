"""glob and regex values: compiled once, guarded against catastrophic backtracking."""

import pytest

from imagewatch.policy.errors import BadValue
from imagewatch.policy.patterns import MAX_PATTERN, compile_glob, compile_regex


@pytest.mark.parametrize("pattern", ["^(a+)+$", "(a*)*b", r"(\w+\s?)*$", "(.*a){12}", "((ab)+c?)+"])
def test_nested_unbounded_quantifiers_are_refused(pattern):
    with pytest.raises(BadValue) as caught:
        compile_regex(pattern)
    assert "backtrack catastrophically" in caught.value.message


@pytest.mark.parametrize("pattern", ["^(a|ab)*$", r"^(\w|\w\d)*$", "(a|)*", "([a-c]x|[c-f]y)*", r"(x|[^y])+"])
def test_alternatives_that_start_alike_under_an_unbounded_repeat_are_refused(pattern):
    with pytest.raises(BadValue) as caught:
        compile_regex(pattern)
    assert "alternatives that start alike" in caught.value.message


@pytest.mark.parametrize(
    "pattern",
    [
        "^nginx$",
        "(ab)+",
        "a+b+",
        "(foo|bar)+",
        "(a{1,3}){2}",
        r"^\d+\.\d+$",
        r"^(\w|\d)*$",
        "([a-c]x|[d-f]y)*",
    ],
)
def test_ordinary_patterns_compile(pattern):
    assert callable(compile_regex(pattern))


def test_pattern_length_is_capped():
    assert callable(compile_regex("a" * MAX_PATTERN))
    with pytest.raises(BadValue) as caught:
        compile_regex("a" * (MAX_PATTERN + 1))
    assert (
        caught.value.message == f"a regular expression of {MAX_PATTERN + 1} characters; expected at most 256"
    )
    with pytest.raises(BadValue):
        compile_glob("*" * (MAX_PATTERN + 1))


def test_invalid_regex_names_the_problem():
    with pytest.raises(BadValue) as caught:
        compile_regex("[a-")
    assert caught.value.message == (
        'got "[a-", expected a valid regular expression (unterminated character set at position 0)'
    )


@pytest.mark.parametrize("pattern", ["", 3, None])
def test_empty_or_non_string_patterns(pattern):
    with pytest.raises(BadValue):
        compile_regex(pattern)
    with pytest.raises(BadValue):
        compile_glob(pattern)


def test_glob_matches_the_whole_value():
    match = compile_glob("nginx:*")
    assert match("nginx:1.25") is not None
    assert match("library/nginx:1.25") is None
