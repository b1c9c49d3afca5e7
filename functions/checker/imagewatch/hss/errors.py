"""Typed errors for everything that can go wrong between us and HSS.

Messages name the parameter, field or request id involved, never a credential.
"""

from __future__ import annotations


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
        self.value = value
        self.expected = expected
        self.offset = offset
        where = f" at offset {offset}" if offset is not None else ""
        shown = repr(value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        super().__init__(f"image record{where}: field {field!r} is {shown}, expected {expected}")


class InventoryTooLargeError(HssError):
    """The inventory holds more records than ListImageLocal can page to (offset ≤ 2,000,000)."""

    def __init__(self, total_num: int, reachable: int) -> None:
        self.total_num = total_num
        self.reachable = reachable
        super().__init__(
            f"HSS reports {total_num} images but ListImageLocal pages only up to offset 2,000,000: "
            f"{total_num - reachable} images are unreachable; narrow the query (select) to split it"
        )


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
            return (None if code is None else str(code)), (None if msg is None else str(msg)[:500])
    return None, None


def redact(text: str | None, secrets: tuple[str, ...]) -> str | None:
    """``text`` with every secret value replaced: the gateway quotes the AK in some error messages
    ("Get secretKey failed,ak:…", a canonical request with ``Access=…``)."""
    if not text:
        return text
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text
