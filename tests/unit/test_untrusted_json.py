"""Outside JSON decodes to a value or to one error type, whatever the bytes (review row 3)."""

from __future__ import annotations

import pytest

from imagewatch.untrusted_json import UntrustedJsonError, decode, depth_exceeds


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"[" * 100_000, "nested too deeply"),  # json.loads raises RecursionError here
        (b'{"a":' * 60_000, "nested too deeply"),
        (b"[" * 40 + b"]" * 40, "nested deeper than 32"),  # decodes, but deeper than any answer
        (b"\xff\xfe\xfd", "not"),
        (b"\xc3\x28", "not"),
        (b"", "not JSON"),
        (b'{"a": 1', "not JSON"),
        (b"NaN-ish", "not JSON"),
    ],
)
def test_every_failure_is_the_modules_own_error(body: bytes, problem: str) -> None:
    with pytest.raises(UntrustedJsonError, match=problem) as caught:
        decode(body)
    assert len(str(caught.value)) < 120  # never quotes the input


def test_a_value_within_the_depth_decodes() -> None:
    assert decode(b'{"a": [[{"b": 1}]]}', max_depth=4) == {"a": [[{"b": 1}]]}
    assert decode("[1, 2]") == [1, 2]


@pytest.mark.parametrize(
    ("depth", "limit", "exceeds"), [(0, 0, False), (1, 0, True), (5, 5, False), (6, 5, True)]
)
def test_depth_is_counted_in_container_levels(depth: int, limit: int, exceeds: bool) -> None:
    value: object = 1
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    assert depth_exceeds(value, limit) is exceeds
