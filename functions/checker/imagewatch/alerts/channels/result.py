"""``SendResult``: a platform's verdict on one send (its own module so platforms can import it early)."""

from __future__ import annotations

from msgspec import Struct


class SendResult(Struct, frozen=True):
    """The platform's verdict on one send."""

    ok: bool
    retryable: bool = False
    retry_after: float | None = None
    detail: str = ""
