"""The digest: one message's worth of alerts for one channel, before any platform formats it.

Pure data and pure functions. Every platform renders the same ``Digest``; what differs is markup and
budget, which ``fit`` handles once for all of them: take items worst first while they fit, then say
"…and N more" with the remainder counted by severity.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence

from msgspec import Struct, field

from imagewatch.alerts.ledger import Alert
from imagewatch.sla import DUE_SOON_MS, overdue_ms, say_date, say_duration
from imagewatch.violation import SEVERITIES, SEVERITY_ORDER

HEADER = "imagewatch compliance"  # fixed text in every message, so keyword-filtered bots keep matching
KIND_ORDER = {"new": 0, "overdue": 1, "reminder": 2, "resolved": 3}


class DigestItem(Struct, frozen=True):
    kind: str  # new | overdue | reminder | resolved (summaries: open)
    severity: str
    policy_id: str
    policy_title: str
    label: str
    message: str
    fingerprint: str
    examples: tuple[str, ...] = ()  # fleet rules: a few images that count towards the figure
    due_at: int | None = None  # its SLA due date (ms), when it has a clock
    overdue_ms: int = 0  # how long past due at this run (0: not overdue, or its clock is paused)
    due_in_ms: int | None = None  # time left when it falls due within ``DUE_SOON_MS`` (7 days)

    def text(self) -> str:
        """The message, prefixed with the image label unless the message already names it (fleet
        violations are labelled with their policy's title, which the digest shows anyway), then its
        SLA: ``overdue by 3 d``, ``due in 2 d (2026-12-08)`` or ``due 2026-12-08``."""
        if self.label in self.message or self.label == self.policy_title:
            said = self.message
        else:
            said = f"{self.label}: {self.message}"
        due = self.due_text()
        return f"{said} · {due}" if due else said

    def due_text(self) -> str | None:
        """The SLA part of ``text()``; None for resolved items and items without a clock."""
        if self.kind == "resolved":
            return None
        if self.overdue_ms > 0:
            return f"overdue by {say_duration(self.overdue_ms)}"
        if self.due_at is None:
            return None
        if self.due_in_ms is not None:
            return f"due in {say_duration(self.due_in_ms)} ({say_date(self.due_at)})"
        return f"due {say_date(self.due_at)}"

    def sort_key(self) -> tuple[int, int, int, str, str]:
        """Firing before resolved; overdue first, then what falls due within 7 days, then the rest;
        worst severity first; then stable by policy and image."""
        firing = 0 if self.kind != "resolved" else 1
        urgency = 0 if self.overdue_ms > 0 else 1 if self.due_in_ms is not None else 2
        return (firing, urgency, SEVERITY_ORDER.get(self.severity, 0), self.policy_id, self.label)


class Digest(Struct, frozen=True):
    target: str
    run_id: str
    generated_at: str  # ISO 8601 UTC
    items: tuple[DigestItem, ...]
    open_by_severity: Mapping[str, int]  # every violation open after this run, by severity
    problems: tuple[str, ...] = ()  # incomplete reads: said in every digest
    notes: tuple[str, ...] = ()  # exemptions expired or expiring soon
    mentions: tuple[str, ...] = ()  # who the channel's configuration says to mention (trusted ids)
    test: bool = False  # a test notification: no alerts, just proof the channel works
    report_url: str | None = None
    dry_run: bool = False
    counts: Mapping[str, int] = field(default_factory=dict)  # items by kind
    summary: bool = False  # the periodic summary (imagewatch.summary): figures in notes, worst images

    @property
    def title(self) -> str:
        if self.test:
            return f"{HEADER}: test notification — this channel is set up"
        if self.summary:
            return f"{'[dry run] ' if self.dry_run else ''}{HEADER}: weekly summary"
        parts = [f"{self.counts.get(kind, 0)} {kind}" for kind in ("new", "overdue", "reminder", "resolved")]
        shown = ", ".join(p for p in parts if not p.startswith("0 ")) or "no changes"
        prefix = "[dry run] " if self.dry_run else ""
        return f"{prefix}{HEADER}: {shown}"

    def severity_line(self) -> str:
        """``open: high 3 · medium 1`` (zero counts left out)."""
        shown = [
            f"{sev} {self.open_by_severity[sev]}" for sev in SEVERITIES if self.open_by_severity.get(sev)
        ]
        return "open: " + (" · ".join(shown) if shown else "none")


MAX_DIGEST_ITEMS = 500  # more than any platform shows (the generic webhook: 500); the rest are counted


class DigestItems(tuple[DigestItem, ...]):
    """The items a digest carries, worst first, at most ``MAX_DIGEST_ITEMS``; ``omitted`` counts, by
    severity, the ones beyond them — so a first run with 100,000 new violations holds 500 items, not
    100,000, and still says how many more there are."""

    omitted: dict[str, int]

    def __new__(
        cls, items: Iterable[DigestItem] = (), omitted: Mapping[str, int] | None = None
    ) -> DigestItems:
        made = super().__new__(cls, items)
        made.omitted = dict(omitted or {})
        return made


class DigestCollector:
    """One channel's alerts of this run, as they stream by: every kind counted, the worst items kept."""

    def __init__(
        self, titles: Mapping[str, str], limit: int = MAX_DIGEST_ITEMS, *, now_ms: int | None = None
    ) -> None:
        """``now_ms``: the run's clock, for each item's "overdue by" and "due in" (None: not said)."""
        self.titles = titles
        self.limit = limit
        self.now_ms = now_ms
        self.counts: Counter[str] = Counter()
        self._items: list[DigestItem] = []
        self._omitted: Counter[str] = Counter()

    def __len__(self) -> int:
        return sum(self.counts.values())

    def add(self, alert: Alert) -> None:
        entry = alert.entry
        self.counts[alert.kind] += 1
        now, due = self.now_ms, getattr(entry, "due_at", None)
        late = overdue_ms(entry, now) if now is not None else 0
        soon = due - now if now is not None and due is not None and not late and now <= due else None
        if soon is not None and (soon > DUE_SOON_MS or entry.status != "open"):
            soon = None
        self._items.append(
            DigestItem(
                kind=alert.kind,
                severity=entry.severity,
                policy_id=entry.policy_id,
                policy_title=self.titles.get(entry.policy_id, entry.policy_id),
                label=entry.label,
                message=entry.message,
                fingerprint=entry.fingerprint,
                examples=alert.violation.examples if alert.violation else (),
                due_at=due if entry.status == "open" and now is not None else None,
                overdue_ms=late,
                due_in_ms=soon,
            )
        )
        if len(self._items) >= 2 * self.limit:
            self._trim()

    def _trim(self) -> None:
        self._items.sort(key=DigestItem.sort_key)
        for item in self._items[self.limit :]:
            self._omitted[item.severity] += 1
        del self._items[self.limit :]

    def items(self) -> DigestItems:
        self._trim()
        return DigestItems(self._items, self._omitted)


def build_digest(
    alerts: Iterable[Alert] | DigestCollector,
    *,
    target: str,
    run_id: str,
    generated_at: str,
    titles: Mapping[str, str],
    open_by_severity: Mapping[str, int],
    problems: Sequence[str] = (),
    notes: Sequence[str] = (),
    mentions: Sequence[str] = (),
    report_url: str | None = None,
    dry_run: bool = False,
    test: bool = False,
) -> Digest:
    """One channel's digest, from its alerts or from the collector that gathered them as they came."""
    if isinstance(alerts, DigestCollector):
        collector = alerts
    else:
        collector = DigestCollector(titles)
        for alert in alerts:
            collector.add(alert)
    return Digest(
        target=target,
        run_id=run_id,
        generated_at=generated_at,
        items=collector.items(),
        open_by_severity=dict(open_by_severity),
        problems=tuple(problems),
        notes=tuple(notes),
        mentions=tuple(mentions),
        report_url=report_url,
        dry_run=dry_run,
        counts=dict(collector.counts),
        test=test,
    )


class Fitted(Struct, frozen=True):
    shown: tuple[DigestItem, ...]
    hidden: tuple[DigestItem, ...]
    omitted: Mapping[str, int] = field(default_factory=dict)  # beyond the digest's items, by severity

    @property
    def more(self) -> int:
        """Items not shown: the hidden ones and those the digest only counted."""
        return len(self.hidden) + sum(self.omitted.values())

    def more_line(self) -> str | None:
        """``…and 12 more (high 2, medium 10)``, or None when everything fit."""
        if not self.more:
            return None
        counts = Counter(item.severity for item in self.hidden) + Counter(self.omitted)
        by_severity = ", ".join(f"{sev} {counts[sev]}" for sev in SEVERITIES if counts.get(sev))
        return f"…and {self.more} more ({by_severity})"


def split(items: Sequence[DigestItem], count: int) -> Fitted:
    """The first ``count`` items shown, the rest hidden; what the digest only counted stays counted."""
    return Fitted(tuple(items[:count]), tuple(items[count:]), getattr(items, "omitted", {}))


def fit(
    items: Sequence[DigestItem], cost: Callable[[DigestItem], int], budget: int, max_items: int
) -> Fitted:
    """Take items in order while their summed ``cost`` stays within ``budget`` (and ``max_items``)."""
    used = 0
    taken = 0
    for item in items:
        if taken >= max_items:
            break
        size = cost(item)
        if used + size > budget:
            break
        used += size
        taken += 1
    return split(items, taken)
