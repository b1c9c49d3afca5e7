"""The alert ledger's decisions, as pure functions: what is new, still open, resolved, and due.

An entry per violation fingerprint (policy id + image identity, see ``imagewatch.violation``) remembers
when it was seen and, per channel, what that channel has been told. The rules:

* a violation not in the ledger (or back after it was resolved) is **new**;
* an open entry whose policy was judged on a complete read this run and that was not found is
  **resolved**; an incomplete read, or a policy that was skipped, resolves nothing;
* a channel hears only about what its routing wants (minimum severity, policy id globs, label globs);
* a channel is due an alert when it has not confirmed ``new`` yet (so failed sends are retried next
  run), a ``reminder`` when ``repeat_interval`` has passed since it was last told, and ``resolved``
  once when it had been told the violation and wants resolved notices;
* a violation back after it was resolved starts a new entry, but a channel that was told about it and
  never told it resolved (it was down meanwhile) keeps that fact: it hears ``new`` again, and
  ``resolved`` when this episode ends — even if it ends before the channel confirmed the ``new``;
* an entry still firing is rewritten only when what it says changed or once a day (``HEARTBEAT_MS``),
  so a large, steady fleet does not cost a write per violation per run;
* an entry is finished — and may be forgotten — once it is resolved and no channel is owed anything;
* every entry has an SLA clock (``imagewatch.sla``): ``due_at`` is set when it is created and moved
  when its severity or SLA changes; an open entry whose subject an exemption now covers is
  **exempted** — its clock stops, it is owed no alert, and its exemption never resolves it; found again
  (the exemption lapsed) it is open again and its due date moves by the time it was paused;
* a channel that was told an entry hears ``overdue`` once when the entry passes its due date; an
  escalation channel (``overdue_only``/``overdue_by_ms``) hears an entry only while it is overdue
  (by at least that much): first as ``overdue`` (its "new"), then reminders, then resolved;
* a channel that keeps a copy of each finding (``send_updates``: AWS Security Hub) hears ``update``
  when what it last confirmed (``Delivery.told``, a short hash of ``said``) differs from the entry:
  its severity, label, message, due date or status changed (an exempted entry is an update too, so
  the copy can be archived). Chat channels never set it and never hear ``update``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from fnmatch import fnmatchcase
from typing import Literal

from msgspec import Struct, field, structs

from imagewatch.sla import Sla, overdue_ms
from imagewatch.violation import SEVERITY_ORDER, Violation

EventKind = Literal["new", "reminder", "overdue", "update", "resolved"]
Status = Literal["open", "resolved", "exempted"]
DEFAULT_SLA = Sla()
DEFAULT_REPEAT_INTERVAL_MS = 24 * 3_600_000
HEARTBEAT_MS = 24 * 3_600_000
Labels = Mapping[str, Mapping[str, str]]  # policy id -> that policy's routing labels


class Delivery(Struct):
    """What one channel has confirmed for one entry (ms timestamps; None = not yet).

    ``attempted_at`` is written just before a send and cleared by the platform's answer: if it is
    still set at the next run, the process died mid-send and the channel *may* have been told — so it
    is owed the resolved notice (a resolved it cannot place beats a violation it never hears end).
    """

    new_at: int | None = None
    last_sent_at: int | None = None
    resolved_at: int | None = None
    attempted_at: int | None = None
    overdue_at: int | None = None  # when this channel was told the entry became overdue
    told: str | None = None  # ``said(entry)`` when this channel last confirmed it (send_updates channels)

    @property
    def may_have_been_told(self) -> bool:
        return self.new_at is not None or self.last_sent_at is not None or self.attempted_at is not None

    @property
    def owes_resolved(self) -> bool:
        """The channel was (or may have been) told the violation — this episode, or an earlier one it
        never heard end — and has not been told it resolved."""
        return self.may_have_been_told and self.resolved_at is None


class LedgerEntry(Struct):
    fingerprint: str
    policy_id: str
    subject: str
    severity: str
    label: str
    message: str
    status: Status
    first_seen: int
    last_seen: int
    resolved_at: int | None = None
    deliveries: dict[str, Delivery] = field(default_factory=dict)
    due_at: int | None = None  # first_seen + time to fix + paused_ms; None: no clock
    paused_ms: int = 0  # time spent exempted so far (closed pauses)
    paused_since: int | None = None  # exempted since (status "exempted")

    @classmethod
    def from_violation(cls, violation: Violation, now: int, sla: Sla = DEFAULT_SLA) -> LedgerEntry:
        ttf = sla.time_to_fix(violation.severity, violation.policy_id)
        return cls(
            fingerprint=violation.fingerprint,
            policy_id=violation.policy_id,
            subject=violation.subject,
            severity=violation.severity,
            label=violation.label,
            message=violation.message,
            status="open",
            first_seen=now,
            last_seen=now,
            due_at=None if ttf is None else now + ttf,
        )


class ChannelRule(Struct, frozen=True):
    """The ledger's view of a channel: who it is, and what it wants to hear about."""

    name: str
    send_resolved: bool = True
    repeat_interval_ms: int | None = DEFAULT_REPEAT_INTERVAL_MS  # None: no reminders
    min_severity: str = "info"  # the least severe violation this channel hears about
    policies: tuple[str, ...] = ()  # policy id globs; empty: every policy
    labels: tuple[tuple[str, str], ...] = ()  # (label, glob) pairs that must all match
    overdue_only: bool = False  # escalation: only entries past their due date
    overdue_by_ms: int | None = None  # escalation: only entries overdue by at least this long
    send_updates: bool = False  # keeps a copy of each finding: hears ``update`` when the entry changes

    @property
    def escalation(self) -> bool:
        return self.overdue_only or self.overdue_by_ms is not None

    def qualifies(self, entry: LedgerEntry, now: int) -> bool:
        """Escalation: ``entry`` is overdue (by at least ``overdue_by_ms``); always for other channels."""
        if not self.escalation:
            return True
        late = overdue_ms(entry, now)
        return late > 0 and late >= (self.overdue_by_ms or 0)

    def wants(self, entry: LedgerEntry, labels: Labels | None = None) -> bool:
        """Routing: severity floor, policy globs, label globs (``policy``, ``severity`` and the
        policy's own labels)."""
        if SEVERITY_ORDER.get(entry.severity, 0) > SEVERITY_ORDER[self.min_severity]:
            return False
        if self.policies and not any(fnmatchcase(entry.policy_id, glob) for glob in self.policies):
            return False
        if self.labels:
            known = {
                "policy": entry.policy_id,
                "severity": entry.severity,
                **(labels or {}).get(entry.policy_id, {}),
            }
            for name, glob in self.labels:
                value = known.get(name)
                if value is None or not fnmatchcase(value, glob):
                    return False
        return True


class Alert(Struct, frozen=True):
    """One thing one channel should be told."""

    kind: EventKind
    entry: LedgerEntry
    violation: Violation | None = None  # the current finding, for new and reminder alerts


class Reconciliation(Struct):
    entries: dict[str, LedgerEntry]
    new: list[LedgerEntry]
    still_open: list[LedgerEntry]
    resolved: list[LedgerEntry]
    changed: set[str]


class Settled(Struct, frozen=True):
    """One fingerprint after this run: its entry (None: nothing to keep), what happened to it, and
    whether the entry must be written."""

    entry: LedgerEntry | None
    event: Literal["new", "still", "paused", "resolved", "idle"]
    changed: bool


def settle(
    entry: LedgerEntry | None,
    violation: Violation | None,
    judged_policies: set[str],
    now: int,
    sla: Sla = DEFAULT_SLA,
    exempted: bool = False,
) -> Settled:
    """What this run's finding (or its absence) makes of one ledger entry — the rule for every
    fingerprint, whether the ledger is merged as a stream (``run``) or as a mapping (``reconcile``).
    ``exempted``: an exemption let this entry's subject pass this run (it still breaks the rule).
    ``entry`` is not changed; a changed entry is a new object."""
    if violation is not None:
        if entry is None or entry.status == "resolved":
            carried = _still_told(entry)
            fresh = LedgerEntry.from_violation(violation, now, sla)
            fresh.deliveries.update(carried)
            return Settled(fresh, "new", True)
        said = (violation.severity, violation.label, violation.message)
        resumed = entry.status == "exempted"
        due = sla.due(_resumed(entry, now) if resumed else entry, violation.severity, violation.policy_id)
        stale = now - entry.last_seen >= HEARTBEAT_MS
        if resumed or said != (entry.severity, entry.label, entry.message) or due != entry.due_at or stale:
            updated = _resumed(entry, now) if resumed else _copy(entry)
            updated.last_seen = now
            updated.severity, updated.label, updated.message = said
            updated.due_at = due
            return Settled(updated, "still", True)
        return Settled(entry, "still", False)
    if entry is None:
        return Settled(None, "idle", False)
    if exempted:
        if entry.status == "open":
            paused = _copy(entry)
            paused.status, paused.paused_since = "exempted", now
            return Settled(paused, "paused", True)
        return Settled(entry, "idle", False)  # exempted still (its clock stays stopped), or resolved
    if entry.status != "resolved" and entry.policy_id in judged_policies:
        closed = _resumed(entry, now) if entry.status == "exempted" else _copy(entry)
        closed.status = "resolved"
        closed.resolved_at = now
        return Settled(closed, "resolved", True)
    return Settled(entry, "idle", False)


def _resumed(entry: LedgerEntry, now: int) -> LedgerEntry:
    """An exempted entry open again (or resolving): the pause counted, the due date moved by it."""
    resumed = _copy(entry)
    pause = max(0, now - (entry.paused_since if entry.paused_since is not None else now))
    resumed.status, resumed.paused_since = "open", None
    resumed.paused_ms += pause
    if resumed.due_at is not None:
        resumed.due_at += pause
    return resumed


def reconcile(
    previous: Mapping[str, LedgerEntry],
    found: Iterable[Violation],
    judged_policies: set[str],
    now: int,
    sla: Sla = DEFAULT_SLA,
    exempted: Iterable[str] = (),
) -> Reconciliation:
    """Merge this run's findings into the ledger (returns new objects; ``previous`` is not changed).

    ``judged_policies``: policy ids evaluated this run over a complete read — only their open entries
    can resolve. ``exempted``: fingerprints an exemption let pass this run (their clocks stop). The
    same rule as the run's streaming merge (``settle``), over a mapping.
    """
    covered = set(exempted)
    entries = {fp: _copy(entry) for fp, entry in previous.items()}
    current: dict[str, Violation] = {}
    for violation in found:
        current.setdefault(violation.fingerprint, violation)
    new: list[LedgerEntry] = []
    still: list[LedgerEntry] = []
    resolved: list[LedgerEntry] = []
    changed: set[str] = set()
    for fp in sorted(set(entries) | set(current)):
        settled = settle(entries.get(fp), current.get(fp), judged_policies, now, sla, fp in covered)
        if settled.entry is None:
            continue
        entries[fp] = settled.entry
        if settled.changed:
            changed.add(fp)
        if settled.event == "new":
            new.append(settled.entry)
        elif settled.event == "still":
            still.append(settled.entry)
        elif settled.event == "resolved":
            resolved.append(settled.entry)
    return Reconciliation(entries, new, still, resolved, changed)


def said(entry: LedgerEntry) -> str:
    """A short hash of what an entry says — status, severity, label, message, due date — so a channel
    that keeps a copy of each finding knows when its copy is stale (``Delivery.told``)."""
    text = "\x1f".join((entry.status, entry.severity, entry.label, entry.message, str(entry.due_at)))
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=6).hexdigest()


def due_alert(
    entry: LedgerEntry,
    channel: ChannelRule,
    now: int,
    violation: Violation | None = None,
    labels: Labels | None = None,
) -> Alert | None:
    """What ``channel`` should be told about ``entry`` now, from the ledger alone (so failed sends
    come back), or None. An exempted entry is owed nothing, but a ``send_updates`` channel that was
    (or may have been) told it hears the change (its copy is archived while the exemption lasts)."""
    if not channel.wants(entry, labels):
        return None
    delivery = entry.deliveries.get(channel.name)
    if entry.status == "open":
        if not channel.qualifies(entry, now):
            return None
        if delivery is None or delivery.new_at is None:
            return Alert("overdue" if channel.escalation else "new", entry, violation)
        if delivery.overdue_at is None and overdue_ms(entry, now) > 0:
            return Alert("overdue", entry, violation)
        if channel.send_updates and delivery.told != said(entry):
            return Alert("update", entry, violation)
        if (
            channel.repeat_interval_ms is not None
            and delivery.last_sent_at is not None
            and now - delivery.last_sent_at >= channel.repeat_interval_ms
        ):
            return Alert("reminder", entry, violation)
    elif (
        entry.status == "resolved"
        and channel.send_resolved
        and delivery is not None
        and delivery.owes_resolved
    ):
        return Alert("resolved", entry)
    elif (
        entry.status == "exempted"
        and channel.send_updates
        and delivery is not None
        and delivery.may_have_been_told  # its copy exists, or may (an import that got no answer)
        and delivery.told != said(entry)
    ):
        return Alert("update", entry)
    return None


def due_alerts(
    entries: Iterable[LedgerEntry],
    channel: ChannelRule,
    now: int,
    violations: Mapping[str, Violation] | None = None,
    labels: Labels | None = None,
) -> list[Alert]:
    """What ``channel`` should be told now about each of ``entries``."""
    current = violations or {}
    alerts = [due_alert(entry, channel, now, current.get(entry.fingerprint), labels) for entry in entries]
    return [alert for alert in alerts if alert is not None]


def resend_alert(
    entry: LedgerEntry,
    channel: ChannelRule,
    violation: Violation | None = None,
    labels: Labels | None = None,
    now: int | None = None,
) -> Alert | None:
    """For the "resend" event: every open entry ``channel`` wants, whatever it was told before (an
    escalation channel: those overdue enough at ``now``)."""
    if entry.status != "open" or not channel.wants(entry, labels):
        return None
    if now is not None and not channel.qualifies(entry, now):
        return None
    delivery = entry.deliveries.get(channel.name)
    kind: EventKind = "reminder" if delivery is not None and delivery.new_at is not None else "new"
    return Alert(kind, entry, violation)


def mark_attempted(alerts: Iterable[Alert], channel: str, now: int) -> dict[str, int | None]:
    """Before a send: ``channel`` may be hearing about ``alerts`` from now on. Returns each entry's
    previous mark, for ``unmark_attempted`` when the platform refuses."""
    previous: dict[str, int | None] = {}
    for alert in alerts:
        delivery = alert.entry.deliveries.setdefault(channel, Delivery())
        previous[alert.entry.fingerprint] = delivery.attempted_at
        delivery.attempted_at = now
    return previous


def unmark_attempted(alerts: Iterable[Alert], channel: str, previous: Mapping[str, int | None]) -> set[str]:
    """After a refused send: back to what was known before it (an earlier interrupted send still
    counts). Returns the changed fingerprints."""
    changed: set[str] = set()
    for alert in alerts:
        delivery = alert.entry.deliveries.setdefault(channel, Delivery())
        delivery.attempted_at = previous.get(alert.entry.fingerprint)
        changed.add(alert.entry.fingerprint)
    return changed


def mark_delivered(alerts: Iterable[Alert], channel: str, now: int, *, told: bool = False) -> set[str]:
    """Record a channel's confirmation of ``alerts`` on their entries; returns the changed fingerprints.
    ``told``: the channel keeps a copy of each finding (``send_updates``): remember what it now holds."""
    changed: set[str] = set()
    for alert in alerts:
        delivery = alert.entry.deliveries.setdefault(channel, Delivery())
        if alert.kind == "new":
            delivery.new_at = now
        if alert.kind == "overdue":
            delivery.overdue_at = now
            if delivery.new_at is None:  # an escalation channel's first word on it
                delivery.new_at = now
        if alert.kind == "resolved":
            delivery.resolved_at = now
        if told and alert.kind != "resolved":
            delivery.told = said(alert.entry)
        delivery.last_sent_at = now
        delivery.attempted_at = None
        changed.add(alert.entry.fingerprint)
    return changed


def is_finished(entry: LedgerEntry, channels: Iterable[ChannelRule], labels: Labels | None = None) -> bool:
    """Resolved, and no channel is still owed its resolved notice."""
    if entry.status != "resolved":
        return False
    for channel in channels:
        delivery = entry.deliveries.get(channel.name)
        owed = (
            channel.send_resolved
            and channel.wants(entry, labels)
            and delivery is not None
            and delivery.owes_resolved
        )
        if owed:
            return False
    return True


def _still_told(previous: LedgerEntry | None) -> dict[str, Delivery]:
    """For a violation back after it was resolved: the channels still owed that resolved notice. Each
    keeps only *when it was last told* (so it hears ``new`` for the new episode, and ``resolved`` when
    the new episode ends, whether or not it confirmed the ``new`` in between)."""
    if previous is None:
        return {}
    return {
        name: Delivery(last_sent_at=delivery.last_sent_at or delivery.new_at or delivery.attempted_at)
        for name, delivery in previous.deliveries.items()
        if delivery.owes_resolved
    }


def _copy(entry: LedgerEntry) -> LedgerEntry:
    return structs.replace(
        entry, deliveries={name: structs.replace(d) for name, d in entry.deliveries.items()}
    )
