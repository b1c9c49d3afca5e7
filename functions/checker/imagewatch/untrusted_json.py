"""Decoding JSON that came from outside (HSS, IAM, a webhook's answer, S3, Secrets Manager).

``json.loads`` can fail in more ways than ``ValueError``: a 60 KB run of ``[`` raises
``RecursionError``, invalid UTF-8 raises ``UnicodeDecodeError``, and a value that decodes fine can still
be nested deeper than any code downstream (``repr``, ``json.dumps``, a validator) survives. Every edge
decodes through ``decode`` and turns its one error type into its own module's error, so no answer can
crash a run with an exception nobody expected.

Text comes out as Unicode text: JSON can escape half a character (``"\\ud800"``), which ``json.loads``
keeps as a lone surrogate, and no UTF-8 writer downstream (msgspec, SQLite, httpx, boto3, a report
file) will encode one. ``decode`` replaces each with U+FFFD, as a UTF-8 decoder does with a broken
byte, so one odd host name in HSS cannot stop a run; files people write are refused instead, at the
place (``lone_surrogate_at``).
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
    try:
        value = json.loads(body)
    except RecursionError:
        raise UntrustedJsonError("JSON nested too deeply to decode") from None
    except UnicodeDecodeError:
        raise UntrustedJsonError("not UTF-8 text") from None
    except ValueError as exc:  # json.JSONDecodeError
        raise UntrustedJsonError(f"not JSON ({_position(exc)})") from None
    if depth_exceeds(value, max_depth):
        raise UntrustedJsonError(f"JSON nested deeper than {max_depth} levels")
    return _mended(value) if _may_hold_surrogates(body) else value


# Patterns used by re's own cache: most bodies are searched once and hold neither.
_ESCAPED_SURROGATE = rb"\\u[dD][89a-fA-F]"  # the only way one reaches bytes: UTF-8 cannot carry it
_SURROGATE_TEXT = "[\ud800-\udfff]|\\\\u[dD][89a-fA-F]"  # in str input: escaped, or already there
_LONE_SURROGATE = "[\ud800-\udfff]"  # after decoding, a valid pair is one character: what is left is lone


def _may_hold_surrogates(body: bytes | str) -> bool:
    if isinstance(body, bytes):
        return re.search(_ESCAPED_SURROGATE, body) is not None
    return re.search(_SURROGATE_TEXT, body) is not None


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


LONE_SURROGATE = (
    "a lone surrogate (a \\ud800-\\udfff escape without its other half) is not Unicode text: "
    "write the character itself, or both escapes of its pair"
)


def lone_surrogate_at(value: Any) -> str | None:
    """The JSON pointer of the first key or string in ``value`` that holds a lone surrogate, else None:
    for documents people write (policies, channels), which are refused rather than mended."""
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        node, pointer = stack.pop()
        if isinstance(node, str):
            if re.search(_LONE_SURROGATE, node):
                return pointer
            continue
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, item in reversed(list(items)):
            token = str(key).encode("utf-8", "backslashreplace").decode("utf-8")  # the pointer is printable
            where = f"{pointer}/{token.replace('~', '~0').replace('/', '~1')}"
            if isinstance(key, str) and re.search(_LONE_SURROGATE, key):
                return where
            stack.append((item, where))
    return None


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
