"""Stage 5 overlapped with the read: each query's policies merged as its listing ends, the rest after.

Merged group by group, a run must decide exactly what one merge of everything decides: same writes,
same forgets, same counts, same alerts due, same digests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from imagewatch.alerts.ledger import ChannelRule, Delivery, LedgerEntry
from imagewatch.alerts.ledger_copy import LedgerCopy
from imagewatch.alerts.merge import Merged, merge_ledger, new_collectors
from imagewatch.alerts.staged_merge import StagedMerge
from imagewatch.alerts.store import StateStoreError
from imagewatch.violation import Violation
from imagewatch.workspace import Workspace

NOW = 1_800_000_000_000
RULES = [ChannelRule("ops"), ChannelRule("sec", min_severity="critical")]
SEVERITIES = ["critical", "high", "medium", "low"]


def violation(policy: str, subject: str, index: int) -> Violation:
    kind = "record" if policy == "scan-failed" else "image"
    host = f"h{index % 3}"
    severity = SEVERITIES[index % 4]
    return Violation(
        policy,
        policy.title(),
        severity,
        subject,
        subject,
        f"m {subject}",
        kind=kind,
        host=host,
        host_name=f"node-{host}",
    )


def entry(v: Violation, index: int) -> LedgerEntry:
    made = LedgerEntry.from_violation(v, NOW - 86_400_000 * (index % 40))
    if index % 5 == 0:  # some were told already: a reminder, or a resolved, may be due
        made.deliveries = {"ops": Delivery(new_at=NOW - 86_400_000 * 2, last_sent_at=NOW - 86_400_000 * 2)}
    return made


# three queries' policies; "removed" is in the ledger only (a policy no longer in the pack)
GROUPS = [("scan-freshness", "unsafe-settings"), ("high-severity",), ("scan-failed",)]


def fleet() -> tuple[list[LedgerEntry], list[list[Violation]]]:
    """A ledger and this run's findings per group: some still open, some fixed, some new; exemptions
    aside (``exempt``)."""
    ledger, found = [], []
    for policies in GROUPS:
        group = []
        for policy in policies:
            for i in range(300):
                v = violation(policy, f"{policy}-img{i}", i)
                if i % 3 != 0:  # a third fixed since the last run
                    group.append(v)
                if i < 220:  # the rest new this run
                    ledger.append(entry(v, i))
        found.append(group)
    ledger += [entry(violation("removed", f"old{i}", i), i) for i in range(40)]
    return sorted(ledger, key=lambda e: e.fingerprint), found


class Outcome:
    def __init__(self) -> None:
        self.saved: dict[str, bytes] = {}
        self.forgotten: set[str] = set()
        self.rows: list[tuple[str, str]] = []
        self.resolved_rows: list[str] = []


def bound(out: Outcome, **changes: object) -> partial[Merged]:
    import msgspec

    def save(entries: list[LedgerEntry]) -> None:
        out.saved.update((e.fingerprint, msgspec.msgpack.encode(e)) for e in entries)

    arguments: dict[str, object] = {
        "save": save,
        "forget": out.forgotten.update,
        "on_current": lambda v, status, *_: out.rows.append((v.fingerprint, status)),
        "on_resolved": lambda e: out.resolved_rows.append(e.fingerprint),
    }
    return partial(merge_ledger, now_ms=NOW, rules=RULES, labels={}, titles={}, **(arguments | changes))


def figures(merged: Merged, work: Workspace) -> dict[str, object]:
    return {
        "counts": (merged.new, merged.still_open, merged.resolved, merged.exempted_open),
        "by_severity": [dict(merged.found_by_severity), dict(merged.open_by_severity)],
        "overdue": dict(merged.overdue_by_severity),
        "written": (merged.written, merged.forgotten),
        "fixed": merged.tally.as_fixed(),
        "digests": {name: (dict(c.counts), c.items()) for name, c in merged.collectors.items()},
        "due": {rule.name: list(work.due(rule.name)) for rule in RULES},
        "kept": [e.fingerprint for e in work.entries()],
    }


def merge_whole(ledger: list[LedgerEntry], found: list[list[Violation]], judged: set[str], tmp_path: Path):
    out = Outcome()
    with Workspace(tmp_path) as work, LedgerCopy() as copy:
        copy.start(ledger)
        for group in found:
            work.add_all(group)
        merged = bound(out)(copy.entries(), work, judged=judged)
        return figures(merged, work), out


def merge_staged(
    ledger: list[LedgerEntry], found: list[list[Violation]], complete: list[bool], tmp_path: Path
):
    out = Outcome()
    judged = {p for policies, done in zip(GROUPS, complete, strict=True) if done for p in policies}
    with Workspace(tmp_path) as work, LedgerCopy() as copy:
        copy.start(ledger)
        with StagedMerge(copy, work, bound(out), new_collectors(RULES, {}, NOW)) as staged:
            for number, (policies, group, done) in enumerate(zip(GROUPS, found, complete, strict=True), 1):
                work.add_all(group)
                if number < len(GROUPS):
                    staged.stage(policies, done)
            merged = staged.finish(judged)
        return figures(merged, work), out


@pytest.mark.parametrize("complete", [[True, True, True], [False, True, True], [True, False, False]])
def test_group_by_group_decides_what_one_merge_of_everything_decides(
    tmp_path: Path, complete: list[bool]
) -> None:
    """New, still open, resolved (only where the read was complete), forgotten, written, alerts due,
    digests and time-to-fix figures: the same, whichever groups' reads were complete; the entries of
    a policy no query judges ("removed") are left as they were either way."""
    ledger, found = fleet()
    judged = {p for policies, done in zip(GROUPS, complete, strict=True) if done for p in policies}
    whole, whole_out = merge_whole(ledger, found, judged, tmp_path)
    staged, staged_out = merge_staged(ledger, found, complete, tmp_path)
    assert staged == whole
    assert staged_out.saved == whole_out.saved and staged_out.forgotten == whole_out.forgotten
    assert sorted(staged_out.rows) == sorted(whole_out.rows)
    assert sorted(staged_out.resolved_rows) == sorted(whole_out.resolved_rows)
    # the case is not empty: every kind of decision happened, and the removed policy's entries stayed
    new, still, resolved, _ = whole["counts"]  # type: ignore[misc]
    assert new and still and (resolved or not all(complete))
    removed = {e.fingerprint for e in ledger if e.policy_id == "removed"}
    assert not removed & (set(whole_out.saved) | whole_out.forgotten | set(whole_out.resolved_rows))


def test_a_failed_group_merge_is_raised_by_the_run(tmp_path: Path) -> None:
    """The store refusing a staged group's write fails the run (at the next stage or at finish), as a
    refused write in one merge of everything does."""
    ledger, found = fleet()

    def refuse(entries: list[LedgerEntry]) -> None:
        raise StateStoreError("ledger table: throttled")

    with Workspace(tmp_path) as work, LedgerCopy() as copy:
        copy.start(ledger)
        with StagedMerge(copy, work, bound(Outcome(), save=refuse), new_collectors(RULES, {}, NOW)) as staged:
            work.add_all(found[0])
            staged.stage(GROUPS[0], True)
            with pytest.raises(StateStoreError, match="throttled"):
                for policies, group in zip(GROUPS[1:], found[1:], strict=True):
                    work.add_all(group)
                    staged.stage(policies, True)
                staged.finish(set())


class EndlessLedger:
    """A ledger copy whose entries never end (ascending fingerprints): a merge of it ends only when
    it is stopped. ``pulled`` counts the entries read; ``started`` is set once the merge has taken
    ``STARTED`` of them (it is merging, not failed at its first)."""

    LIMIT = 300_000  # far past any stop: reaching it means the merge was not stopped
    STARTED = 1_000

    def __init__(self) -> None:
        self.pulled = 0
        self.started = threading.Event()

    def entries(self, **_: object) -> Iterator[LedgerEntry]:
        for i in range(self.LIMIT):
            self.pulled += 1
            if self.pulled == self.STARTED:
                self.started.set()
            made = LedgerEntry.from_violation(violation("gone", f"img{i:09d}", i), NOW)
            made.fingerprint = f"{i:020d}"  # ascending, as a ledger is read
            yield made


def test_leaving_the_run_stops_a_group_merge_in_flight(tmp_path: Path) -> None:
    """The read fails while a group is being merged: leaving the ``with`` stops that merge at its next
    entry and waits for it, so no thread writes to the workspace or the store after the run has left;
    the run's own error is what is raised."""
    endless, saved = EndlessLedger(), []
    merge = bound(Outcome(), save=saved.extend, forget=None, on_current=None, on_resolved=None)
    with Workspace(tmp_path) as work:
        with (
            pytest.raises(KeyboardInterrupt),
            StagedMerge(endless, work, merge, new_collectors(RULES, {}, NOW)) as staged,  # type: ignore[arg-type]
        ):
            staged.stage(("gone",), True)
            endless.started.wait()
            raise KeyboardInterrupt  # the read of the next query, cut by Ctrl-C
        pulled, written = endless.pulled, len(saved)
        assert [t.name for t in threading.enumerate() if t.name.startswith("merge")] == []
        assert EndlessLedger.STARTED <= pulled < EndlessLedger.LIMIT
        assert (endless.pulled, len(saved)) == (pulled, written)  # nothing after it returned


def test_what_the_merge_feeds_works_from_its_thread_then_the_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The report files and the HTML page's rows hear the first groups from the merge's thread and the
    rest from the run's: everything they open along the way (the worst-images tally spills to a
    SQLite file past ``IN_MEMORY`` images, here 2) works from either, and they hold what one merge of
    everything would give them (found at 1,000,000 records, where the tally first spilled in a thread)."""
    import gzip
    import json

    from imagewatch.report.html_rows import HtmlRows
    from imagewatch.report.run_report import ViolationReport
    from imagewatch.report.sink import LocalReportSink
    from imagewatch.run import both

    monkeypatch.setattr("imagewatch.report.worst_images.IN_MEMORY", 2)
    ledger, found = fleet()
    judged = {p for policies in GROUPS for p in policies}
    outputs = []
    for staged in (False, True):
        report = ViolationReport(LocalReportSink(tmp_path / str(staged)), "run")
        rows = HtmlRows(sorted(judged))
        callbacks = {
            "on_current": both(report.add, rows.add),
            "on_resolved": both(report.add_resolved, rows.add_resolved),
        }
        with Workspace(tmp_path) as work, LedgerCopy() as copy:
            copy.start(ledger)
            merge = bound(Outcome(), **callbacks)
            if staged:
                with StagedMerge(copy, work, merge, new_collectors(RULES, {}, NOW)) as stages:
                    for number, (policies, group) in enumerate(zip(GROUPS, found, strict=True), 1):
                        work.add_all(group)
                        if number < len(GROUPS):
                            stages.stage(policies, True)
                    stages.finish(judged)
            else:
                for group in found:
                    work.add_all(group)
                merge(copy.entries(), work, judged=judged)
        files = report.close()
        lines = sorted(gzip.decompress(Path(files["jsonl"]).read_bytes()).splitlines())
        shown = sorted(json.dumps(row) for row in json.loads(b"".join(rows.blocks())))
        outputs.append((lines, rows.worst.top(), shown))
        rows.close()
    assert outputs[0] == outputs[1]
    assert len(outputs[0][0]) > 1_000 and outputs[0][1]  # rows were written, images were ranked
