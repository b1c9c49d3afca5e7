"""Stage 5 as a stream: the ledger and the findings merged in fingerprint order, decided per entry."""

from __future__ import annotations

from pathlib import Path

import pytest

from imagewatch.alerts.digest import MAX_DIGEST_ITEMS, DigestCollector, build_digest
from imagewatch.alerts.ledger import Alert, ChannelRule, Delivery, LedgerEntry, reconcile
from imagewatch.alerts.merge import merge_by_fingerprint, merge_ledger
from imagewatch.violation import Violation
from imagewatch.workspace import Workspace

NOW = 1_800_000_000_000


def violation(subject: str, policy: str = "p", severity: str = "high") -> Violation:
    return Violation(policy, "t", severity, subject, subject, f"m {subject}", kind="record", host="h")


def entry(v: Violation, **changes: object) -> LedgerEntry:
    made = LedgerEntry.from_violation(v, NOW - 3_600_000)
    for name, value in changes.items():
        setattr(made, name, value)
    return made


class Recorder:
    def __init__(self) -> None:
        self.saved: list[LedgerEntry] = []
        self.forgotten: list[str] = []
        self.reported: list[tuple[str, str]] = []


def run_merge(ledger: list[LedgerEntry], found: list[Violation], judged: set[str], rules, tmp_path: Path):
    out = Recorder()
    with Workspace(tmp_path) as work:
        work.add_all(found)
        merged = merge_ledger(
            sorted(ledger, key=lambda e: e.fingerprint),
            work,
            judged=judged,
            now_ms=NOW,
            rules=rules,
            labels={},
            titles={},
            save=out.saved.extend,
            forget=out.forgotten.extend,
            on_current=lambda v, status, *_: out.reported.append((v.subject, status)),
        )
        due = {rule.name: [(fp, kind) for fp, kind, _ in work.due(rule.name)] for rule in rules}
    return merged, out, due


def test_pairs_are_formed_in_fingerprint_order_and_disorder_is_refused() -> None:
    a, b, c = sorted((violation(s) for s in "abc"), key=lambda v: v.fingerprint)
    pairs = list(merge_by_fingerprint([entry(a), entry(c)], [(b.fingerprint, b), (c.fingerprint, c)]))
    assert [(p.fingerprint, p.entry is not None, p.violation is not None) for p in pairs] == [
        (a.fingerprint, True, False),
        (b.fingerprint, False, True),
        (c.fingerprint, True, True),
    ]
    with pytest.raises(ValueError, match="out of order"):
        list(merge_by_fingerprint([entry(c), entry(a)], []))


def test_the_stream_decides_what_the_mapping_does(tmp_path: Path) -> None:
    """``merge_ledger`` and ``reconcile`` share ``settle``: same new, still open and resolved."""
    kept, gone, unjudged = violation("kept"), violation("gone"), violation("other", policy="q")
    fresh = violation("fresh")
    ledger = [entry(kept), entry(gone), entry(unjudged)]
    rule = ChannelRule("ops")
    merged, out, due = run_merge(ledger, [kept, fresh], {"p"}, [rule], tmp_path)
    mapping = reconcile({e.fingerprint: e for e in ledger}, [kept, fresh], {"p"}, NOW)
    assert (merged.new, merged.still_open, merged.resolved) == (1, 1, 1)
    assert (len(mapping.new), len(mapping.still_open), len(mapping.resolved)) == (1, 1, 1)
    # only what changed is written: saved, or forgotten when it is finished (nobody was told "gone")
    assert {e.fingerprint for e in out.saved} | set(out.forgotten) == mapping.changed
    assert out.forgotten == [gone.fingerprint]
    assert sorted(out.reported) == [("fresh", "new"), ("kept", "open")]
    assert merged.open_by_severity == {"high": 3}  # kept, fresh, and the unjudged policy's entry
    assert merged.found_by_severity == {"high": 2}  # what this run found: kept and fresh, once each
    # the channel was never told anything: everything open is new to it; the resolved one is not owed
    assert sorted(kind for _, kind in due["ops"]) == ["new", "new", "new"]


def test_an_entry_resolved_that_no_channel_is_owed_is_forgotten_not_written(tmp_path: Path) -> None:
    told, silent = violation("told"), violation("silent")
    ledger = [entry(told, deliveries={"ops": Delivery(new_at=NOW - 1, last_sent_at=NOW - 1)}), entry(silent)]
    merged, out, due = run_merge(ledger, [], {"p"}, [ChannelRule("ops")], tmp_path)
    assert merged.resolved == 2
    assert out.forgotten == [silent.fingerprint]  # nobody heard of it: nothing to say, gone
    assert [e.fingerprint for e in out.saved] == [told.fingerprint]  # "ops" is owed its resolved
    assert due["ops"] == [(told.fingerprint, "resolved")]


def test_a_dry_run_writes_nothing(tmp_path: Path) -> None:
    with Workspace(tmp_path) as work:
        work.add(violation("x"))
        merged = merge_ledger(
            [], work, judged={"p"}, now_ms=NOW, rules=[], labels={}, titles={}, save=None, forget=None
        )
    assert merged.new == 1 and merged.written == 0 and merged.forgotten == 0


def test_a_digest_holds_the_worst_500_and_counts_the_rest() -> None:
    collector = DigestCollector({})
    severities = ["low", "critical", "medium", "high"]
    for i in range(2_003):
        v = violation(f"img{i:05d}", severity=severities[i % 4])
        collector.add(Alert("new", LedgerEntry.from_violation(v, NOW), v))
    digest = build_digest(
        collector, target="t", run_id="r", generated_at="now", titles={}, open_by_severity={}
    )
    assert len(digest.items) == MAX_DIGEST_ITEMS and digest.counts == {"new": 2_003}
    assert {item.severity for item in digest.items} == {"critical"}  # 501 critical: the worst kept
    assert digest.items.omitted == {"critical": 1, "high": 500, "medium": 501, "low": 501}
