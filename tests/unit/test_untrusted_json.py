"""Outside JSON decodes to a value or to one error type, whatever the bytes (review row 3)."""

from __future__ import annotations

import pytest

from imagewatch.untrusted_json import UntrustedJsonError, decode, depth_exceeds, lone_surrogate_at


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


@pytest.mark.parametrize(
    ("body", "value"),
    [
        (b'{"host_name": "ecs-\\ud800"}', {"host_name": "ecs-\ufffd"}),  # a high half alone
        (b'["\\udfff-x"]', ["\ufffd-x"]),  # a low half alone
        (b'["\\uDBFF\\uD800"]', ["\ufffd\ufffd"]),  # two high halves (upper-case escapes)
        (b'["\\udc00\\ud83d"]', ["\ufffd\ufffd"]),  # low before high: not a pair
        (b'{"\\ud800": {"k": ["\\ud800"]}}', {"\ufffd": {"k": ["\ufffd"]}}),  # in a key, and nested
        (b'["\\ud83d\\ude00", "\\u00e9"]', ["\U0001f600", "\u00e9"]),  # a valid pair stays one character
        (b'["\\\\ud800"]', ["\\ud800"]),  # an escaped backslash: the text "\ud800", not an escape
        ('["ecs-\\ud800", "é"]', ["ecs-\ufffd", "é"]),  # str input, escaped
        ('["ecs-\ud800"]', ["ecs-\ufffd"]),  # str input holding a surrogate itself
    ],
)
def test_lone_surrogates_decode_as_replacement_characters(body: bytes | str, value: object) -> None:
    """Half a character cannot be written as UTF-8 by anything downstream: it becomes U+FFFD."""
    decoded = decode(body)
    assert decoded == value
    assert lone_surrogate_at(decoded) is None


def test_where_a_written_document_holds_a_lone_surrogate() -> None:
    """Files people write are refused at the place; the pointer itself is printable text."""
    assert lone_surrogate_at({"a": [1, {"b/c~": "x\ud800"}]}) == "/a/1/b~1c~0"
    assert lone_surrogate_at({"x": {"\udc00": 1}}) == "/x/\\udc00"
    assert lone_surrogate_at(["fine", ["\U0001f600"], "\udbff"]) == "/2"
    assert lone_surrogate_at({"a": ["\U0001f600", "é"], "b": 1.5, "c": None}) is None


@pytest.mark.parametrize(
    ("body", "value"),
    [
        (b'{"m": "bad \xed\xa0\x80 x"}', {"m": "bad \ufffd\ufffd\ufffd x"}),  # a surrogate encoded in "UTF-8"
        (b'{"m": "ecs-\xff"}', {"m": "ecs-\ufffd"}),  # a byte that starts nothing
        (b'\xef\xbb\xbf{"m": "\xc3\xa9"}', {"m": "\u00e9"}),  # a UTF-8 BOM, read past as json.loads did
    ],
)
def test_bytes_are_read_as_utf8_and_each_broken_byte_as_a_replacement_character(
    body: bytes, value: object
) -> None:
    """json.loads on bytes keeps an encoded surrogate (it decodes with surrogatepass): reviewed."""
    assert decode(body) == value


def test_json_in_utf16_is_not_json_here() -> None:
    """JSON between systems is UTF-8 (RFC 8259); json.loads on bytes would take UTF-16 and keep a
    lone surrogate escaped in it."""
    with pytest.raises(UntrustedJsonError, match="not JSON"):
        decode('{"m": "\\ud800"}'.encode("utf-16"))


def test_a_key_is_reported_in_document_order() -> None:
    assert lone_surrogate_at({"a": {"x": "v\ud800"}, "b\ud800": 1}) == "/a/x"
