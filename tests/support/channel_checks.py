"""Assertions shared by the channel tests: what the more line must say, what must never appear raw."""

from __future__ import annotations

import re
from collections.abc import Iterator

from imagewatch.alerts.digest import Digest, Fitted

# Raw forms that would mention someone, link somewhere or inject markup if they survived unescaped.
RAW_HOSTILE = (
    "<!channel>",
    "@everyone",
    "@here",
    "<@123456789012345678>",
    "<@&876543210987654321>",
    "<at id=all>",
    "<at>Boss",
    "@all",
    "@13800001111",
    "<@wangqing>",
    "<users/all>",
    "](https://evil",
    "<b>bold",
    '<font color="warning">fake',
)
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def strings(value: object) -> Iterator[str]:
    """Every string in a JSON value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def all_text(payload: object) -> str:
    return "\n".join(strings(payload))


def expected_more(digest: Digest, shown: int) -> str:
    line = Fitted(digest.items[:shown], digest.items[shown:]).more_line()
    assert line is not None, "the 500-item digest must not fit whole"
    return line


def assert_hostile_defused(payload: object, allowed: tuple[str, ...] = ()) -> None:
    text = all_text(payload)
    for raw in RAW_HOSTILE:
        if raw not in allowed:
            assert raw not in text, f"{raw!r} survived unescaped"
    assert not CONTROL.search(text), "control or bidi characters survived"
    assert "y" * 700 not in text and "x" * 700 not in text, "a 10 KB name was not clipped"
