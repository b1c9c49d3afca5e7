"""Decoding JSON that came from outside (HSS, IAM, a webhook's answer, S3, Secrets Manager).

``json.loads`` can fail in more ways than ``ValueError``: a 60 KB run of ``[`` raises
``RecursionError``, invalid UTF-8 raises ``UnicodeDecodeError``, and a value that decodes fine can still
be nested deeper than any code downstream (``repr``, ``json.dumps``, a validator) survives. Every edge
decodes through ``decode`` and turns its one error type into its own module's error, so no answer can
crash a run with an exception nobody expected.
"""

from __future__ import annotations

import json
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
    return value


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
