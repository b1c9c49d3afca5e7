"""Making untrusted inventory text safe to show: no control characters, bounded length."""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069]")


def clean(text: object, limit: int = 300) -> str:
    """One safe line: control and bidi characters removed, newlines folded, at most ``limit`` chars."""
    value = _CONTROL.sub("", str(text)).replace("\n", " ").replace("\r", " ").replace("\t", " ")
    if len(value) > limit:
        return value[: max(0, limit - 1)] + "…"
    return value


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))
