"""The summary (imagewatch.summary): figures from the ledger and the history, rendered on every platform."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from imagewatch import sla
from imagewatch.alerts.channels import PLATFORMS, platform_for
from imagewatch.alerts.digest import HEADER
from imagewatch.alerts.ledger import LedgerEntry
from imagewatch.events import EventError, parse_event
from imagewatch.history import RunRecord
from imagewatch.summary import MAX_TRACKED_IMAGES, SummaryTally, build_summary, span
from tests.support.channel_checks import all_text

DAY = 86_400_000
NOW = int(datetime(2026, 11, 30, 9, tzinfo=UTC).timestamp() * 1000)  # a Monday, 09:00
PREVIOUS = NOW - 7 * DAY


def entry(
    n: int,
    severity: str = "high",
    label: str = "nginx:1.25",
    *,
    status: str = "open",
    first_seen: int = NOW - 10 * DAY,
    due_at: int | None = None,
    resolved_at: int | None = None,
) -> LedgerEntry:
    return LedgerEntry(
        fingerprint=f"fp{n:04d}",
        policy_id=f"pol-{severity}",
        subject=label,
        severity=severity,
        label=label,
        message=f"{label} breaks rule {n}",
        status=status,  # type: ignore[arg-type]
        first_seen=first_seen,
        last_seen=NOW,
        resolved_at=resolved_at,
        due_at=due_at,
    )


def record(at: int, open_by_severity: dict[str, int], *, new: int = 0, resolved: int = 0) -> RunRecord:
    return RunRecord(
        at=at,
        target="t",
        status="ok",
        open_by_severity=open_by_severity,
        new=new,
        resolved=resolved,
        complete=True,
    )


def tally(entries: list[LedgerEntry], previous: int | None = PREVIOUS) -> SummaryTally:
    return SummaryTally(NOW, previous, sla.overdue_ms).extend(entries)


def summary(t: SummaryTally, records: list[RunRecord], previous: int | None = PREVIOUS, **kwargs: object):
    return build_summary(
        t,
        records,
        target="cn-north-4/proj/0",
        run_id="sum1",
        previous_ms=previous,
        stats=kwargs.pop("stats", {"mttr": {"critical": 2.5 * DAY, "high": None}, "sla": {"critical": 0.75}}),  # type: ignore[arg-type]
        last_complete_at=kwargs.pop("last_complete_at", NOW - 3_600_000),  # type: ignore[arg-type]
        **kwargs,  # type: ignore[arg-type]
    )


def test_counts_open_exempted_overdue_and_the_period() -> None:
    entries = [
        entry(1, "critical", "a", due_at=NOW - 3 * DAY),  # overdue 3 d
        entry(2, "critical", "a", due_at=NOW - 9 * DAY, first_seen=NOW - 20 * DAY),  # overdue 9 d: oldest
        entry(3, "high", "b", due_at=NOW + DAY, first_seen=NOW - DAY),  # new in the period, not overdue
        entry(4, "high", "c", status="exempted", due_at=NOW - 50 * DAY),  # exempted: neither open nor overdue
        entry(5, "low", "d", status="resolved", resolved_at=NOW - DAY),
    ]
    t = tally(entries)
    assert dict(t.open_by_severity) == {"critical": 2, "high": 1}
    assert (t.exempted, t.overdue, t.new_in_period, t.resolved_in_period) == (1, 2, 1, 1)
    assert t.oldest_overdue is not None and t.oldest_overdue[1].fingerprint == "fp0002"
    assert t.oldest_overdue[0] == 9 * DAY


def test_worst_images_by_severity_then_count_at_most_five() -> None:
    entries = [entry(i, "medium", "many") for i in range(10)]  # 10 medium
    entries += [entry(100, "critical", "one-critical")]
    entries += [entry(200 + i, "high", "two-high") for i in range(2)]
    entries += [entry(300, "high", "one-high")]
    entries += [entry(400 + i, "low", f"low{i}") for i in range(5)]
    items = summary(tally(entries), []).items
    assert [item.label for item in items] == ["one-critical", "two-high", "one-high", "many", "low0"]
    assert all(item.kind == "open" for item in items)
    assert items[3].policy_title == "10 open violations (medium 10)"
    assert items[0].policy_title == "1 open violation (critical 1)"


def test_digest_title_notes_change_and_oldest_overdue() -> None:
    entries = [entry(1, "critical", "a", due_at=NOW - 2 * DAY), entry(2, "high", "b"), entry(3, "high", "b")]
    records = [
        record(PREVIOUS - DAY, {"critical": 3}),
        record(PREVIOUS - 60_000, {"critical": 2, "high": 4}),  # the state the last summary saw
        record(PREVIOUS + DAY, {"critical": 1, "high": 2}, new=4, resolved=6),
        record(NOW - 3_600_000, {"critical": 1, "high": 2}, new=1, resolved=0),
    ]
    digest = summary(tally(entries), records, report_url="https://reports.example/r.json")
    assert digest.title == f"{HEADER}: weekly summary"
    assert digest.severity_line() == "open: critical 1 · high 2"
    notes = "\n".join(digest.notes)
    assert "last complete read: 2026-11-30T08:00:00Z (1 h ago)" in notes
    assert "since the last summary (2026-11-23T09:00:00Z): critical −1 · high −2" in notes
    assert "since 2026-11-23T09:00:00Z: 5 new · 6 resolved · 1 overdue now" in notes
    assert "MTTR (30 d): critical 2.5 d" in notes and "SLA compliance (30 d): critical 75%" in notes
    assert len(digest.notes) <= 5  # every platform shows five
    assert digest.items[-1].kind == "overdue" and digest.items[-1].label == "a"
    assert digest.items[-1].policy_title.startswith("oldest overdue: 2 d past due")
    assert digest.counts == {"open": 2, "overdue": 1}
    assert digest.report_url == "https://reports.example/r.json" and not digest.problems


def test_never_a_complete_read_is_said_loudly_and_nothing_changed_still_sends() -> None:
    digest = summary(tally([]), [], previous=None, last_complete_at=None, stats={})
    assert digest.problems and digest.problems[0].startswith("LAST COMPLETE READ: NEVER")
    assert digest.items == () and digest.severity_line() == "open: none"
    assert "first summary for this target" in "\n".join(digest.notes)
    assert "MTTR (30 d): nothing resolved" in digest.notes


def test_an_unreadable_history_claims_nothing_and_raises_no_false_alarm() -> None:
    """A store that could not read the history is not "never a complete read" (a false dead man)."""
    digest = summary(
        tally([]),
        [],
        last_complete_at=None,
        stats={},
        history_read=False,
        problems=["run history could not be read: x"],
    )
    assert not any("NEVER" in problem for problem in digest.problems)
    assert "last complete read: unknown (the run history could not be read)" in digest.notes


def test_the_exit_code_of_a_summary_without_its_history_is_5() -> None:
    from imagewatch.commands.exit_codes import ExitCode, exit_code_for

    sent = {"action": "summary", "status": "partial", "notifications": {"sent": 1, "failed": 0}}
    assert exit_code_for({**sent, "store_errors": ["run history could not be read: x"]}) is ExitCode.STORE
    assert exit_code_for({**sent, "status": "ok"}) is ExitCode.OK


def test_ledger_counts_stand_in_when_no_run_was_recorded_in_the_period() -> None:
    entries = [entry(1, first_seen=NOW - DAY), entry(2, status="resolved", resolved_at=NOW - DAY)]
    notes = "\n".join(summary(tally(entries), [record(PREVIOUS - DAY, {"high": 1})]).notes)
    assert ": 1 new · 1 resolved · 0 overdue now" in notes
    assert "since the last summary (2026-11-23T09:00:00Z): no change in open" in notes


def test_per_image_counters_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("imagewatch.summary.MAX_TRACKED_IMAGES", 3)
    t = tally([entry(i, "low", f"img{i}") for i in range(10)] + [entry(50, "low", "img1")])
    assert len(t.worst_images(100)) == 3 and t.untracked == 7
    assert sum(t.open_by_severity.values()) == 11  # every one still counted
    assert MAX_TRACKED_IMAGES >= 10_000


@pytest.mark.parametrize("name", sorted(PLATFORMS))
def test_every_platform_renders_the_summary(name: str) -> None:
    entries = [entry(i, "critical", f"registry/app{i % 7}:1.{i}") for i in range(40)]
    entries.append(entry(99, "high", "old", due_at=NOW - 40 * DAY, first_seen=NOW - 70 * DAY))
    platform = platform_for("https://preview.invalid/webhook", name)
    payload = platform.render(summary(tally(entries), []))
    text = all_text(payload)
    assert "weekly summary" in text and "last complete read" in text
    assert "OPEN" in text or '"open"' in str(payload) or "open" in text
    assert "old" in text and "MTTR" in text


def test_span_reads_at_a_glance() -> None:
    assert (span(2 * DAY), span(int(1.5 * DAY)), span(3 * 3_600_000), span(90_000)) == (
        "2 d",
        "1.5 d",
        "3 h",
        "2 min",
    )


def test_summary_events_manual_and_scheduled() -> None:
    manual = parse_event({"source": "manual", "action": "summary", "dry_run": True})
    assert (manual.action, manual.dry_run) == ("summary", True)
    scheduled = parse_event(
        {"source": "schedule", "action": "summary", "scheduled_time": "2026-11-30T09:00:00Z"}
    )
    assert (scheduled.action, scheduled.trigger) == ("summary", "schedule")
    assert parse_event({"source": "schedule", "scheduled_time": "2026-11-30T09:00:00Z"}).action == "check"
    with pytest.raises(EventError, match=r"/policies: not used by action 'summary'"):
        parse_event({"source": "manual", "action": "summary", "policies": ["x"]})
    with pytest.raises(EventError, match=r"/action"):
        parse_event({"source": "schedule", "action": "resend", "scheduled_time": "2026-11-30T09:00:00Z"})
