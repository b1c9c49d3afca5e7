"""glob and regex values: compiled once, bounded, and the regex ones in RE2 syntax (tests/unit/
test_regex_engine.py holds the hostile shapes of review row 6)."""

import pytest

from imagewatch.policy.errors import BadValue
from imagewatch.policy.patterns import MAX_PATTERN, compile_glob, compile_regex


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
        "(?i)^library/(nginx|redis)$",
        r"^(?P<repo>[a-z]+)/",
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
    assert (
        caught.value.message
        == 'got "[a-", expected a valid regular expression in RE2 syntax (missing ] at "[a-")'
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


@pytest.mark.parametrize(
    ("pattern", "value", "found"),
    [
        ("ngi", "library/nginx", True),  # a search, not a match at the start
        ("^ngi", "library/nginx", False),
        ("(?i)NGINX$", "library/nginx", True),
        ("x$", "nginx\n", False),  # RE2's $ is the end of the value (Python's re also allowed a final \n)
        (r"\d+", "v١٢", False),  # \d is ASCII in RE2
        ("[[:upper:]]", "Nginx", True),  # POSIX classes are RE2 syntax
    ],
)
def test_regex_searches_the_value_with_re2_semantics(pattern, value, found):
    assert (compile_regex(pattern)(value) is not None) is found
