"""SLA clocks: how long each violation may stay open, and when it is due or overdue.

Pure functions of ledger facts and a clock (all times ms since the epoch, UTC). A violation's clock
starts when it is first seen (``LedgerEntry.first_seen``) and runs for its time to fix — its policy's
``sla`` when set, else its severity's (the ``SLA`` setting over ``DEFAULT_SLA``). Time spent covered by
an exemption is added back (``paused_ms``): ``due_at = first_seen + time_to_fix + paused_ms``. While
an entry is exempted its clock is stopped: it is never overdue. ``None`` means no clock (info by
default, or ``none``). See docs/sla.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Protocol

from msgspec import Struct, field

from imagewatch.violation import SEVERITIES

if TYPE_CHECKING:
    from imagewatch.policy.model import Policy

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
DUE_SOON_MS = 7 * DAY_MS  # the digest's "falls due within a few days"
DEFAULT_SLA: dict[str, int | None] = {
    "critical": 7 * DAY_MS,
    "high": 30 * DAY_MS,
    "medium": 90 * DAY_MS,
    "low": 180 * DAY_MS,
    "info": None,
}
SLA_EXAMPLE = "severity=duration pairs such as 'critical=7d,high=30d' (a duration, or none)"


class Clocked(Protocol):
    """What the clock functions read of a ledger entry."""

    first_seen: int
    due_at: int | None
    paused_ms: int
    paused_since: int | None
    status: str


class Sla(Struct, frozen=True):
    """Time to fix per severity, and per policy where a policy says its own (``None``: no clock)."""

    by_severity: dict[str, int | None] = field(default_factory=lambda: dict(DEFAULT_SLA))
    by_policy: dict[str, int | None] = field(default_factory=dict)

    def time_to_fix(self, severity: str, policy_id: str) -> int | None:
        if policy_id in self.by_policy:
            return self.by_policy[policy_id]
        return self.by_severity.get(severity)

    def due(self, entry: Clocked, severity: str, policy_id: str) -> int | None:
        """When ``entry`` falls due under this SLA: first seen + time to fix + time paused so far."""
        ttf = self.time_to_fix(severity, policy_id)
        return None if ttf is None else entry.first_seen + ttf + entry.paused_ms


def sla_for(by_severity: Mapping[str, int | None] | None, policies: Iterable[Policy]) -> Sla:
    """The run's SLA: the setting (or the defaults) and each policy's own ``sla`` field."""
    by_policy = {p.id: p.sla_ms for p in policies if p.sla_set}
    return Sla(dict(by_severity if by_severity is not None else DEFAULT_SLA), by_policy)


class SlaSettingError(ValueError):
    """One piece of the ``SLA`` setting is wrong: ``SLA: "hgih=30d": unknown severity 'hgih' …``."""

    def __init__(self, piece: str, problem: str) -> None:
        self.piece, self.problem = piece, problem
        super().__init__(f'SLA: "{piece}": {problem}')


def parse_sla(text: str) -> dict[str, int | None]:
    """``critical=7d,high=30d,info=none`` over ``DEFAULT_SLA``; raises ``SlaSettingError`` naming the
    piece, its value and what was expected."""
    from imagewatch.policy.durations import EXPECTED, parse_duration
    from imagewatch.policy.errors import BadValue
    from imagewatch.suggest import allowed, did_you_mean

    result = dict(DEFAULT_SLA)
    seen: set[str] = set()
    for raw in text.split(","):
        piece = raw.strip()
        if not piece:
            continue
        severity, sep, value = (part.strip() for part in piece.partition("="))
        if not sep or not value:
            raise SlaSettingError(piece, f"expected severity=duration, e.g. 'high=30d' ({SLA_EXAMPLE})")
        severity = severity.lower()
        if severity not in SEVERITIES:
            hint = did_you_mean(severity, SEVERITIES)
            expected = allowed(SEVERITIES)
            raise SlaSettingError(piece, f"unknown severity {severity!r}{hint}; expected {expected}")
        if severity in seen:
            raise SlaSettingError(piece, f"{severity} is given twice")
        seen.add(severity)
        if value.lower() == "none":
            result[severity] = None
            continue
        try:
            result[severity] = parse_duration(value)
        except BadValue:
            raise SlaSettingError(piece, f"bad duration {value!r}; expected {EXPECTED}, or none") from None
    return result


def due_at(entry: Clocked) -> int | None:
    """When ``entry`` falls due (its pauses included), as the ledger recorded it; None without a clock."""
    return entry.due_at


def overdue_ms(entry: Clocked, now: int) -> int:
    """How long past due ``entry`` is at ``now``; 0 when not overdue, paused (exempted) or not open —
    and when ``now`` is before it was first seen (a clock that went back is never overdue)."""
    due = entry.due_at
    if due is None or entry.status != "open" or entry.paused_since is not None or now < entry.first_seen:
        return 0
    return max(0, now - due)


def is_overdue(entry: Clocked, now: int) -> bool:
    return overdue_ms(entry, now) > 0


def due_within(entry: Clocked, now: int, window_ms: int) -> bool:
    """Open, running, not overdue yet, and due within ``window_ms`` of ``now``."""
    due = entry.due_at
    if due is None or entry.status != "open" or entry.paused_since is not None:
        return False
    return now <= due <= now + window_ms


def time_to_fix(entry: Clocked, resolved_at: int) -> int:
    """Open time that counted: resolved − first seen − time exempted."""
    return max(0, resolved_at - entry.first_seen - entry.paused_ms)


def within_sla(entry: Clocked, resolved_at: int) -> bool:
    return entry.due_at is None or resolved_at <= entry.due_at


def say_duration(ms: int) -> str:
    """``3 d``, ``5 h``, ``20 min``: the largest whole unit (at least 1 min)."""
    if ms >= DAY_MS:
        return f"{ms // DAY_MS} d"
    if ms >= HOUR_MS:
        return f"{ms // HOUR_MS} h"
    return f"{max(1, ms // MINUTE_MS)} min"


def say_date(ms: int) -> str:
    """``2026-12-08`` (UTC)."""
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d")
