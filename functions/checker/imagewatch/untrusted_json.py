"""Decoding JSON that came from outside (HSS, IAM, a webhook's answer, S3, Secrets Manager).

``json.loads`` can fail in more ways than ``ValueError``: a 60 KB run of ``[`` raises
``RecursionError``, and a value that decodes fine can still be nested deeper than any code downstream
(``repr``, ``json.dumps``, a validator) survives. Every edge decodes through ``decode`` and turns its
one error type into its own module's error, so no answer can crash a run with an exception nobody
expected.

Text comes out as Unicode text. Bytes are read as UTF-8 (the only encoding JSON between systems may
use), each broken byte as U+FFFD — ``json.loads`` on bytes would also take UTF-16 and UTF-32, and keep
an encoded surrogate (``ed a0 80``). JSON can also escape half a character (``"\\ud800"``), which
``json.loads`` keeps as a lone surrogate; ``decode`` replaces each with U+FFFD too. No UTF-8 writer
downstream (msgspec, SQLite, httpx, boto3, a report file) would encode one, so one odd host name in
HSS stopped every run. Files and settings people write are refused instead, at the place
(``lone_surrogate_at``).
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_DEPTH = 32  # no answer any peer of ours sends is nested half as deep


class UntrustedJsonError(ValueError):
    """The bytes are not JSON, or are nested deeper than allowed. Never quotes the input."""


def decode(body: bytes | str, *, max_depth: int = MAX_DEPTH) -> Any:
    """The JSON value in ``body``, nested at most ``max_depth`` levels (a scalar is level 0)."""
    text = body.decode("utf-8-sig", "replace") if isinstance(body, bytes) else body  # a BOM, as json did
    try:
        value = json.loads(text)
    except RecursionError:
        raise UntrustedJsonError("JSON nested too deeply to decode") from None
    except ValueError as exc:  # json.JSONDecodeError
        raise UntrustedJsonError(f"not JSON ({_position(exc)})") from None
    if depth_exceeds(value, max_depth):
        raise UntrustedJsonError(f"JSON nested deeper than {max_depth} levels")
    return _mended(value) if re.search(_SURROGATE_TEXT, text) else value


# Patterns used by re's own cache: most bodies are searched once and hold neither.
_SURROGATE_TEXT = "[\ud800-\udfff]|\\\\u[dD][89a-fA-F]"  # escaped, or in a str given to decode
_LONE_SURROGATE = "[\ud800-\udfff]"  # after decoding, a valid pair is one character: what is left is lone


def _mended(value: Any) -> Any:
    """``value`` with every lone surrogate in its strings and keys replaced by U+FFFD (its depth is
    already bounded, so the recursion is)."""
    if isinstance(value, str):
        return re.sub(_LONE_SURROGATE, "\ufffd", value)
    if isinstance(value, list):
        return [_mended(item) for item in value]
    if isinstance(value, dict):
        return {_mended(key): _mended(item) for key, item in value.items()}
    return value


NOT_UNICODE = "Unicode text (it holds undecodable bytes, or half of a \\ud800-\\udfff pair)"
LONE_SURROGATE = (
    "a lone surrogate (a \\ud800-\\udfff escape without its other half) is not Unicode text: "
    "write the character itself, or both escapes of its pair"
)


def lone_surrogate_at(value: Any) -> str | None:
    """The JSON pointer of the first key or string in ``value`` that holds a lone surrogate, else None:
    for documents people write (policies, channels), which are refused rather than mended."""
    stack: list[tuple[Any, str, object]] = [(value, "", None)]  # (node, its pointer, its key)
    while stack:
        node, pointer, key = stack.pop()
        if isinstance(key, str) and has_lone_surrogate(key):
            return pointer
        if isinstance(node, str):
            if has_lone_surrogate(node):
                return pointer
            continue
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for child_key, item in reversed(list(items)):  # popped in document order
            token = str(child_key).encode("utf-8", "backslashreplace").decode("utf-8")  # printable
            stack.append((item, f"{pointer}/{token.replace('~', '~0').replace('/', '~1')}", child_key))
    return None


def has_lone_surrogate(text: str) -> bool:
    """Whether ``text`` holds half a UTF-16 pair (from a JSON escape, or undecodable bytes in a file
    name or the environment, which Python keeps as U+DC80..U+DCFF)."""
    return re.search(_LONE_SURROGATE, text) is not None


def depth_exceeds(value: Any, max_depth: int) -> bool:
    """Whether ``value`` nests containers more than ``max_depth`` levels deep (``[]`` is 1, a scalar
    0); level by level, no recursion, stopping at the first level past the limit."""
    level: list[Any] = [value] if isinstance(value, dict | list) else []
    depth = 0
    while level:
        depth += 1
        if depth > max_depth:
            return True
        children: list[Any] = []
        for item in level:
            values = item.values() if isinstance(item, dict) else item
            children.extend(v for v in values if isinstance(v, dict | list))
        level = children
    return False


def _position(exc: ValueError) -> str:
    """Where decoding failed, without the document (it may hold anything)."""
    line, column = getattr(exc, "lineno", None), getattr(exc, "colno", None)
    message = getattr(exc, "msg", "invalid JSON")
    return f"{message} at line {line} column {column}" if line is not None else message
