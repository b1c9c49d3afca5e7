"""Typed errors for everything that can go wrong between us and HSS.

Messages name the parameter, field or request id involved, never a credential.
"""

from __future__ import annotations

import re


class HssError(Exception):
    """Base class for HSS client errors."""


class InvalidQueryError(HssError, ValueError):
    """A query parameter is outside its documented bounds (raised before anything is sent)."""

    def __init__(self, parameter: str, value: object, expected: str) -> None:
        self.parameter = parameter
        self.value = value
        self.expected = expected
        super().__init__(f"ListImageLocal parameter {parameter!r}: got {value!r}, expected {expected}")


class HssApiError(HssError):
    """HSS or its API gateway answered with an error body."""

    def __init__(
        self,
        status: int,
        error_code: str | None,
        error_msg: str | None,
        request_id: str | None,
        *,
        attempts: int = 1,
    ) -> None:
        self.status = status
        self.error_code = error_code
        self.error_msg = error_msg
        self.request_id = request_id
        self.attempts = attempts
        tried = f" after {attempts} attempts" if attempts > 1 else ""
        super().__init__(
            f"HSS answered HTTP {status} {error_code or '(no error_code)'}: {error_msg or '(no error_msg)'}"
            f" [X-Request-Id {request_id or 'absent'}]{tried}"
        )


class HssThrottledError(HssApiError):
    """Still throttled (429, APIG.0308) after every retry allowed."""


class HssTransportError(HssError):
    """No usable HTTP answer: connection refused or reset, timeout, or a body that is not JSON."""


class ListingStopped(HssError):
    """A listing stopped issuing requests: its time budget ran out, or it was cancelled."""


class RecordError(HssError):
    """A record in a ListImageLocal page does not match the documented types."""

    def __init__(self, field: str, value: object, expected: str, *, offset: int | None = None) -> None:
        self.field = field
        self.value = short_repr(value)  # never the value itself: it may be megabytes, or nested deep
        self.expected = expected
        self.offset = offset
        where = f" at offset {offset}" if offset is not None else ""
        super().__init__(f"image record{where}: field {field!r} is {self.value}, expected {expected}")


def short_repr(value: object, limit: int = 80) -> str:
    """``repr`` of an outside value, clipped, without walking containers (a deep one would recurse)."""
    if isinstance(value, dict | list):
        items = list(value.values()) if isinstance(value, dict) else value
        if len(items) > 8 or any(isinstance(item, dict | list) for item in items):
            return f"{type(value).__name__} of {len(items)} item{'s' if len(items) != 1 else ''}"
        value = {str(k)[:limit]: v for k, v in value.items()} if isinstance(value, dict) else value
        items = [item[:limit] if isinstance(item, str) else item for item in items]
        value = dict(zip(value, items, strict=True)) if isinstance(value, dict) else items
    elif isinstance(value, str) and len(value) > limit:
        value = value[:limit]
    shown = repr(value)
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


class InventoryTooLargeError(HssError):
    """The inventory holds more records than ListImageLocal can page to (offset ≤ 2,000,000)."""

    def __init__(self, total_num: int, reachable: int) -> None:
        self.total_num = total_num
        self.reachable = reachable
        super().__init__(
            f"HSS reports {total_num} images but ListImageLocal pages only up to offset 2,000,000: "
            f"{total_num - reachable} images are unreachable; narrow the query (select) to split it"
        )


def _text(value: object) -> str | None:
    """A code or message as text; unclipped (``redact`` clips after redacting), never a container."""
    if value is None:
        return None
    return value if isinstance(value, str) else short_repr(value, 200)


def error_fields(body: object) -> tuple[str | None, str | None]:
    """(error_code, error_msg) from any error body shape HSS, APIG or IAM uses.

    HSS/APIG: ``error_code``/``error_msg``; the SDK also accepts ``errorCode``/``errorMsg`` and
    ``code``/``message``; IAM nests ``{"error": {"code", "message"}}``.
    """
    if not isinstance(body, dict):
        return None, None
    nested = body.get("error")
    if isinstance(nested, dict):
        body = nested
    for code_key, msg_key in (("error_code", "error_msg"), ("errorCode", "errorMsg"), ("code", "message")):
        if code_key in body or msg_key in body:
            code, msg = body.get(code_key), body.get(msg_key)
            return _text(code), _text(msg)
    return None, None


MAX_MESSAGE = 500  # characters of an error message kept, after redaction
_KEY_CHARACTER_RUN = r"[A-Za-z0-9+/=_.~-]{12,}"  # compiled (and cached) by re when an error is redacted


def redact(text: str | None, secrets: tuple[str, ...], limit: int = MAX_MESSAGE) -> str | None:
    """``text`` with every secret value replaced, then clipped to ``limit`` — in that order, so a
    clipped quote cannot keep part of a secret. The gateway quotes the AK in some error messages
    ("Get secretKey failed,ak:…", a canonical request with ``Access=…``), and may quote a token in part:
    any run of 12+ token characters that is a piece of a secret is replaced too."""
    if not text:
        return text
    for secret in sorted(secrets, key=len, reverse=True):
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    long_secrets = [secret for secret in secrets if secret and len(secret) >= 12]
    if long_secrets:
        text = re.sub(
            _KEY_CHARACTER_RUN,
            lambda run: "***" if any(run.group() in secret for secret in long_secrets) else run.group(),
            text,
        )
    return text if len(text) <= limit else text[: limit - 1] + "…"
