"""The periodic summary: what a security lead reads once a week, and proof the checker is alive.

Pure. ``SummaryTally`` takes the ledger as it streams by (``add(entry)``) and keeps only counters, the
worst images and the oldest overdue entry; ``build_summary`` adds the run history (``history.py``:
MTTR, SLA compliance, the last complete read, the change since the previous summary) and makes a
``Digest`` every platform already renders within its limits: the severity line, a handful of notes
with the figures, the worst images (kind ``open``) and the oldest overdue item (kind ``overdue``).
A summary is sent even when nothing changed: its silence would be the news.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from imagewatch.alerts.digest import Digest, DigestItem
from imagewatch.alerts.ledger import LedgerEntry
from imagewatch.history import since
from imagewatch.violation import SEVERITIES, SEVERITY_ORDER

WORST_IMAGES = 5
MAX_TRACKED_IMAGES = 25_000  # images ranked at most (~16 MiB with realistic labels, measured)
STATS_WINDOW_MS = 30 * 86_400_000  # MTTR and SLA compliance look back 30 days
DAY_MS = 86_400_000


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def span(ms: float) -> str:
    """``3.5 d``, ``7 h``, ``12 min``: a duration a person reads at a glance."""
    if ms >= DAY_MS:
        return f"{ms / DAY_MS:.1f} d".replace(".0 d", " d")
    if ms >= 3_600_000:
        return f"{ms / 3_600_000:.1f} h".replace(".0 h", " h")
    return f"{max(0, round(ms / 60_000))} min"


class _Image:
    """One image's open violations: how many of each severity, and the few fields of its worst entry
    that its digest item shows (not the entry: 100,000 entries with their deliveries would be ~170 MB)."""

    __slots__ = ("counts", "fingerprint", "message", "policy_id", "severity")

    def __init__(self, entry: LedgerEntry) -> None:
        self.counts = [0] * (len(SEVERITIES) + 1)  # by rank; the last for a severity no policy has
        self._take(entry)

    def _take(self, entry: LedgerEntry) -> None:
        self.severity, self.policy_id = entry.severity, entry.policy_id
        self.message, self.fingerprint = entry.message, entry.fingerprint

    def add(self, entry: LedgerEntry) -> None:
        self.counts[_rank(entry.severity)] += 1
        if _rank(entry.severity) < _rank(self.severity):
            self._take(entry)

    @property
    def by_severity(self) -> dict[str, int]:
        return {sev: n for sev, n in zip(SEVERITIES, self.counts, strict=False) if n}

    def key(self) -> tuple[int, int, int]:
        """Worst severity first, then most open violations of that severity, then most in all."""
        rank = _rank(self.severity)
        return (rank, -self.counts[rank], -sum(self.counts))


def _rank(severity: str) -> int:
    return SEVERITY_ORDER.get(severity, len(SEVERITIES))


class SummaryTally:
    """The ledger's part of the summary, streamed: ``add`` every entry, in any order.

    ``overdue_ms(entry, now)`` is ``sla.overdue_ms`` (injected, so this module needs no SLA policy to
    count). Holds counters, per-image counters (at most ``MAX_TRACKED_IMAGES``; ``untracked`` counts
    the open violations of images beyond them) and the most overdue entry — never the ledger.
    """

    def __init__(self, now_ms: int, since_ms: int | None, overdue_ms: Any = None) -> None:
        self.now_ms = now_ms
        self.since_ms = since_ms
        self._overdue_ms = overdue_ms
        self.open_by_severity: Counter[str] = Counter()
        self.exempted = 0
        self.overdue = 0
        self.overdue_by_severity: Counter[str] = Counter()
        self.new_in_period = 0
        self.resolved_in_period = 0
        self.untracked = 0
        self.oldest_overdue: tuple[int, LedgerEntry] | None = None
        self._images: dict[str, _Image] = {}

    def add(self, entry: LedgerEntry) -> None:
        status = entry.status
        since = self.since_ms
        if since is not None and entry.first_seen >= since:
            self.new_in_period += 1
        if status == "resolved":
            if since is not None and entry.resolved_at is not None and entry.resolved_at >= since:
                self.resolved_in_period += 1
            return
        if status == "exempted":
            self.exempted += 1
            return
        self.open_by_severity[entry.severity] += 1
        image = self._images.get(entry.label)
        if image is None:
            if len(self._images) >= MAX_TRACKED_IMAGES:
                self.untracked += 1
            else:
                image = self._images[entry.label] = _Image(entry)
        if image is not None:
            image.add(entry)
        late = self._overdue_ms(entry, self.now_ms) if self._overdue_ms else 0
        if late > 0:
            self.overdue += 1
            self.overdue_by_severity[entry.severity] += 1
            if self.oldest_overdue is None or late > self.oldest_overdue[0]:
                self.oldest_overdue = (late, entry)

    def extend(self, entries: Iterable[LedgerEntry]) -> SummaryTally:
        for entry in entries:
            self.add(entry)
        return self

    def worst_images(self, count: int = WORST_IMAGES) -> list[tuple[str, _Image]]:
        return sorted(self._images.items(), key=lambda pair: (*pair[1].key(), pair[0]))[:count]


def change_line(
    now_open: Mapping[str, int], before: Mapping[str, int] | None, previous_ms: int | None
) -> str:
    """``since the last summary (2026-…): critical +1 · high −2`` (unchanged severities left out)."""
    if previous_ms is None:
        return "first summary for this target: no change to compare with"
    if before is None:
        return f"since the last summary ({iso(previous_ms)}): no run recorded before it to compare with"
    deltas = []
    for severity in SEVERITIES:
        delta = now_open.get(severity, 0) - before.get(severity, 0)
        if delta:
            deltas.append(f"{severity} {'+' if delta > 0 else '−'}{abs(delta)}")
    return f"since the last summary ({iso(previous_ms)}): " + (" · ".join(deltas) or "no change in open")


def per_severity(figures: Mapping[str, float | None], show: Any) -> str:
    shown = [f"{sev} {show(figures[sev])}" for sev in SEVERITIES if figures.get(sev) is not None]
    return " · ".join(shown) or "nothing resolved"


def build_summary(
    tally: SummaryTally,
    records: Sequence[Any],
    *,
    target: str,
    run_id: str,
    previous_ms: int | None,
    stats: Mapping[str, Mapping[str, float | None]],
    last_complete_at: int | None,
    report_url: str | None = None,
    mentions: Sequence[str] = (),
    dry_run: bool = False,
    problems: Sequence[str] = (),
    history_read: bool = True,
) -> Digest:
    """The summary digest. ``records``: the run history (``RunRecord``s ascending by ``at``) from
    before ``previous_ms`` on;
    ``stats``: ``{"mttr": history.mttr(…), "sla": history.sla_compliance(…)}`` over 30 days;
    ``last_complete_at``: ``history.last_complete(records).at`` or None (said loudly, as a problem);
    ``history_read``: False when the history could not be read, so nothing is claimed from it."""
    now = tally.now_ms
    change = since(records, previous_ms)
    # the runs' own counts when any ran in the period; else what the ledger still holds
    new = change.new if change.runs else tally.new_in_period
    resolved = change.resolved if change.runs else tally.resolved_in_period
    period = f"since {iso(previous_ms)}" if previous_ms is not None else "so far"
    open_now = {sev: n for sev in SEVERITIES if (n := tally.open_by_severity.get(sev, 0))}
    problems = list(problems)
    notes: list[str] = []
    if not history_read:
        notes.append("last complete read: unknown (the run history could not be read)")
    elif last_complete_at is None:
        problems.append(
            "LAST COMPLETE READ: NEVER — no run of this target has read HSS completely "
            "(is the schedule running? see the dead man's switch alarm and the function's log)"
        )
    else:
        notes.append(f"last complete read: {iso(last_complete_at)} ({span(now - last_complete_at)} ago)")
    notes.append(change_line(open_now, change.before, previous_ms))
    exempted = f" · {tally.exempted} exempted" if tally.exempted else ""
    notes.append(f"{period}: {new} new · {resolved} resolved · {tally.overdue} overdue now{exempted}")
    notes.append("MTTR (30 d): " + per_severity(stats.get("mttr", {}), span))
    notes.append("SLA compliance (30 d): " + per_severity(stats.get("sla", {}), lambda share: f"{share:.0%}"))
    items = [_image_item(label, image) for label, image in tally.worst_images()]
    if tally.oldest_overdue is not None:
        items.append(_overdue_item(*tally.oldest_overdue))
    counts = Counter(item.kind for item in items)
    return Digest(
        target=target,
        run_id=run_id,
        generated_at=iso(now),
        items=tuple(items),
        open_by_severity=open_now,
        problems=tuple(problems),
        notes=tuple(notes),
        mentions=tuple(mentions),
        report_url=report_url,
        dry_run=dry_run,
        counts=dict(counts),
        summary=True,
    )


def _image_item(label: str, image: _Image) -> DigestItem:
    by_severity = image.by_severity
    counts = " · ".join(f"{sev} {n}" for sev, n in by_severity.items())
    total = sum(image.counts)
    return DigestItem(
        kind="open",
        severity=image.severity,
        policy_id=image.policy_id,
        policy_title=f"{total} open violation{'s' if total != 1 else ''} ({counts})",
        label=label,
        message=image.message,
        fingerprint=image.fingerprint,
    )


def _overdue_item(late_ms: int, entry: LedgerEntry) -> DigestItem:
    return DigestItem(
        kind="overdue",
        severity=entry.severity,
        policy_id=entry.policy_id,
        policy_title=f"oldest overdue: {span(late_ms)} past due (first seen {iso(entry.first_seen)})",
        label=entry.label,
        message=entry.message,
        fingerprint=entry.fingerprint,
    )
