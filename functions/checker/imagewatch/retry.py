"""How long to wait before trying a request again: bounded backoff with jitter, ``Retry-After`` first.

Shared by the HSS client and chat delivery; each decides *what* is retryable, this decides *when*.
"""

from __future__ import annotations

import random
from email.utils import parsedate_to_datetime

from msgspec import Struct


class RetryPolicy(Struct, frozen=True):
    """Bounded exponential backoff with full jitter; a server's ``Retry-After`` wins when given."""

    max_attempts: int = 6  # the first try and up to five retries
    base_s: float = 0.5
    cap_s: float = 20.0
    throttle_floor_s: float = 2.0  # Huawei advises 2–5 s after APIG.0308 when it names no delay
    max_retry_after_s: float = 60.0

    def delay(
        self, attempt: int, *, status: int | None, retry_after: float | None, rng: random.Random
    ) -> float:
        """Seconds to wait before try ``attempt + 1`` (``attempt`` counts from 1)."""
        if retry_after is not None:
            return min(retry_after, self.max_retry_after_s)
        backoff = rng.uniform(0, min(self.cap_s, self.base_s * 2 ** (attempt - 1)))
        if status == 429:
            return self.throttle_floor_s + backoff
        return backoff


def parse_retry_after(value: str | None, now: float) -> float | None:
    """``Retry-After`` as seconds from ``now``: delta-seconds or an HTTP date; None when absent or bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
