"""Run history: records, the resolution tally, and MTTR / SLA compliance / trend on a simulated
90-day timeline of hourly runs (a controllable clock, records through a real SQLite store)."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from imagewatch.alerts.ledger import LedgerEntry
from imagewatch.alerts.sqlite_store import SqliteStore
from imagewatch.history import (
    WINDOWS_MS,
    ResolutionTally,
    RunRecord,
    decode_record,
    encode_record,
    last_complete,
    mttr,
    resolved_counts,
    run_record,
    since,
    sla_compliance,
    trend,
)

HOUR, DAY = 3_600_000, 86_400_000
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def resolved(
    severity: str, first_seen: int, resolved_at: int | None, *, due_at: int | None, paused_ms: int = 0
) -> LedgerEntry:
    return LedgerEntry(
        fingerprint=f"{severity}{first_seen}",
        policy_id="p",
        subject="img",
        severity=severity,
        label="img",
        message="m",
        status="resolved" if resolved_at is not None else "open",
        first_seen=first_seen,
        last_seen=resolved_at or first_seen,
        resolved_at=resolved_at,
        due_at=due_at,
        paused_ms=paused_ms,
    )


# -- the tally ----------------------------------------------------------------------------------------


def test_tally_counts_time_to_fix_without_pauses_and_within_sla() -> None:
    tally = ResolutionTally()
    tally.add(resolved("critical", 0, 3 * DAY, due_at=7 * DAY))  # 3 d, in time
    tally.add(resolved("critical", 0, 10 * DAY, due_at=9 * DAY, paused_ms=2 * DAY))  # 8 d counted, late
    tally.add(resolved("critical", 0, 7 * DAY, due_at=7 * DAY))  # on the due instant: in time
    tally.add(resolved("info", 0, 100 * DAY, due_at=None))  # no clock: always in time
    tally.add(resolved("high", 0, None, due_at=30 * DAY))  # not a resolution
    assert tally.as_fixed() == {"critical": [3, 18 * DAY, 2], "info": [1, 100 * DAY, 1]}
    assert len(tally) == 4


def test_tally_never_counts_a_negative_time_to_fix() -> None:
    """A clock that went back (resolved before first seen) is a zero-time fix, not a negative one."""
    tally = ResolutionTally()
    tally.add(resolved("low", 5 * HOUR, 2 * HOUR, due_at=None))
    assert tally.as_fixed() == {"low": [1, 0, 1]}


def test_as_fixed_is_a_copy() -> None:
    tally = ResolutionTally()
    tally.add(resolved("high", 0, HOUR, due_at=None))
    fixed = tally.as_fixed()
    tally.add(resolved("high", 0, HOUR, due_at=None))
    assert fixed == {"high": [1, HOUR, 1]}


# -- the record ---------------------------------------------------------------------------------------


def test_a_record_is_compact_and_round_trips() -> None:
    record = RunRecord(
        at=T0,
        target="cn-north-4/0a1b2c3d4e5f60718293a4b5c6d7e8f9/all_granted_eps",
        status="ok",
        records=120_000,
        images=30_000,
        open_by_severity={"critical": 120, "high": 4_000, "medium": 9_000, "low": 300, "info": 12},
        new=40,
        resolved=38,
        overdue=700,
        exempted=25,
        duration_ms=312_000,
        complete=True,
        fixed={s: [12, 12 * 30 * DAY, 11] for s in ("critical", "high", "medium", "low", "info")},
    )
    data = encode_record(record)
    assert decode_record(data) == record
    assert len(data) < 512  # every field at a large fleet's size, every severity fixing
    with pytest.raises(msgspec.ValidationError):
        decode_record(b'{"at": "soon", "target": "t", "status": "ok"}')


def test_run_record_from_a_summary() -> None:
    summary = {
        "target": "t",
        "status": "partial",
        "records_read": 10,
        "images": 4,
        "new": 2,
        "resolved": 1,
        "overdue": {"total": 3, "by_severity": {"high": 3}},
        "exempted_open": 5,
        "duration_ms": 1234,
        "queries": [{"complete": True}, {"complete": False}],
    }
    record = run_record(summary, at=T0, open_by_severity={"high": 3, "low": 0}, fixed={"high": [1, 5, 1]})
    assert record == RunRecord(
        at=T0,
        target="t",
        status="partial",
        records=10,
        images=4,
        open_by_severity={"high": 3},
        new=2,
        resolved=1,
        overdue=3,
        exempted=5,
        duration_ms=1234,
        complete=False,
        fixed={"high": [1, 5, 1]},
    )
    bare = run_record({"target": "t", "status": "ok", "queries": [{"complete": True}]}, at=1, **_empty())
    assert bare.overdue == 0 and bare.exempted == 0 and bare.complete is True
    assert run_record({"target": "t", "status": "ok", "queries": []}, at=1, **_empty()).complete is False


def _empty() -> dict:
    return {"open_by_severity": {}, "fixed": {}}


# -- a simulated 90 days ------------------------------------------------------------------------------

# (severity, first seen, resolved, paused while exempted, due): times in days after T0. SLA: critical
# 7 d, high 30 d, info none. Every first-seen and resolution instant is an hourly run's.
FIXES = [
    ("critical", 1, 3, 0, 8),  # A: 2 d, in time
    ("critical", 70, 80, 0, 77),  # B: 10 d, 3 d late
    ("critical", 85, 88, 1, 93),  # C: exempted 1 d: 2 d counted, due moved to day 93, in time
    ("high", 10, 50, 0, 40),  # D: 40 d, late
    ("high", 60, 89, 0, 90),  # E: 29 d, in time
    ("info", 0, 86, 0, None),  # G: no clock
]
RUNS = 90 * 24  # hourly: T0 .. T0 + 90 d - 1 h
NOW = T0 + (RUNS - 1) * HOUR
INCOMPLETE_FROM = T0 + (89 * 24 + 20) * HOUR  # the last four runs could not read every listing


def simulate(store: SqliteStore) -> list[RunRecord]:
    """90 days of hourly runs: each run counts what is open, tallies what resolves at that run, and
    appends its record; the clock moves only here."""
    for hour in range(RUNS):
        at = T0 + hour * HOUR
        tally = ResolutionTally()
        open_by_severity: dict[str, int] = {}
        new = done = 0
        for severity, first, end, paused, due in FIXES:
            first_ms, end_ms = T0 + first * DAY, T0 + end * DAY
            new += first_ms == at
            if end_ms == at:
                done += 1
                tally.add(
                    resolved(
                        severity,
                        first_ms,
                        end_ms,
                        due_at=None if due is None else T0 + due * DAY,
                        paused_ms=paused * DAY,
                    )
                )
            elif first_ms <= at < end_ms:
                open_by_severity[severity] = open_by_severity.get(severity, 0) + 1
        complete = at < INCOMPLETE_FROM
        store.append_history(
            RunRecord(
                at=at,
                target="t",
                status="ok" if complete else "partial",
                open_by_severity=open_by_severity,
                new=new,
                resolved=done,
                overdue=sum(
                    1 for s, f, e, _, d in FIXES if d is not None and T0 + d * DAY < at < T0 + e * DAY
                ),
                complete=complete,
                fixed=tally.as_fixed(),
            )
        )
    store.append_history(RunRecord(at=T0 + HOUR, target="t", status="ok"))  # ...a retried write...
    store.append_history(RunRecord(at=T0 + HOUR, target="t", status="ok"))  # ...is still one record
    return list(store.history("t", T0 - 90 * DAY))


@pytest.fixture(scope="module")
def timeline(tmp_path_factory: pytest.TempPathFactory) -> list[RunRecord]:
    store = SqliteStore(Path(tmp_path_factory.mktemp("history")) / "ledger.sqlite3")
    try:
        return simulate(store)
    finally:
        store.close()


def test_the_timeline_holds_one_record_per_run(timeline: list[RunRecord]) -> None:
    assert len(timeline) == RUNS
    assert [r.at for r in timeline] == [T0 + h * HOUR for h in range(RUNS)]


def test_mttr_per_severity_over_7_30_and_90_days(timeline: list[RunRecord]) -> None:
    assert mttr(timeline, NOW, WINDOWS_MS["7d"]) == {
        "critical": 2 * DAY,  # C (its exempted day does not count)
        "high": 29 * DAY,  # E
        "medium": None,
        "low": None,
        "info": 86 * DAY,  # G
    }
    assert mttr(timeline, NOW, WINDOWS_MS["30d"]) == {
        "critical": 6 * DAY,  # B, C: (10 + 2) / 2
        "high": 29 * DAY,
        "medium": None,
        "low": None,
        "info": 86 * DAY,
    }
    assert mttr(timeline, NOW, WINDOWS_MS["90d"]) == {
        "critical": 14 * DAY / 3,  # A, B, C
        "high": 34.5 * DAY,  # D, E
        "medium": None,
        "low": None,
        "info": 86 * DAY,
    }


def test_sla_compliance_over_7_30_and_90_days(timeline: list[RunRecord]) -> None:
    assert sla_compliance(timeline, NOW, WINDOWS_MS["7d"]) == {
        "critical": 1.0,
        "high": 1.0,
        "medium": None,
        "low": None,
        "info": 1.0,
    }
    assert sla_compliance(timeline, NOW, WINDOWS_MS["30d"])["critical"] == 0.5  # B late, C in time
    assert sla_compliance(timeline, NOW, WINDOWS_MS["90d"]) == {
        "critical": 2 / 3,
        "high": 0.5,  # D late
        "medium": None,
        "low": None,
        "info": 1.0,
    }
    assert resolved_counts(timeline, NOW, WINDOWS_MS["90d"]) == {"critical": 3, "high": 2, "info": 1}


def test_windows_end_at_now_and_exclude_their_start(timeline: list[RunRecord]) -> None:
    """A fix at exactly ``now - window`` is outside; one after ``now`` (a clock ahead) is not counted."""
    at_c = T0 + 88 * DAY
    assert mttr(timeline, at_c, at_c - (T0 + 80 * DAY))["critical"] == 2 * DAY  # B at the edge: out
    assert mttr(timeline, at_c - 1, 5 * DAY)["critical"] is None  # C is after that "now"


def test_a_record_given_twice_counts_once(timeline: list[RunRecord]) -> None:
    twice = [r for r in timeline for _ in range(2)]
    assert mttr(twice, NOW, WINDOWS_MS["90d"]) == mttr(timeline, NOW, WINDOWS_MS["90d"])
    assert trend(twice, "day") == trend(timeline, "day")


def test_the_trend_per_day_and_per_run(timeline: list[RunRecord]) -> None:
    days = trend(timeline, "day")
    assert len(days) == 90 and days[0].period == "2026-01-01" and days[-1].period == "2026-03-31"
    assert all(day.runs == 24 for day in days)
    assert sum(day.new for day in days) == 6 and sum(day.resolved for day in days) == 6
    day = {d.period: d for d in days}
    assert day["2026-01-01"].open_by_severity == {"info": 1}  # G, first seen at T0
    assert day["2026-01-02"].open_by_severity == {"critical": 1, "info": 1}  # A
    assert day["2026-01-02"].new == 1 and day["2026-01-04"].resolved == 1  # A resolves on day 3
    assert day["2026-03-22"].fixed == {"critical": [1, 10 * DAY, 0]}  # B, late
    # day 79 (B overdue since day 77, D resolved): open critical B, high E, info G; one overdue
    assert day["2026-03-21"].open_by_severity == {"critical": 1, "high": 1, "info": 1}
    assert day["2026-03-21"].overdue == 1 and day["2026-03-21"].open == 3
    assert days[-1].complete_runs == 20 and days[-1].status == "partial"
    runs = trend(timeline[:3])
    assert [r.period for r in runs] == [
        "2026-01-01T00:00:00Z",
        "2026-01-01T01:00:00Z",
        "2026-01-01T02:00:00Z",
    ]
    assert [r.runs for r in runs] == [1, 1, 1]


def test_last_complete_read(timeline: list[RunRecord]) -> None:
    last = last_complete(timeline)
    assert last is not None and last.at == INCOMPLETE_FROM - HOUR
    assert last_complete([r for r in timeline if not r.complete]) is None
    assert last_complete([]) is None


def test_change_since_the_last_summary(timeline: list[RunRecord]) -> None:
    week_ago = T0 + 83 * DAY  # a summary sent then
    change = since(timeline, week_ago)
    assert change.before == {"high": 1, "info": 1}  # E and G open then (B resolved on day 80)
    assert change.after == {}
    assert change.runs == 7 * 24 - 1  # runs after the moment, up to NOW
    assert change.new == 1  # C
    assert change.resolved == 3  # C, G, E
    assert change.fixed == {"critical": [1, 2 * DAY, 1], "info": [1, 86 * DAY, 1], "high": [1, 29 * DAY, 1]}
    assert change.delta == {"high": -1, "info": -1}
    assert change.last is not None and change.last.at == NOW
    first = since(timeline, None)
    assert first.before is None and first.runs == RUNS and first.new == 6


def test_since_with_nothing() -> None:
    change = since([], 5)
    assert change.before is None and change.after is None and change.runs == 0 and change.last is None


def test_a_record_whose_fixed_is_not_three_numbers_is_refused_when_read() -> None:
    """[count, sum_fix_ms, within_sla_count] or nothing: a short list would crash the stats later."""
    import msgspec

    from imagewatch.history import decode_record

    good = b'{"at":1,"target":"t","status":"ok","fixed":{"high":[1,5,1]}}'
    assert decode_record(good).fixed == {"high": [1, 5, 1]}
    with pytest.raises(msgspec.ValidationError, match=r"length >= 3 - at `\$.fixed"):
        decode_record(b'{"at":1,"target":"t","status":"ok","fixed":{"high":[1]}}')


def test_two_runs_in_one_second_are_two_rows_per_run() -> None:
    """Found by a fresh clone's CI: the per-run trend grouped by the second, so two quick runs were one."""
    second = 1_767_225_600_000
    runs = [RunRecord(at=second + ms, target="t", status="ok") for ms in (100, 900)]
    assert [row.runs for row in trend(runs, "run")] == [1, 1]
    assert [row.runs for row in trend([*runs, runs[-1]], "day")] == [2]  # the same run twice is one
