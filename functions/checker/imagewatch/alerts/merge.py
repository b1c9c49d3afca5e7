"""Stage 5 as a stream: the ledger and this run's findings, both in fingerprint order, merged.

Each fingerprint meets ``ledger.settle`` once; what changed is written in batches, what is finished is
forgotten, and each channel's due alerts go to its bounded ``DigestCollector`` (and to the
workspace, which the notify stage reads back to mark them). Nothing here holds the ledger or the
findings: memory is the batches and the collectors, whatever the number of violations.

The subjects an exemption let pass come from the workspace in the same order, so an open entry they
cover pauses its SLA clock (status ``exempted``) instead of resolving. Each entry that resolves is
added to the run's ``ResolutionTally`` (time to fix, within SLA) for the run history.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Protocol

from msgspec import Struct, field

from imagewatch.alerts.digest import DigestCollector
from imagewatch.alerts.ledger import (
    DEFAULT_SLA,
    Alert,
    ChannelRule,
    Labels,
    LedgerEntry,
    due_alert,
    is_finished,
    resend_alert,
    settle,
)
from imagewatch.history import ResolutionTally
from imagewatch.sla import Sla, overdue_ms
from imagewatch.violation import Violation
from imagewatch.workspace import Workspace

WRITE_BATCH = 200  # entries per store write (DynamoDB: 8 BatchWriteItem calls)


class FoundSource(Protocol):
    """Findings in fingerprint order (a ``Workspace``: every group; a ``FoundSet``: one)."""

    def found_keyed(self) -> Iterator[tuple[str, Violation]]: ...

    def exempted(self) -> Iterator[str]: ...


class Pair(Struct, frozen=True):
    fingerprint: str
    entry: LedgerEntry | None
    violation: Violation | None


def merge_by_fingerprint(
    entries: Iterable[LedgerEntry], found: Iterable[tuple[str, Violation]]
) -> Iterator[Pair]:
    """Both streams ascending by fingerprint (``found`` as (fingerprint, violation) pairs), paired: a
    fingerprint in one stream only gets None on the other side. Out-of-order input is a bug upstream
    and raises."""
    entry_iter, found_iter = iter(entries), iter(found)
    entry = next(entry_iter, None)
    fp, violation = next(found_iter, (None, None))
    last = ""
    while entry is not None or fp is not None:
        if fp is None or (entry is not None and entry.fingerprint < fp):
            pair = Pair(entry.fingerprint, entry, None)  # type: ignore[union-attr]
            entry = next(entry_iter, None)
        elif entry is None or fp < entry.fingerprint:
            pair = Pair(fp, None, violation)
            fp, violation = next(found_iter, (None, None))
        else:
            pair = Pair(fp, entry, violation)
            entry = next(entry_iter, None)
            fp, violation = next(found_iter, (None, None))
        if pair.fingerprint <= last:
            raise ValueError(f"merge: fingerprint {pair.fingerprint} out of order (after {last})")
        last = pair.fingerprint
        yield pair


class SortedMembers:
    """Membership in an ascending stream, asked in ascending order: one pass, nothing held."""

    def __init__(self, members: Iterable[str]) -> None:
        self._members = iter(members)
        self._current = next(self._members, None)

    def __contains__(self, key: str) -> bool:
        while self._current is not None and self._current < key:
            self._current = next(self._members, None)
        return self._current == key


class Batch:
    """Items handed to ``write`` ``size`` at a time (and the rest on ``flush``)."""

    def __init__(self, write: Callable[[list], None], size: int = WRITE_BATCH) -> None:
        self._write, self._size, self._items = write, size, []
        self.written = 0

    def add(self, item: object) -> None:
        self._items.append(item)
        if len(self._items) >= self._size:
            self.flush()

    def extend(self, items: Iterable[object]) -> None:
        """Every item, then the rest flushed."""
        for item in items:
            self.add(item)
        self.flush()

    def flush(self) -> None:
        if self._items:
            self._write(self._items)
            self.written += len(self._items)
            self._items = []


class Merged(Struct):
    """What the merge found: counts, each channel's collected digest, and the open ledger by severity."""

    found_by_severity: Counter[str] = field(default_factory=Counter)  # the subjects this run found
    new: int = 0
    resolved: int = 0
    still_open: int = 0
    open_by_severity: Counter[str] = field(default_factory=Counter)
    overdue_by_severity: Counter[str] = field(default_factory=Counter)  # open entries past due
    exempted_open: int = 0  # entries whose clock an exemption stopped (not counted as open)
    tally: ResolutionTally = field(default_factory=ResolutionTally)  # what resolved: time to fix, SLA
    collectors: dict[str, DigestCollector] = field(default_factory=dict)
    written: int = 0
    forgotten: int = 0

    def absorb(self, other: Merged) -> None:
        """Add ``other``'s figures to these (a run merged group by group); the collectors and the tally
        are shared by every group's merge, so they are taken as they are."""
        for name in ("found_by_severity", "open_by_severity", "overdue_by_severity"):
            getattr(self, name).update(getattr(other, name))
        self.new += other.new
        self.resolved += other.resolved
        self.still_open += other.still_open
        self.exempted_open += other.exempted_open
        self.written += other.written
        self.forgotten += other.forgotten
        self.collectors = other.collectors
        self.tally = other.tally


def new_collectors(
    rules: Sequence[ChannelRule], titles: Mapping[str, str], now_ms: int
) -> dict[str, DigestCollector]:
    """An empty ``DigestCollector`` per channel rule."""
    return {rule.name: DigestCollector(titles, now_ms=now_ms) for rule in rules}


def merge_ledger(
    entries: Iterable[LedgerEntry],
    work: Workspace,
    *,
    judged: set[str],
    now_ms: int,
    rules: Sequence[ChannelRule],
    labels: Labels,
    titles: Mapping[str, str],
    save: Callable[[list[LedgerEntry]], None] | None,
    forget: Callable[[list[str]], None] | None,
    resend_to: str | None = None,
    on_current: Callable[[Violation, str, LedgerEntry, int], None] | None = None,
    on_resolved: Callable[[LedgerEntry], None] | None = None,
    sla: Sla = DEFAULT_SLA,
    tally: ResolutionTally | None = None,
    found: FoundSource | None = None,
    collectors: dict[str, DigestCollector] | None = None,
) -> Merged:
    """Settle every fingerprint; write (``save``/``forget``, None for a dry run) and collect alerts.

    ``resend_to``: the "resend" action — only that channel, every open entry it wants. ``on_current``
    hears each violation found with its status (``new``/``open``), ``on_resolved`` each entry that
    resolved: the report's rows, in fingerprint order (a run merging group by group: each group's).
    ``sla``: the run's clocks; ``tally`` (else a new one, ``Merged.tally``) is told every entry that
    resolved. ``found``: the findings (else every one in ``work``, which keeps the entries and alerts
    due either way); ``collectors``: each channel's, to add to (one run merging group by group), else
    new ones (``Merged.collectors`` keeps those that got an alert).
    """
    if collectors is None:
        collectors = new_collectors(rules, titles, now_ms)
    merged = Merged(collectors=collectors)
    if tally is not None:
        merged.tally = tally
    source = work if found is None else found
    exempted = SortedMembers(source.exempted())
    saver = Batch(save) if save is not None else None
    forgetter = Batch(forget) if forget is not None else None
    kept = Batch(work.keep_entries)
    due_rows = Batch(work.note_due, 1_000)
    chosen = [rule for rule in rules if resend_to is None or rule.name == resend_to]
    for pair in merge_by_fingerprint(entries, source.found_keyed()):
        if pair.violation is not None:
            merged.found_by_severity[pair.violation.severity] += 1
        settled = settle(pair.entry, pair.violation, judged, now_ms, sla, pair.fingerprint in exempted)
        entry = settled.entry
        if entry is None:
            continue
        if settled.event == "new":
            merged.new += 1
        elif settled.event == "still":
            merged.still_open += 1
        elif settled.event == "resolved":
            merged.resolved += 1
            merged.tally.add(entry)
            if on_resolved is not None:
                on_resolved(entry)
        if pair.violation is not None and on_current is not None:
            on_current(pair.violation, "new" if settled.event == "new" else "open", entry, now_ms)
        if entry.status == "open":
            merged.open_by_severity[entry.severity] += 1
            if overdue_ms(entry, now_ms) > 0:
                merged.overdue_by_severity[entry.severity] += 1
        elif entry.status == "exempted":
            merged.exempted_open += 1
        alerts = [alert for rule in chosen if (alert := _alert(entry, rule, now_ms, pair, labels, resend_to))]
        for alert, rule in alerts:
            merged.collectors[rule.name].add(alert)
            due_rows.add((rule.name, entry.fingerprint, alert.kind))
        if alerts:
            kept.add(entry)
        if not alerts and forgetter is not None and is_finished(entry, rules, labels):
            if pair.entry is not None:
                forgetter.add(entry.fingerprint)
        elif settled.changed and saver is not None:
            saver.add(entry)
    for batch in (saver, forgetter, kept, due_rows):
        if batch is not None:
            batch.flush()
    merged.written = saver.written if saver else 0
    merged.forgotten = forgetter.written if forgetter else 0
    merged.collectors = {name: c for name, c in collectors.items() if len(c)}
    return merged


def _alert(
    entry: LedgerEntry,
    rule: ChannelRule,
    now_ms: int,
    pair: Pair,
    labels: Labels,
    resend_to: str | None,
) -> tuple[Alert, ChannelRule] | None:
    if resend_to is not None:
        alert = resend_alert(entry, rule, pair.violation, labels, now_ms)
    else:
        alert = due_alert(entry, rule, now_ms, pair.violation, labels)
    return (alert, rule) if alert is not None else None
