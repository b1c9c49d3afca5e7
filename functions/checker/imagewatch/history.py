"""Run history: one compact record per run and target, and the figures read from a run of them.

Each check appends a ``RunRecord`` to the state store (``StateStore.append_history``): when it ran,
how it went, what it read, the open ledger by severity, and ``fixed`` — per severity ``[count,
sum_fix_ms, within_sla_count]`` of the entries that resolved in that run. Trends, MTTR and SLA
compliance are pure functions of those records and a clock: nothing here reads the ledger again.

Records are keyed by (target, ``at``) in the stores, ``at`` being the run's start (ms since the epoch,
UTC): a retried write of one record is one record, and each resolution is counted in the one run that
saw the ledger entry resolve, so a run landing twice in a period never counts a fix twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

import msgspec
from msgspec import Struct

from imagewatch.sla import time_to_fix, within_sla
from imagewatch.violation import SEVERITIES

if TYPE_CHECKING:
    from imagewatch.alerts.ledger import LedgerEntry

DAY_MS = 86_400_000
WINDOWS_MS: dict[str, int] = {"7d": 7 * DAY_MS, "30d": 30 * DAY_MS, "90d": 90 * DAY_MS}
HISTORY_TTL_DAYS = 400  # a year of history, and a margin for the year-on-year look


class RunRecord(Struct, frozen=True, omit_defaults=True):
    """One run of one target, as history keeps it (a few hundred bytes encoded)."""

    at: int  # the run's start, ms since the epoch (UTC): the record's key with ``target``
    target: str
    status: str  # ok | partial | failed (as the run summary says)
    records: int = 0  # distinct records read
    images: int = 0  # distinct images read
    open_by_severity: dict[str, int] = {}
    new: int = 0
    resolved: int = 0
    overdue: int = 0
    exempted: int = 0
    duration_ms: int = 0
    complete: bool = False  # every listing complete: the read can be trusted to say what resolved
    # severity -> [count, sum_fix_ms, within_sla_count]; exactly three, or the record is refused when read
    fixed: dict[str, Annotated[list[int], msgspec.Meta(min_length=3, max_length=3)]] = {}


_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(RunRecord).decode


def encode_record(record: RunRecord) -> bytes:
    """The record as compact JSON (what the stores keep)."""
    return _encode(record)


def decode_record(data: bytes | str) -> RunRecord:
    """The inverse of ``encode_record``; raises ``msgspec.DecodeError``/``ValidationError`` on junk."""
    return _decode(data)


class ResolutionTally:
    """What the entries that resolved in one run add up to, per severity (fed by the merge)."""

    def __init__(self) -> None:
        self._fixed: dict[str, list[int]] = {}

    def add(self, entry: LedgerEntry) -> None:
        """Count one resolved ledger entry (``sla.py``): its time to fix is ``resolved_at -
        first_seen - paused_ms`` (time spent exempted does not count), and it was within its SLA when
        it had no clock (``due_at`` None) or resolved by ``due_at``. An entry without
        ``resolved_at`` is not a resolution and is ignored."""
        resolved_at = entry.resolved_at
        if resolved_at is None:
            return
        tally = self._fixed.setdefault(entry.severity, [0, 0, 0])
        tally[0] += 1
        tally[1] += time_to_fix(entry, resolved_at)
        tally[2] += 1 if within_sla(entry, resolved_at) else 0

    def as_fixed(self) -> dict[str, list[int]]:
        """``RunRecord.fixed``: a copy, so the tally can go on counting."""
        return {severity: list(values) for severity, values in self._fixed.items()}

    def __len__(self) -> int:
        return sum(values[0] for values in self._fixed.values())


# -- figures ----------------------------------------------------------------------------------------


def _in_window(records: Iterable[RunRecord], now: int, window_ms: int) -> Iterator[RunRecord]:
    """Records with ``now - window_ms < at <= now``, each ``at`` once (a store keeps one per key; a
    caller's list may repeat one)."""
    seen: set[int] = set()
    for record in records:
        if now - window_ms < record.at <= now and record.at not in seen:
            seen.add(record.at)
            yield record


def _fixed_totals(records: Iterable[RunRecord]) -> dict[str, list[int]]:
    totals: dict[str, list[int]] = {}
    for record in records:
        for severity, (count, sum_ms, within) in record.fixed.items():
            total = totals.setdefault(severity, [0, 0, 0])
            total[0] += count
            total[1] += sum_ms
            total[2] += within
    return totals


def _per_severity(totals: dict[str, list[int]], pick: int) -> dict[str, float | None]:
    """Every severity (the known five first, then any other seen): ``totals[pick] / count``, or None
    when nothing of that severity resolved in the window."""
    names = list(SEVERITIES) + sorted(set(totals) - set(SEVERITIES))
    out: dict[str, float | None] = {}
    for severity in names:
        count, *rest = totals.get(severity, [0, 0, 0])
        out[severity] = rest[pick - 1] / count if count else None
    return out


def mttr(records: Iterable[RunRecord], now: int, window_ms: int) -> dict[str, float | None]:
    """Mean time to fix (ms) per severity of what resolved in runs within ``window_ms`` before ``now``
    (None: nothing of that severity resolved then)."""
    return _per_severity(_fixed_totals(_in_window(records, now, window_ms)), 1)


def sla_compliance(records: Iterable[RunRecord], now: int, window_ms: int) -> dict[str, float | None]:
    """The share (0..1) of what resolved within ``window_ms`` before ``now`` that resolved by its due
    date, per severity (None: nothing of that severity resolved then)."""
    return _per_severity(_fixed_totals(_in_window(records, now, window_ms)), 2)


def resolved_counts(records: Iterable[RunRecord], now: int, window_ms: int) -> dict[str, int]:
    """How many resolutions each severity's MTTR and compliance rest on, in that window."""
    totals = _fixed_totals(_in_window(records, now, window_ms))
    return {severity: totals[severity][0] for severity in totals}


def last_complete(records: Iterable[RunRecord]) -> RunRecord | None:
    """The latest run whose every listing was complete (the dead man's switch's figure)."""
    last = None
    for record in records:
        if record.complete and (last is None or record.at >= last.at):
            last = record
    return last


class TrendRow(Struct, frozen=True):
    """One row of the trend: a run, or a day (UTC) of runs. Open, overdue and exempted are as the
    period's last run left them; new, resolved and fixes are summed over its runs."""

    period: str  # the run's time (ISO 8601, UTC) or the day (YYYY-MM-DD)
    at: int  # the period's last run
    runs: int
    complete_runs: int
    status: str  # the last run's status
    open_by_severity: dict[str, int]
    open: int
    new: int
    resolved: int
    overdue: int
    exempted: int
    fixed: dict[str, list[int]]

    def to_dict(self) -> dict[str, Any]:
        return msgspec.structs.asdict(self)


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def trend(records: Iterable[RunRecord], per: Literal["run", "day"] = "run") -> list[TrendRow]:
    """The open-by-severity trend, ascending, one row per run or per UTC day (the records ascending
    by ``at``, as a store yields them). Memory: one row per period."""
    rows: list[TrendRow] = []
    group: list[RunRecord] = []
    key: object = None
    label = ""
    for record in records:
        if group and record.at == group[-1].at:
            continue  # the same run twice is one
        # a run is its own period, even two in one second (the label shows the second, the key is the ms)
        period: object = record.at if per == "run" else iso(record.at)[:10]
        if key is not None and period != key:
            rows.append(_row(label, group))
            group = []
        key, label = period, iso(record.at) if per == "run" else iso(record.at)[:10]
        group.append(record)
    if group and key is not None:
        rows.append(_row(label, group))
    return rows


def _row(period: str, group: list[RunRecord]) -> TrendRow:
    last = group[-1]
    opened = {sev: n for sev in SEVERITIES if (n := last.open_by_severity.get(sev, 0))}
    opened |= {sev: n for sev, n in last.open_by_severity.items() if sev not in opened and n}
    return TrendRow(
        period=period,
        at=last.at,
        runs=len(group),
        complete_runs=sum(1 for r in group if r.complete),
        status=last.status,
        open_by_severity=opened,
        open=sum(opened.values()),
        new=sum(r.new for r in group),
        resolved=sum(r.resolved for r in group),
        overdue=last.overdue,
        exempted=last.exempted,
        fixed=_fixed_totals(group),
    )


class Change(Struct, frozen=True):
    """What changed since a moment (the last summary): open by severity then and now, and what the
    runs after it found, resolved and fixed."""

    before: dict[str, int] | None  # open by severity at the last run at or before the moment
    after: dict[str, int] | None  # open by severity at the latest run
    delta: dict[str, int]  # after - before, per severity (every severity either names)
    runs: int  # runs after the moment
    new: int
    resolved: int
    fixed: dict[str, list[int]]
    last: RunRecord | None  # the latest run


def since(records: Iterable[RunRecord], at: int | None) -> Change:
    """The change since ``at`` (ms; None: since the beginning of the records given), from records
    ascending by ``at``."""
    before: RunRecord | None = None
    last: RunRecord | None = None
    after_runs: list[RunRecord] = []
    for record in records:
        if last is not None and record.at == last.at:
            continue
        if at is not None and record.at <= at:
            before = record
        else:
            after_runs.append(record)
        last = record
    then = None if before is None else dict(before.open_by_severity)
    now = None if last is None else dict(last.open_by_severity)
    names = [s for s in SEVERITIES if s in (then or {}) or s in (now or {})]
    names += sorted(set(then or {}) | set(now or {}) - set(names))
    return Change(
        before=then,
        after=now,
        delta={s: (now or {}).get(s, 0) - (then or {}).get(s, 0) for s in names},
        runs=len(after_runs),
        new=sum(r.new for r in after_runs),
        resolved=sum(r.resolved for r in after_runs),
        fixed=_fixed_totals(after_runs),
        last=last,
    )


def run_record(
    summary: dict[str, Any], *, at: int, open_by_severity: dict[str, int], fixed: dict[str, list[int]]
) -> RunRecord:
    """This run's record from its summary (``overdue``/``exempted_open`` when the SLA facts are
    there, else 0); ``complete`` is every listing complete and at least one read."""
    queries = summary.get("queries") or []
    overdue = summary.get("overdue")
    return RunRecord(
        at=at,
        target=str(summary.get("target", "")),
        status=str(summary.get("status", "")),
        records=int(summary.get("records_read") or 0),
        images=int(summary.get("images") or 0),
        open_by_severity={sev: n for sev, n in open_by_severity.items() if n},
        new=int(summary.get("new") or 0),
        resolved=int(summary.get("resolved") or 0),
        overdue=int(overdue.get("total", 0)) if isinstance(overdue, dict) else 0,
        exempted=int(summary.get("exempted_open") or 0),
        duration_ms=int(summary.get("duration_ms") or 0),
        complete=bool(queries) and all(q.get("complete") for q in queries),
        fixed=fixed,
    )
