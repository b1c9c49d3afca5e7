"""Delivering a findings channel (AWS Security Hub): the alerts it is due, as findings, in batches.

The notify stage's other half: a chat channel gets one digest; a findings channel gets every alert
it is due as a finding of its own, ``securityhub.BATCH`` per call. The walk reads what is due from
the workspace in fingerprint order (and this run's violations beside it, for the hosts), and for
each batch: marks it attempted, imports it, then marks delivered exactly the findings the service
accepted — each batch saved to the store and the workspace before the next, by the notifier's own
``_mark``. What was not imported is due again next run, and nothing else is sent twice:

* refused for certain (``FailedFindings``, a 4xx before processing): its marks are put back, so a
  violation that resolves before the next import is owed no archive of a finding that never was;
* perhaps imported (no answer, a 5xx, an answer that does not add up): its marks stay, so the
  ledger still owes that finding its archive if the violation resolves first (``owes_resolved``);
* a batch refused whole for one bad finding (``InvalidInputException``, botocore's validation) is
  halved until the bad one is alone: it is refused, the rest imported;
* a call that fails for every batch alike (not enabled, access denied, throttled past the
  retries) stops the walk.

Time: imports stop at ``BUDGET_S``, or earlier when the function must keep ``RESERVE_S`` for the
reports (``ends_at``, from Lambda's remaining time); no call starts unless its worst case
(``FindingsPort.call_s``) fits in what is left. Memory: one batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol

from msgspec import Struct, field

from imagewatch.alerts.channels import securityhub
from imagewatch.alerts.delivery import Channel
from imagewatch.alerts.digest import DigestCollector
from imagewatch.alerts.ledger import Alert, mark_attempted, mark_delivered, unmark_attempted
from imagewatch.alerts.text import clean
from imagewatch.violation import Violation
from imagewatch.workspace import Workspace

BUDGET_S = 180.0  # imports per run stop after this long (at the documented 10 calls/s: 180,000 findings)
RESERVE_S = 45.0  # …or this long before the function's time is up: the reports, run record, metrics
DETAIL_CHARS = 300
SAMPLE = 10  # findings a dry run shows

Row = tuple[str, str, int | None]  # (fingerprint, kind, previous attempted_at) as the workspace keeps them
Mark = Callable[[list[Alert], dict[str, int | None]], object]


class Refusal(Struct, frozen=True):
    """One finding the service did not import (``FailedFindings``): its Id, code and message."""

    id: str
    code: str
    message: str


class ImportFailed(Exception):
    """A whole call failed. ``stop``: later batches would fail alike (not enabled, access denied,
    throttled past the retries, unreachable), so the walk ends and they stay due; otherwise only this
    batch is left for the next run. ``unavailable``: the hub itself refused (not enabled, denied):
    said in the run's problems too. ``split``: the batch was refused whole for what a finding holds
    (the walk halves it to find which). ``maybe_imported``: the service may have imported the batch
    (no answer, a 5xx): its marks stay, so an archive is still owed; False only for a certain "no"."""

    def __init__(
        self,
        message: str,
        *,
        stop: bool,
        unavailable: bool = False,
        split: bool = False,
        maybe_imported: bool = True,
        detail: str = "",
    ) -> None:
        super().__init__(message)
        self.stop = stop
        self.unavailable = unavailable
        self.split = split
        self.maybe_imported = maybe_imported
        self.detail = detail  # what the service said (``code: message``), for a finding refused alone


class FindingsPort(Protocol):
    """Where findings go: ``securityhub_client.SecurityHubClient`` in AWS, a stand-in in tests."""

    calls: int  # requests made, retries included
    call_s: float  # the longest one request may take (its timeouts): no call starts unless it fits

    def hub(self) -> securityhub.Hub:
        """The account and region findings are imported into (raises ``ImportFailed``)."""
        ...

    def import_findings(
        self, findings: list[dict[str, Any]], *, within_s: float | None = None
    ) -> list[Refusal]:
        """Import one batch, retries included, in at most ``within_s``; the findings the service
        refused (raises ``ImportFailed``)."""
        ...


class Delivered(Struct):
    """What a findings channel's delivery made of this run: the outcome the summary counts (its
    ``ok`` false when anything is left for the next run), a problem worth the run's ``problems``, or
    a dry run's payload."""

    outcome: dict[str, Any] | None = None
    problem: str | None = None
    digest: dict[str, Any] | None = None


class _Tally(Struct):
    imported: int = 0
    refused: int = 0
    failed_batches: int = 0
    reasons: list[str] = field(default_factory=list)

    def note(self, reason: str) -> None:
        if reason not in self.reasons and len(self.reasons) < 3:
            self.reasons.append(reason)


def deliver_findings(
    channel: Channel,
    collected: DigestCollector,
    work: Workspace | None,
    port: FindingsPort | None,
    *,
    mark: Callable[[list[Row], Mark], None],
    titles: Mapping[str, str],
    target: str,
    now_ms: int,
    dry_run: bool,
    ends_at: float | None = None,
    monotonic: Callable[[], float] | None = None,
    budget_s: float | None = None,
) -> Delivered:
    """Import every finding ``channel`` is due (``collected`` counted them as the ledger merged),
    marking each batch through ``mark(rows, how)``. Imports stop after ``budget_s`` (``BUDGET_S``),
    or ``RESERVE_S`` before ``ends_at`` (``time.monotonic()`` when the function's time is up; None:
    no limit), whichever comes first. ``monotonic``: the clock (``_monotonic``)."""
    counts = dict(collected.counts)
    total = sum(counts.values())
    if dry_run:
        sample = [
            {
                "id": securityhub.finding_id(target, item.fingerprint),
                "kind": item.kind,
                "severity": securityhub.SEVERITY_LABELS.get(item.severity, "INFORMATIONAL"),
                "title": clean(f"{item.policy_title}: {item.label}", 200),
            }
            for item in collected.items()[:SAMPLE]
        ]
        payload = securityhub.dry_run_payload(counts, sample)
        digest = {"channel": channel.name, "platform": channel.platform_name, "payload": payload}
        return Delivered(digest=digest)
    if work is None or port is None:  # a bug in the wiring, said plainly rather than raised mid-notify
        return Delivered(outcome=_outcome(channel, counts, _Tally(), total, 0, "no Security Hub client"))
    clock = monotonic or _monotonic
    started = clock()
    end = started + (BUDGET_S if budget_s is None else budget_s)
    if ends_at is not None:
        end = min(end, ends_at - RESERVE_S)
    tally = _Tally()
    walk = _Walk(channel.name, mark, port, tally, now_ms, clock, end, round(end - started))
    if walk.left() is None:  # not even the account can be asked in time
        walk.out_of_time()
        return Delivered(outcome=_outcome(channel, counts, tally, total, port.calls))
    try:
        hub = port.hub()
    except Exception as exc:  # one channel's failure never stops the run: the others are sent too
        failed = exc if isinstance(exc, ImportFailed) else _unexpected(exc)
        tally.note(str(failed))
        problem = f"AWS Security Hub: {failed}" if failed.unavailable else None
        return Delivered(outcome=_outcome(channel, counts, tally, total, port.calls), problem=problem)
    current = _SortedViolations(work.found_keyed())
    batch: list[tuple[Row, dict[str, Any]]] = []
    stopped: ImportFailed | None = None
    try:
        for row in work.due(channel.name):
            fp, kind = row[0], row[1]
            entry = work.entry(fp)
            title = titles.get(entry.policy_id, entry.policy_id)
            document = securityhub.finding(
                entry, current.get(fp), hub=hub, target=target, title=title, now_ms=now_ms, kind=kind
            )
            batch.append((row, document))
            if len(batch) >= securityhub.BATCH:
                stopped, batch = walk.send(batch), []
                if stopped is not None:
                    break
        if batch and stopped is None:
            stopped = walk.send(batch)
    finally:
        current.close()
    left = total - tally.imported - tally.refused
    problem = f"AWS Security Hub: {stopped}" if stopped is not None and stopped.unavailable else None
    return Delivered(outcome=_outcome(channel, counts, tally, left, port.calls), problem=problem)


def _monotonic() -> float:
    return time.monotonic()


def _unexpected(exc: Exception) -> ImportFailed:
    """An exception the port did not turn into ``ImportFailed`` (a bug): this run's imports stop."""
    text = clean(str(exc), DETAIL_CHARS)
    return ImportFailed(f"import failed unexpectedly: {exc.__class__.__name__}: {text}", stop=True)  # maybe


class _Walk:
    """One batch's round trip: attempted → import → delivered (accepted), put back (refused for
    certain) or left marked (perhaps imported); a batch refused whole is halved until the finding
    it refuses is alone. No call starts unless its worst case fits before ``end``."""

    def __init__(
        self,
        channel: str,
        mark: Callable[[list[Row], Mark], None],
        port: FindingsPort,
        tally: _Tally,
        now_ms: int,
        clock: Callable[[], float],
        end: float,
        budget_s: float,
    ) -> None:
        self.channel, self.mark, self.port, self.tally, self.now_ms = channel, mark, port, tally, now_ms
        self.clock, self.end, self.budget_s = clock, end, budget_s

    def left(self) -> float | None:
        """Seconds left for imports, when one more call fits in them; else None."""
        left = self.end - self.clock()
        return left if left >= self.port.call_s else None

    def out_of_time(self) -> ImportFailed:
        failed = ImportFailed(
            f"time budget for imports used up ({max(0, self.budget_s):g} s, a call may take "
            f"{self.port.call_s:g} s): the rest goes next run",
            stop=True,
            maybe_imported=False,
        )
        self.tally.note(str(failed))
        return failed

    def send(self, batch: list[tuple[Row, dict[str, Any]]]) -> ImportFailed | None:
        """Import ``batch``; the failure that should stop the walk, else None."""
        if self.left() is None:
            return self.out_of_time()  # nothing of it was marked: it is simply due next run
        previous: dict[str, int | None] = {}

        def attempted(alerts: list[Alert], _: dict[str, int | None]) -> dict[str, int | None]:
            marks = mark_attempted(alerts, self.channel, self.now_ms)
            previous.update(marks)
            return marks

        self.mark([row for row, _ in batch], attempted)  # if the run dies mid-call, the next one knows
        return self._import(batch, previous)

    def _import(
        self, batch: list[tuple[Row, dict[str, Any]]], previous: Mapping[str, int | None]
    ) -> ImportFailed | None:
        rows = [row for row, _ in batch]
        left = self.left()
        if left is None:
            self._put_back(rows, previous)  # marked, never sent
            return self.out_of_time()
        try:
            refusals = self.port.import_findings([document for _, document in batch], within_s=left)
        except Exception as exc:  # the port's own failures, and anything it did not expect
            failed = exc if isinstance(exc, ImportFailed) else _unexpected(exc)
            if failed.split:
                return self._split(batch, previous, failed)
            if not failed.maybe_imported:
                self._put_back(rows, previous)
            self.tally.failed_batches += 1
            self.tally.note(str(failed))
            return failed if failed.stop else None
        refused = {refusal.id: refusal for refusal in refusals}
        accepted = [row for row, document in batch if document["Id"] not in refused]
        if accepted:
            self.mark(
                accepted, lambda alerts, _: mark_delivered(alerts, self.channel, self.now_ms, told=True)
            )
        if refused:
            self._put_back([row for row, document in batch if document["Id"] in refused], previous)
            for refusal in list(refused.values())[:3]:
                self.tally.note(f"refused {refusal.id}: {refusal.code}: {refusal.message}")
        self.tally.imported += len(accepted)
        self.tally.refused += len(refused)
        return None

    def _split(
        self,
        batch: list[tuple[Row, dict[str, Any]]],
        previous: Mapping[str, int | None],
        failed: ImportFailed,
    ) -> ImportFailed | None:
        """A batch refused whole for what a finding holds: each half on its own, down to the finding
        refused alone (recorded as refused: due again, said in the outcome)."""
        if len(batch) == 1:
            [(row, document)] = batch
            if not failed.maybe_imported:
                self._put_back([row], previous)
            self.tally.refused += 1
            self.tally.note(f"refused {document['Id']}: {failed.detail or failed}")
            return None
        half = len(batch) // 2
        parts = [batch[:half], batch[half:]]
        for index, part in enumerate(parts):
            stopped = self._import(part, previous)
            if stopped is not None:
                for unsent in parts[index + 1 :]:
                    self._put_back([row for row, _ in unsent], previous)
                return stopped
        return None

    def _put_back(self, rows: list[Row], previous: Mapping[str, int | None]) -> None:
        """The marks these alerts had before this batch was attempted: they are due again next run,
        and owed nothing they were not owed before."""
        self.mark(
            [(fp, kind, previous.get(fp)) for fp, kind, _ in rows],
            lambda alerts, marks: unmark_attempted(alerts, self.channel, marks),
        )


class _SortedViolations:
    """This run's violations by fingerprint, looked up in ascending order (as ``work.due`` walks)."""

    def __init__(self, found: Iterator[tuple[str, Violation]]) -> None:
        self._found = found
        self._current = next(found, None)

    def get(self, fp: str) -> Violation | None:
        while self._current is not None and self._current[0] < fp:
            self._current = next(self._found, None)
        return self._current[1] if self._current is not None and self._current[0] == fp else None

    def close(self) -> None:
        close = getattr(self._found, "close", None)
        if close is not None:
            close()


def _outcome(
    channel: Channel, counts: Mapping[str, int], tally: _Tally, left: int, calls: int, reason: str = ""
) -> dict[str, Any]:
    """The run summary's entry for this channel, shaped as a chat channel's (``channel``, ``platform``,
    ``ok``, ``attempts``, ``detail``, ``alerts``) plus the findings counts."""
    if reason:
        tally.note(reason)
    ok = left == 0 and tally.refused == 0 and not tally.failed_batches and not tally.reasons
    said = f"imported {tally.imported}"
    if tally.refused:
        said += f", refused {tally.refused}"
    if left:
        said += f", {left} left for the next run"
    detail = "; ".join([said, *tally.reasons])
    return {
        "channel": channel.name,
        "platform": channel.platform_name,
        "ok": ok,
        "attempts": calls,
        "detail": clean(detail, DETAIL_CHARS),
        "alerts": dict(counts),
        "imported": tally.imported,
        "refused": tally.refused,
        "left": left,
    }
