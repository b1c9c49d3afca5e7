"""Policy errors: every problem names the file, the JSON pointer inside it, and what was expected."""

from __future__ import annotations

import json

from msgspec import Struct


class PolicyError(Struct, frozen=True, order=True):
    """One problem in one policy file; ``line``/``column`` only for malformed JSON."""

    file: str
    pointer: str
    message: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        place = f"{self.file}:{self.line}:{self.column}" if self.line is not None else self.file
        return f"{place} {self.pointer or '/'}: {self.message}"


class BadValue(ValueError):
    """A value that does not fit; ``at`` is a pointer suffix when the culprit is inside it (``/3``)."""

    def __init__(self, message: str, at: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.at = at


def child(pointer: str, key: str | int) -> str:
    """``pointer`` extended by one reference token, escaped per RFC 6901."""
    token = str(key).replace("~", "~0").replace("/", "~1")
    return f"{pointer}/{token}"


def show(value: object) -> str:
    """A value as it appears in JSON (short), for messages: ``"High"``, ``3``, ``null``."""
    try:
        text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def got(value: object, expected: str) -> str:
    """The house style for a mismatch: ``got X, expected Y``."""
    return f"got {show(value)}, expected {expected}"
