"""Escalation channels: only overdue items (by at least N), their own reminders, once per change."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imagewatch.alerts.ledger import ChannelRule, LedgerEntry, due_alerts, mark_delivered, reconcile
from imagewatch.alerts.routing import ChannelsFileError, load_channels
from imagewatch.sla import DAY_MS, HOUR_MS
from imagewatch.violation import Violation

T0 = 1_796_634_000_000  # 2026-12-07 09:00 UTC
ENV = {"LEAD_WEBHOOK_URL": "https://hooks.slack.com/services/T0/B0/xyz"}


def found() -> Violation:
    return Violation("p", "P", "critical", "nginx", "nginx", "nginx is bad", kind="image")


class Ledger:
    """One critical violation (due T0 + 7 d) and the channels that confirm what they are due."""

    def __init__(self, *rules: ChannelRule) -> None:
        self.rules = rules
        self.entries: dict[str, LedgerEntry] = {}

    def run(self, now: int, present: bool = True) -> dict[str, list[str]]:
        self.entries = reconcile(self.entries, [found()] if present else [], {"p"}, now).entries
        heard = {}
        for rule in self.rules:
            alerts = due_alerts(self.entries.values(), rule, now)
            mark_delivered(alerts, rule.name, now)
            heard[rule.name] = [alert.kind for alert in alerts]
        return heard


def test_an_overdue_only_channel_hears_it_when_it_becomes_overdue() -> None:
    lead = ChannelRule("lead", overdue_only=True, repeat_interval_ms=3 * DAY_MS)
    chat = ChannelRule("chat", repeat_interval_ms=None)
    ledger = Ledger(chat, lead)
    assert ledger.run(T0) == {"chat": ["new"], "lead": []}
    assert ledger.run(T0 + 6 * DAY_MS) == {"chat": [], "lead": []}
    assert ledger.run(T0 + 7 * DAY_MS + HOUR_MS) == {"chat": ["overdue"], "lead": ["overdue"]}
    assert ledger.run(T0 + 7 * DAY_MS + 2 * HOUR_MS) == {"chat": [], "lead": []}  # once per change
    assert ledger.run(T0 + 10 * DAY_MS + HOUR_MS) == {"chat": [], "lead": ["reminder"]}
    assert ledger.run(T0 + 11 * DAY_MS, present=False) == {"chat": ["resolved"], "lead": ["resolved"]}


def test_overdue_by_waits_until_it_is_that_late() -> None:
    manager = ChannelRule("manager", overdue_by_ms=3 * DAY_MS, repeat_interval_ms=None)
    ledger = Ledger(manager)
    assert ledger.run(T0) == {"manager": []}
    assert ledger.run(T0 + 9 * DAY_MS) == {"manager": []}  # overdue by 2 d
    assert ledger.run(T0 + 10 * DAY_MS) == {"manager": ["overdue"]}  # by 3 d
    assert ledger.run(T0 + 30 * DAY_MS) == {"manager": []}  # no reminders asked for
    assert ledger.run(T0 + 31 * DAY_MS, present=False) == {"manager": ["resolved"]}


def test_an_escalation_channel_never_told_hears_no_resolved() -> None:
    lead = ChannelRule("lead", overdue_only=True)
    ledger = Ledger(lead)
    ledger.run(T0)
    assert ledger.run(T0 + DAY_MS, present=False) == {"lead": []}


def test_a_failed_escalation_is_due_again() -> None:
    lead = ChannelRule("lead", overdue_only=True)
    entries = reconcile({}, [found()], {"p"}, T0).entries
    late = T0 + 8 * DAY_MS
    assert [a.kind for a in due_alerts(entries.values(), lead, late)] == ["overdue"]
    assert [a.kind for a in due_alerts(entries.values(), lead, late + HOUR_MS)] == ["overdue"]


def _channels(tmp_path: Path, **fields: object) -> Path:
    path = tmp_path / "channels.json"
    path.write_text(json.dumps({"channels": [{"name": "lead", "url": "${LEAD_WEBHOOK_URL}", **fields}]}))
    return path


def test_the_channels_file_says_escalation(tmp_path: Path) -> None:
    (channel,) = load_channels(_channels(tmp_path, overdue_by="3d", repeat_interval="7d"), ENV)
    assert channel.rule.overdue_by_ms == 3 * DAY_MS and channel.rule.repeat_interval_ms == 7 * DAY_MS
    (channel,) = load_channels(_channels(tmp_path, overdue=True), ENV)
    assert channel.rule.overdue_only and channel.rule.escalation


@pytest.mark.parametrize(
    ("fields", "said"),
    [
        ({"overdue_by": "3 days"}, '/channels/0/overdue_by: got "3 days", expected a duration'),
        ({"overdue": "yes"}, '/channels/0/overdue: got "yes", expected a boolean'),
        ({"overdue_bye": "3d"}, "overdue_bye"),
    ],
)
def test_bad_escalation_settings_are_precise(tmp_path: Path, fields: dict, said: str) -> None:
    with pytest.raises(ChannelsFileError) as caught:
        load_channels(_channels(tmp_path, **fields), ENV)
    assert said in str(caught.value)
