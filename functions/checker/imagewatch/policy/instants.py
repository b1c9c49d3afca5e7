"""Points in time in policies: ISO dates and timestamps to epoch milliseconds, and back for people.

Every instant must say its timezone (``Z`` or ``±HH:MM``): a policy evaluated in a Lambda in UTC and
on a laptop in UTC+8 must mean the same moment.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, date, datetime

from imagewatch.policy.errors import BadValue, got

DAY_MS = 86_400_000
MAX_MS = 4_070_880_000_000  # the largest timestamp HSS documents (2099)
INSTANT_EXPECTED = (
    "milliseconds since the epoch, a date 'YYYY-MM-DD', or an ISO timestamp with a timezone"
    " such as '2026-03-31T18:00:00Z'"
)
EXPIRY_EXPECTED = (
    "a date 'YYYY-MM-DD' (valid through the end of that day, UTC), an ISO timestamp with a timezone,"
    ' or "never"'
)

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _date_ms(text: str, expected: str) -> int:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise BadValue(got(text, expected)) from None
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


def _timestamp_ms(text: str, expected: str) -> int:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise BadValue(got(text, expected)) from None
    if moment.tzinfo is None:
        raise BadValue(got(text, expected + " (this one has no timezone)"))
    return int(moment.timestamp() * 1000)


def parse_instant(value: object) -> int:
    """Epoch ms of ``value``: an integer ms, a date (its start, UTC) or a timestamp with a timezone."""
    if isinstance(value, int) and not isinstance(value, bool):
        if 0 <= value <= MAX_MS:
            return value
        raise BadValue(got(value, f"milliseconds in 0..{MAX_MS}"))
    if not isinstance(value, str):
        raise BadValue(got(value, INSTANT_EXPECTED))
    ms = (
        _date_ms(value, INSTANT_EXPECTED)
        if _DATE.fullmatch(value)
        else _timestamp_ms(value, INSTANT_EXPECTED)
    )
    if not 0 <= ms <= MAX_MS:
        raise BadValue(got(value, f"an instant between 1970 and {format_ms(MAX_MS)}"))
    return ms


def parse_expiry(value: object) -> int | None:
    """When an exemption stops applying, in epoch ms; ``None`` for ``"never"``.

    A date means the exemption holds through that whole day in UTC, so it lapses at the next midnight
    UTC: people write "until 31 March" meaning the 31st included.
    """
    if value == "never":
        return None
    if not isinstance(value, str):
        raise BadValue(got(value, EXPIRY_EXPECTED))
    if _DATE.fullmatch(value):
        return _date_ms(value, EXPIRY_EXPECTED) + DAY_MS
    return _timestamp_ms(value, EXPIRY_EXPECTED)


def format_ms(ms: int | None) -> str:
    """An HSS timestamp for people: ``2026-03-09T08:38:26Z``; 0 means never; None is unknown."""
    if ms is None:
        return "?"
    if ms == 0:
        return "never"
    try:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms // 1000))  # 3x datetime's speed
    except (OverflowError, ValueError, OSError):
        return str(ms)
