"""Open violations as a person reads them: filtered, worst and oldest first, with age and last notice.

Pure functions over ``LedgerEntry`` values, for ``imagewatch violations``: which entries a filter
keeps, the order they are listed in, and the row each becomes (JSON, CSV, or a table line). The last
notification per channel is the channel's confirmed ``last_sent_at``; a send attempted but never
confirmed (the process died mid-send) shows as ``unconfirmed``, and an entry a configured channel's
routing does not want as ``not routed`` (so "never" means a channel that is owed the alert).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from typing import Any

from msgspec import Struct

from imagewatch.alerts.ledger import ChannelRule, Labels, LedgerEntry
from imagewatch.sla import overdue_ms, say_date, say_duration
from imagewatch.violation import SEVERITIES, SEVERITY_ORDER

UNCONFIRMED = "unconfirmed"
NOT_ROUTED = "not routed"


class ListFilter(Struct, frozen=True):
    """What to list: open entries at or above ``min_severity``, of ``policies`` (ids or globs), whose
    label contains ``label`` (any case)."""

    min_severity: str | None = None
    policies: tuple[str, ...] = ()
    label: str | None = None

    def keeps(self, entry: LedgerEntry) -> bool:
        if entry.status != "open":
            return False
        if (
            self.min_severity
            and SEVERITY_ORDER.get(entry.severity, len(SEVERITIES)) > SEVERITY_ORDER[self.min_severity]
        ):
            return False
        if self.policies and not any(fnmatchcase(entry.policy_id, glob) for glob in self.policies):
            return False
        return not self.label or self.label.casefold() in entry.label.casefold()


def listing_order(entry: LedgerEntry) -> tuple[int, int, str, str]:
    """Worst severity first; within one, the oldest first (the longest open)."""
    rank = SEVERITY_ORDER.get(entry.severity, len(SEVERITIES))
    return (rank, entry.first_seen, entry.policy_id, entry.fingerprint)


def unknown_policies(asked: Iterable[str], known: Iterable[str]) -> list[str]:
    """The ``--policy`` values that are plain ids (not globs) naming no known policy."""
    names = set(known)
    return [p for p in asked if not any(c in p for c in "*?[") and p not in names]


def iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def human_age(ms: int) -> str:
    """``3d 4h``, ``5h 12m``, ``7m``, ``40s``: two units at most."""
    seconds = max(0, ms // 1000)
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m" if minutes else f"{seconds}s"


class View(Struct, frozen=True):
    """What every row is shown against: the channel columns, their routing, and the time."""

    channels: tuple[str, ...]
    now_ms: int
    rules: Mapping[str, ChannelRule] = {}  # configured channels' routing; others are not judged
    labels: Labels | None = None  # the pack's routing labels; None: unknown, label routes not judged
    policy_width: int = len("POLICY")

    def notified(self, entry: LedgerEntry, channel: str) -> int | str | None:
        """When ``channel`` last confirmed a message about ``entry`` (ms); ``UNCONFIRMED`` for a send
        attempted and never confirmed; ``NOT_ROUTED`` when its routing does not want the entry; None
        when it was due and never told."""
        delivery = entry.deliveries.get(channel)
        if delivery is not None:
            sent = delivery.last_sent_at if delivery.last_sent_at is not None else delivery.new_at
            if sent is not None:
                return sent
            if delivery.attempted_at is not None:
                return UNCONFIRMED
        rule = self.rules.get(channel)
        if (
            rule is not None
            and not (rule.labels and self.labels is None)
            and not rule.wants(entry, self.labels)
        ):
            return NOT_ROUTED
        return None


def row(entry: LedgerEntry, view: View) -> dict[str, Any]:
    """One entry as data: JSON-ready, times in ISO 8601 UTC, ``notified`` per channel (an ISO time,
    ``unconfirmed``, ``not routed`` or null)."""
    notified: dict[str, str | None] = {}
    for name in view.channels:
        last = view.notified(entry, name)
        notified[name] = iso(last) if isinstance(last, int) else last
    return {
        "severity": entry.severity,
        "policy_id": entry.policy_id,
        "label": entry.label,
        "first_seen": iso(entry.first_seen),
        "age_s": max(0, view.now_ms - entry.first_seen) // 1000,
        "last_seen": iso(entry.last_seen),
        "due_at": iso(entry.due_at),  # SLA (docs/sla.md): null without a clock
        "overdue": (late := overdue_ms(entry, view.now_ms)) > 0,
        "overdue_s": late // 1000,
        "notified": notified,
        "message": entry.message,
        "subject": entry.subject,
        "fingerprint": entry.fingerprint,
    }


CSV_FIELDS = (
    "severity",
    "policy_id",
    "label",
    "first_seen",
    "age_s",
    "last_seen",
    "due_at",
    "overdue_s",
    "message",
    "subject",
    "fingerprint",
)


def csv_header(view: View) -> list[str]:
    return [*CSV_FIELDS, *(f"notified:{name}" for name in view.channels)]


def csv_cells(data: dict[str, Any], view: View) -> list[str]:
    """A row's cells; a cell a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@`` first)
    gets a leading ``'``: labels and messages quote HSS data, which is not ours."""
    from imagewatch.report.run_report import csv_cell
    from imagewatch.terminal import one_line  # one line each: a newline must not split a cell's text

    cells = [one_line("" if data[name] is None else data[name]).strip() for name in CSV_FIELDS]
    cells += [one_line(data["notified"][name] or "").strip() for name in view.channels]
    return [csv_cell(cell) for cell in cells]


def _heading(name: str) -> str:
    return f"NOTIFIED:{name}".ljust(11)


def table_header(view: View) -> str:
    cells = [
        "SEVERITY".ljust(8),
        "POLICY".ljust(view.policy_width),
        "FIRST SEEN".ljust(16),
        "AGE".ljust(7),
        "DUE".ljust(14),
    ]
    return "  ".join([*cells, *(_heading(name) for name in view.channels), "LABEL"])


def table_line(entry: LedgerEntry, view: View) -> str:
    """A row as one line: fixed columns (known before the first row), the label last and whole."""
    cells = [
        entry.severity.ljust(8),
        entry.policy_id.ljust(view.policy_width),
        datetime.fromtimestamp(entry.first_seen / 1000, UTC).strftime("%Y-%m-%d %H:%M"),
        human_age(view.now_ms - entry.first_seen).ljust(7),
        due_cell(entry, view.now_ms).ljust(14),
    ]
    for name in view.channels:
        last = view.notified(entry, name)
        shown = (
            "never"
            if last is None
            else last
            if isinstance(last, str)
            else f"{human_age(view.now_ms - last)} ago"
        )
        cells.append(shown.ljust(len(_heading(name))))
    from imagewatch.terminal import one_line  # a newline in a host name must not forge a row

    return "  ".join([one_line(cell) for cell in (*cells, entry.label)])


def due_cell(entry: LedgerEntry, now_ms: int) -> str:
    """``overdue 3 d``, ``2026-12-08`` or ``-`` (no clock)."""
    late = overdue_ms(entry, now_ms)
    if late:
        return f"overdue {say_duration(late)}"
    return say_date(entry.due_at) if entry.due_at is not None else "-"
