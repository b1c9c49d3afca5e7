"""Durations such as ``90m``, ``36h`` or ``7d``, as milliseconds (HSS timestamps are in ms)."""

from __future__ import annotations

import re

from imagewatch.policy.errors import BadValue, got

UNIT_MS: dict[str, int] = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
MAX_DURATION_MS = 3660 * UNIT_MS["d"]  # ten years: anything longer is a typo, not a policy
EXPECTED = "a duration: a positive whole number and one unit of s, m, h, d, w (e.g. '90m', '36h', '7d')"

_DURATION = re.compile(r"([1-9][0-9]{0,6})([smhdw])")


def parse_duration(text: object) -> int:
    """Milliseconds in ``text``; raises BadValue naming the accepted form."""
    match = _DURATION.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise BadValue(got(text, EXPECTED))
    ms = int(match.group(1)) * UNIT_MS[match.group(2)]
    if ms > MAX_DURATION_MS:
        raise BadValue(got(text, "a duration of at most 10 years"))
    return ms
