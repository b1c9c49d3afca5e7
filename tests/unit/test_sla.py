"""SLA clocks: the setting, due dates, the exemption pause, "became overdue" once, digest ordering."""

from __future__ import annotations

from pathlib import Path

import pytest

from imagewatch.alerts.digest import DigestCollector, build_digest
from imagewatch.alerts.ledger import (
    Alert,
    ChannelRule,
    LedgerEntry,
    due_alerts,
    mark_delivered,
    reconcile,
    settle,
)
from imagewatch.alerts.merge import merge_ledger
from imagewatch.alerts.store import entry_from_row, entry_to_row
from imagewatch.history import ResolutionTally
from imagewatch.settings import Settings, SettingsError
from imagewatch.sla import (
    DAY_MS,
    DEFAULT_SLA,
    HOUR_MS,
    Sla,
    SlaSettingError,
    due_within,
    is_overdue,
    overdue_ms,
    parse_sla,
    sla_for,
    time_to_fix,
    within_sla,
)
from imagewatch.violation import Violation
from imagewatch.workspace import Workspace

MON_0900 = 1_796_634_000_000  # 2026-12-07 (a Monday) 09:00 UTC
CHAT = ChannelRule("chat", repeat_interval_ms=None)
DEFAULT = Sla()


def found(subject: str = "nginx", severity: str = "critical", policy: str = "p") -> Violation:
    return Violation(policy, "P", severity, subject, subject, f"{subject} is bad", kind="image")


class Timeline:
    """One subject's ledger over a simulated clock: each ``run`` is one reconcile, and the channel
    confirms whatever it is due (the alerts are returned)."""

    def __init__(self, sla: Sla = DEFAULT, rule: ChannelRule = CHAT) -> None:
        self.entries: dict[str, LedgerEntry] = {}
        self.sla, self.rule = sla, rule

    def run(self, now: int, state: str, severity: str = "critical") -> list[str]:
        """``state``: "found", "exempted" or "gone" (on a complete read)."""
        hits = [found(severity=severity)] if state == "found" else []
        exempted = [found().fingerprint] if state == "exempted" else []
        self.entries = reconcile(self.entries, hits, {"p"}, now, self.sla, exempted).entries
        alerts = due_alerts(self.entries.values(), self.rule, now)
        mark_delivered(alerts, self.rule.name, now)
        return [alert.kind for alert in alerts]

    @property
    def entry(self) -> LedgerEntry:
        (entry,) = self.entries.values()
        return entry


# -- the setting ---------------------------------------------------------------------------------


def test_the_setting_overlays_the_defaults() -> None:
    parsed = parse_sla("critical=3d, high=2w ,info=none")
    assert parsed == {**DEFAULT_SLA, "critical": 3 * DAY_MS, "high": 14 * DAY_MS, "info": None}
    assert parse_sla("low=none")["low"] is None


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("hgih=30d", """SLA: "hgih=30d": unknown severity 'hgih' (did you mean 'high'?)"""),
        ("high=30", """SLA: "high=30": bad duration '30'; expected a duration"""),
        ("high", """SLA: "high": expected severity=duration"""),
        ("high=30d,high=7d", """SLA: "high=7d": high is given twice"""),
        ("critical=0d", """SLA: "critical=0d": bad duration '0d'"""),
    ],
)
def test_a_bad_setting_names_the_piece_the_value_and_what_was_expected(text: str, said: str) -> None:
    with pytest.raises(SlaSettingError) as caught:
        parse_sla(text)
    assert str(caught.value).startswith(said)


def test_the_setting_is_a_configuration_error_at_start() -> None:
    env = {"HSS_PROJECT_ID": "p", "HSS_ENDPOINT": "http://127.0.0.1:1", "HSS_AUTH_TOKEN": "t"}
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({**env, "SLA": "hgih=30d"})
    assert caught.value.variable == "SLA" and "did you mean 'high'?" in str(caught.value)
    assert Settings.from_env(env).sla_by_severity is None
    assert Settings.from_env({**env, "SLA": "high=1d"}).sla_by_severity == {**DEFAULT_SLA, "high": DAY_MS}


def test_a_policy_sla_overrides_its_severity() -> None:
    class P:
        def __init__(self, id: str, sla_set: bool, sla_ms: int | None) -> None:
            self.id, self.sla_set, self.sla_ms = id, sla_set, sla_ms

    sla = sla_for(None, [P("a", True, 14 * DAY_MS), P("b", True, None), P("c", False, None)])
    assert sla.time_to_fix("critical", "a") == 14 * DAY_MS
    assert sla.time_to_fix("critical", "b") is None
    assert sla.time_to_fix("critical", "c") == 7 * DAY_MS
    assert sla.time_to_fix("info", "c") is None


# -- the clocks ----------------------------------------------------------------------------------


def test_a_new_entry_is_due_after_its_time_to_fix() -> None:
    line = Timeline()
    assert line.run(MON_0900, "found") == ["new"]
    assert line.entry.due_at == MON_0900 + 7 * DAY_MS
    assert not is_overdue(line.entry, MON_0900 + 7 * DAY_MS)
    assert overdue_ms(line.entry, MON_0900 + 7 * DAY_MS + HOUR_MS) == HOUR_MS
    assert due_within(line.entry, MON_0900 + 5 * DAY_MS, 7 * DAY_MS)
    assert not due_within(line.entry, MON_0900, 6 * DAY_MS)


def test_info_has_no_clock() -> None:
    line = Timeline()
    line.run(MON_0900, "found", severity="info")
    assert line.entry.due_at is None
    assert not is_overdue(line.entry, MON_0900 + 3650 * DAY_MS)
    assert line.run(MON_0900 + 400 * DAY_MS, "found", severity="info") == []


def test_a_severity_change_moves_the_due_date_from_first_seen() -> None:
    line = Timeline()
    line.run(MON_0900, "found", severity="high")
    assert line.entry.due_at == MON_0900 + 30 * DAY_MS
    line.run(MON_0900 + DAY_MS, "found", severity="critical")
    assert line.entry.due_at == MON_0900 + 7 * DAY_MS
    assert line.entry.first_seen == MON_0900


def test_a_changed_sla_setting_moves_the_due_date() -> None:
    line = Timeline()
    line.run(MON_0900, "found")
    line.sla = Sla({**DEFAULT_SLA, "critical": 2 * DAY_MS})
    line.run(MON_0900 + HOUR_MS, "found")
    assert line.entry.due_at == MON_0900 + 2 * DAY_MS


def test_the_channel_hears_became_overdue_once_then_reminders() -> None:
    line = Timeline(rule=ChannelRule("chat", repeat_interval_ms=2 * DAY_MS))
    assert line.run(MON_0900, "found") == ["new"]
    assert line.run(MON_0900 + 6 * DAY_MS, "found") == ["reminder"]
    assert line.run(MON_0900 + 7 * DAY_MS + HOUR_MS, "found") == ["overdue"]
    assert line.entry.deliveries["chat"].overdue_at == MON_0900 + 7 * DAY_MS + HOUR_MS
    # a run landing twice in the same period: the ledger knows it was told
    assert line.run(MON_0900 + 7 * DAY_MS + 2 * HOUR_MS, "found") == []
    assert line.run(MON_0900 + 9 * DAY_MS + HOUR_MS, "found") == ["reminder"]
    assert line.run(MON_0900 + 9 * DAY_MS + 2 * HOUR_MS, "gone") == ["resolved"]


def test_a_channel_not_told_of_it_hears_new_before_overdue() -> None:
    entries = reconcile({}, [found()], {"p"}, MON_0900).entries
    late = MON_0900 + 8 * DAY_MS
    alerts = due_alerts(entries.values(), CHAT, late)
    assert [a.kind for a in alerts] == ["new"]
    mark_delivered(alerts, "chat", late)
    assert [a.kind for a in due_alerts(entries.values(), CHAT, late + 1)] == ["overdue"]


def test_a_clock_that_went_back_is_never_overdue() -> None:
    entry = reconcile({}, [found()], {"p"}, MON_0900).entries[found().fingerprint]
    entry.due_at = MON_0900 - DAY_MS  # e.g. a zero-length SLA set by hand, with now before first seen
    assert overdue_ms(entry, MON_0900 - HOUR_MS) == 0
    assert overdue_ms(entry, MON_0900) == DAY_MS


# -- the exemption pause --------------------------------------------------------------------------


def test_an_exemption_pauses_the_clock_and_its_expiry_moves_the_due_date() -> None:
    line = Timeline()
    assert line.run(MON_0900, "found") == ["new"]
    wed = MON_0900 + 2 * DAY_MS
    assert line.run(wed, "exempted") == []
    assert line.entry.status == "exempted" and line.entry.paused_since == wed
    # paused past its original due date: never overdue, no alert, never resolved by its exemption
    assert line.run(MON_0900 + 8 * DAY_MS, "exempted") == []
    assert not is_overdue(line.entry, MON_0900 + 8 * DAY_MS)
    line.entries = reconcile(line.entries, [], {"p"}, MON_0900 + 9 * DAY_MS, exempted=[]).entries
    assert line.entry.status == "resolved"  # neither found nor exempted, on a complete read


def test_exempted_wednesday_to_friday_moves_due_by_two_days() -> None:
    line = Timeline()
    line.run(MON_0900, "found")
    wed, fri = MON_0900 + 2 * DAY_MS, MON_0900 + 4 * DAY_MS
    line.run(wed, "exempted")
    assert line.run(fri, "found") == []  # open again: the channel was told; nothing new
    assert line.entry.status == "open" and line.entry.paused_ms == 2 * DAY_MS
    assert line.entry.due_at == MON_0900 + 9 * DAY_MS
    assert line.run(MON_0900 + 8 * DAY_MS, "found") == []  # not overdue yet
    assert line.run(MON_0900 + 9 * DAY_MS + HOUR_MS, "found") == ["overdue"]
    resolved_at = MON_0900 + 10 * DAY_MS
    assert line.run(resolved_at, "gone") == ["resolved"]
    entry = line.entry
    assert time_to_fix(entry, resolved_at) == 8 * DAY_MS
    assert not within_sla(entry, resolved_at)
    tally = ResolutionTally()
    tally.add(entry)
    assert tally.as_fixed() == {"critical": [1, 8 * DAY_MS, 0]}


def test_an_exempted_entry_does_not_resolve_on_an_incomplete_read() -> None:
    line = Timeline()
    line.run(MON_0900, "found")
    line.run(MON_0900 + DAY_MS, "exempted")
    entries = reconcile(line.entries, [], set(), MON_0900 + 2 * DAY_MS).entries
    assert next(iter(entries.values())).status == "exempted"


def test_an_exemption_never_creates_an_entry() -> None:
    settled = settle(None, None, {"p"}, MON_0900, exempted=True)
    assert settled.entry is None


# -- storage --------------------------------------------------------------------------------------


def test_old_rows_without_the_sla_fields_still_load() -> None:
    entry = reconcile({}, [found()], {"p"}, MON_0900).entries[found().fingerprint]
    row = entry_to_row(entry)
    for name in ("due_at", "paused_ms", "paused_since"):
        row.pop(name)
    old = entry_from_row(row)
    assert (old.due_at, old.paused_ms, old.paused_since) == (None, 0, None)
    # and the next run sets its clock from first seen
    again = reconcile({old.fingerprint: old}, [found()], {"p"}, MON_0900 + HOUR_MS).entries
    assert again[old.fingerprint].due_at == MON_0900 + 7 * DAY_MS


def test_the_new_fields_round_trip() -> None:
    line = Timeline()
    line.run(MON_0900, "found")
    line.run(MON_0900 + DAY_MS, "exempted")
    entry = line.entry
    assert entry_from_row(entry_to_row(entry)) == entry


# -- the merge and the digest ---------------------------------------------------------------------


def test_the_merge_pauses_counts_overdue_and_tallies_resolutions(tmp_path: Path) -> None:
    sla = Sla()
    now = MON_0900 + 10 * DAY_MS
    late = LedgerEntry.from_violation(found("late"), MON_0900, sla)
    paused = LedgerEntry.from_violation(found("paused"), MON_0900, sla)
    fixed = LedgerEntry.from_violation(found("fixed", severity="high"), MON_0900, sla)
    with Workspace(tmp_path) as work:
        work.add(found("late"))
        work.exempt(found("paused").fingerprint)
        merged = merge_ledger(
            sorted([late, paused, fixed], key=lambda e: e.fingerprint),
            work,
            judged={"p"},
            now_ms=now,
            rules=[CHAT],
            labels={},
            titles={},
            save=None,
            forget=None,
            sla=sla,
        )
        assert dict(merged.overdue_by_severity) == {"critical": 1}
        assert merged.exempted_open == 1 and merged.resolved == 1
        assert dict(merged.open_by_severity) == {"critical": 1}
        assert merged.tally.as_fixed() == {"high": [1, 10 * DAY_MS, 1]}


def _item(subject: str, severity: str, first_seen: int, now: int, kind: str = "reminder"):
    entry = LedgerEntry.from_violation(found(subject, severity), first_seen)
    collector = DigestCollector({}, now_ms=now)
    collector.add(Alert(kind, entry))  # type: ignore[arg-type]
    return collector.items()[0]


def test_digest_items_say_their_due_date_or_how_overdue() -> None:
    now = MON_0900 + 10 * DAY_MS
    assert _item("a", "critical", MON_0900, now).text().endswith(" · overdue by 3 d")
    assert _item("b", "high", MON_0900, now).text().endswith(" · due 2027-01-06")
    soon = _item("c", "high", now - 28 * DAY_MS, now)
    assert soon.text().endswith(" · due in 2 d (2026-12-19)")
    assert _item("d", "info", MON_0900, now).due_text() is None
    assert _item("e", "critical", MON_0900, now, kind="resolved").due_text() is None


def test_digest_orders_overdue_then_due_soon_then_the_rest() -> None:
    now = MON_0900 + 10 * DAY_MS
    alerts = [
        Alert("new", LedgerEntry.from_violation(found("fresh-high", "high"), now)),
        Alert("reminder", LedgerEntry.from_violation(found("due-soon-medium", "medium"), now - 85 * DAY_MS)),
        Alert("reminder", LedgerEntry.from_violation(found("late-high", "high"), now - 31 * DAY_MS)),
        Alert("resolved", LedgerEntry.from_violation(found("gone-critical", "critical"), now)),
        Alert("overdue", LedgerEntry.from_violation(found("late-low", "low"), now - 200 * DAY_MS)),
    ]
    alerts[3].entry.status = "resolved"
    collector = DigestCollector({}, now_ms=now)
    for alert in alerts:
        collector.add(alert)
    digest = build_digest(collector, target="t", run_id="r", generated_at="g", titles={}, open_by_severity={})
    assert [item.label for item in digest.items] == [
        "late-high",
        "late-low",
        "due-soon-medium",
        "fresh-high",
        "gone-critical",
    ]
    assert digest.title.endswith("1 new, 1 overdue, 2 reminder, 1 resolved")
