"""The ledger's decisions: new, still open, resolved, due, delivered, finished."""

from __future__ import annotations

from imagewatch.alerts.ledger import ChannelRule, due_alerts, is_finished, mark_delivered, reconcile
from imagewatch.violation import Violation

HOUR = 3_600_000


def violation(policy: str, subject: str, severity: str = "high") -> Violation:
    return Violation(policy, policy.title(), severity, subject, f"img on {subject}", f"{policy} broken")


def test_first_sighting_is_new_and_due_everywhere() -> None:
    rec = reconcile({}, [violation("p", "a@h")], {"p"}, now=1000)
    assert [e.subject for e in rec.new] == ["a@h"] and not rec.resolved and not rec.still_open
    alerts = due_alerts(rec.entries.values(), ChannelRule("chat"), 1000)
    assert [(a.kind, a.entry.subject) for a in alerts] == [("new", "a@h")]


def test_delivered_violation_is_quiet_on_the_next_run() -> None:
    rec = reconcile({}, [violation("p", "a@h")], {"p"}, now=1000)
    alerts = due_alerts(rec.entries.values(), ChannelRule("chat"), 1000)
    mark_delivered(alerts, "chat", 1000)
    rec2 = reconcile(rec.entries, [violation("p", "a@h")], {"p"}, now=2000)
    assert not rec2.new and [e.subject for e in rec2.still_open] == ["a@h"]
    assert due_alerts(rec2.entries.values(), ChannelRule("chat"), 2000) == []
    assert rec2.entries[rec.new[0].fingerprint].first_seen == 1000


def test_undelivered_new_alert_is_due_again() -> None:
    rec = reconcile({}, [violation("p", "a@h")], {"p"}, now=1000)
    rec2 = reconcile(rec.entries, [violation("p", "a@h")], {"p"}, now=2000)
    assert [a.kind for a in due_alerts(rec2.entries.values(), ChannelRule("chat"), 2000)] == ["new"]


def test_a_healthy_channel_is_not_told_twice_while_a_failing_one_is_retried() -> None:
    rec = reconcile({}, [violation("p", "a@h")], {"p"}, now=1000)
    mark_delivered(due_alerts(rec.entries.values(), ChannelRule("ok"), 1000), "ok", 1000)
    rec2 = reconcile(rec.entries, [violation("p", "a@h")], {"p"}, now=2000)
    assert due_alerts(rec2.entries.values(), ChannelRule("ok"), 2000) == []
    assert [a.kind for a in due_alerts(rec2.entries.values(), ChannelRule("down"), 2000)] == ["new"]


def test_cleared_violation_resolves_only_on_a_complete_read() -> None:
    rec = reconcile({}, [violation("p", "a@h")], {"p"}, now=1000)
    mark_delivered(due_alerts(rec.entries.values(), ChannelRule("chat"), 1000), "chat", 1000)
    incomplete = reconcile(rec.entries, [], judged_policies=set(), now=2000)
    assert not incomplete.resolved
    assert due_alerts(incomplete.entries.values(), ChannelRule("chat"), 2000) == []
    complete = reconcile(rec.entries, [], judged_policies={"p"}, now=2000)
    assert [e.subject for e in complete.resolved] == ["a@h"]
    alerts = due_alerts(complete.entries.values(), ChannelRule("chat"), 2000)
    assert [a.kind for a in alerts] == ["resolved"]
    entry = complete.resolved[0]
    assert not is_finished(entry, [ChannelRule("chat")])
    mark_delivered(alerts, "chat", 2000)
    assert is_finished(entry, [ChannelRule("chat")])


def test_resolved_is_not_sent_for_what_a_channel_never_heard_of() -> None:
    rec = reconcile({}, [violation("p", "a@h")], {"p"}, now=1000)  # never delivered
    gone = reconcile(rec.entries, [], {"p"}, now=2000)
    assert due_alerts(gone.entries.values(), ChannelRule("chat"), 2000) == []
    assert is_finished(gone.resolved[0], [ChannelRule("chat")])


def test_send_resolved_off_means_no_resolved_notice() -> None:
    rule = ChannelRule("quiet", send_resolved=False)
    rec = reconcile({}, [violation("p", "a@h")], {"p"}, now=1000)
    mark_delivered(due_alerts(rec.entries.values(), rule, 1000), "quiet", 1000)
    gone = reconcile(rec.entries, [], {"p"}, now=2000)
    assert due_alerts(gone.entries.values(), rule, 2000) == []
    assert is_finished(gone.resolved[0], [rule])


def test_reminder_after_repeat_interval() -> None:
    rule = ChannelRule("chat", repeat_interval_ms=24 * HOUR)
    rec = reconcile({}, [violation("p", "a@h")], {"p"}, now=0)
    mark_delivered(due_alerts(rec.entries.values(), rule, 0), "chat", 0)
    assert due_alerts(rec.entries.values(), rule, 24 * HOUR - 1) == []
    alerts = due_alerts(rec.entries.values(), rule, 24 * HOUR)
    assert [a.kind for a in alerts] == ["reminder"]
    mark_delivered(alerts, "chat", 24 * HOUR)
    assert due_alerts(rec.entries.values(), rule, 25 * HOUR) == []


def test_a_violation_back_after_resolution_is_new_again() -> None:
    rec = reconcile({}, [violation("p", "a@h")], {"p"}, now=1000)
    mark_delivered(due_alerts(rec.entries.values(), ChannelRule("chat"), 1000), "chat", 1000)
    gone = reconcile(rec.entries, [], {"p"}, now=2000)
    back = reconcile(gone.entries, [violation("p", "a@h")], {"p"}, now=3000)
    assert [e.subject for e in back.new] == ["a@h"]
    assert [a.kind for a in due_alerts(back.entries.values(), ChannelRule("chat"), 3000)] == ["new"]


def test_reconcile_does_not_mutate_the_previous_ledger() -> None:
    rec = reconcile({}, [violation("p", "a@h")], {"p"}, now=1000)
    before = rec.entries[rec.new[0].fingerprint]
    reconcile(rec.entries, [], {"p"}, now=2000)
    assert before.status == "open" and before.resolved_at is None


def test_other_policies_entries_are_left_alone() -> None:
    rec = reconcile({}, [violation("p", "a@h"), violation("q", "a@h")], {"p", "q"}, now=1000)
    later = reconcile(rec.entries, [violation("q", "a@h")], {"q"}, now=2000)  # p was skipped
    assert not later.resolved
    assert {e.policy_id for e in later.entries.values() if e.status == "open"} == {"p", "q"}


def test_routing_by_severity_floor_policy_globs_and_labels() -> None:
    rec = reconcile(
        {},
        [violation("high-severity", "a@h", "high"), violation("scan-freshness", "a@h", "medium")],
        {"high-severity", "scan-freshness"},
        now=0,
    )
    labels = {"high-severity": {"team": "payments"}}

    def told(rule: ChannelRule) -> list[str]:
        return sorted(a.entry.policy_id for a in due_alerts(rec.entries.values(), rule, 0, labels=labels))

    assert told(ChannelRule("all")) == ["high-severity", "scan-freshness"]
    assert told(ChannelRule("oncall", min_severity="high")) == ["high-severity"]
    assert told(ChannelRule("scans", policies=("scan-*",))) == ["scan-freshness"]
    assert told(ChannelRule("payments", labels=(("team", "pay*"),))) == ["high-severity"]
    assert told(ChannelRule("nobody", labels=(("team", "ops"),))) == []
    assert told(ChannelRule("by-builtin", labels=(("severity", "medium"),))) == ["scan-freshness"]


def test_still_firing_entries_are_rewritten_only_when_changed_or_daily() -> None:
    rec = reconcile({}, [violation("p", "a@h")], {"p"}, now=0)
    same = reconcile(rec.entries, [violation("p", "a@h")], {"p"}, now=HOUR)
    assert same.changed == set() and len(same.still_open) == 1
    reworded = Violation("p", "P", "high", "a@h", "img on a@h", "now with 3 more vulnerabilities")
    assert reconcile(rec.entries, [reworded], {"p"}, now=HOUR).changed == {rec.new[0].fingerprint}
    daily = reconcile(rec.entries, [violation("p", "a@h")], {"p"}, now=24 * HOUR)
    assert daily.changed == {rec.new[0].fingerprint}
    assert daily.entries[rec.new[0].fingerprint].last_seen == 24 * HOUR


def test_a_send_cut_short_by_a_crash_still_earns_its_resolved_notice() -> None:
    from imagewatch.alerts.ledger import mark_attempted

    rule = ChannelRule("chat")
    rec = reconcile({}, [violation("p", "a@h")], {"p"}, now=1000)
    alerts = due_alerts(rec.entries.values(), rule, 1000)
    mark_attempted(alerts, "chat", 1000)  # saved before the send; the process dies before the answer
    again = reconcile(rec.entries, [violation("p", "a@h")], {"p"}, now=2000)
    assert [a.kind for a in due_alerts(again.entries.values(), rule, 2000)] == ["new"]  # sent again
    gone = reconcile(rec.entries, [], {"p"}, now=2000)  # or it cleared before the next run
    assert [a.kind for a in due_alerts(gone.entries.values(), rule, 2000)] == ["resolved"]


def test_a_refused_send_clears_its_mark() -> None:
    from imagewatch.alerts.ledger import mark_attempted, unmark_attempted

    rule = ChannelRule("chat")
    rec = reconcile({}, [violation("p", "a@h")], {"p"}, now=1000)
    alerts = due_alerts(rec.entries.values(), rule, 1000)
    previous = mark_attempted(alerts, "chat", 1000)
    unmark_attempted(alerts, "chat", previous)  # the platform said no: the channel was not told
    gone = reconcile(rec.entries, [], {"p"}, now=2000)
    assert due_alerts(gone.entries.values(), rule, 2000) == []
    assert is_finished(gone.resolved[0], [rule])


def test_a_refused_send_keeps_the_mark_of_an_earlier_interrupted_one() -> None:
    from imagewatch.alerts.ledger import mark_attempted, unmark_attempted

    rule = ChannelRule("chat")
    rec = reconcile({}, [violation("p", "a@h")], {"p"}, now=1000)
    mark_attempted(due_alerts(rec.entries.values(), rule, 1000), "chat", 1000)  # run 1 dies mid-send
    gone = reconcile(rec.entries, [], {"p"}, now=2000)
    resolved = due_alerts(gone.entries.values(), rule, 2000)
    previous = mark_attempted(resolved, "chat", 2000)
    unmark_attempted(resolved, "chat", previous)  # run 2's resolved notice is refused (chat down)
    assert [a.kind for a in due_alerts(gone.entries.values(), rule, 3000)] == ["resolved"]  # still owed
    assert not is_finished(gone.resolved[0], [rule])
