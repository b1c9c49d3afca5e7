"""The ledger's ``update`` kind: a channel that keeps a copy of each finding (Security Hub) hears when
an entry changes; what it confirmed is remembered (``Delivery.told``) only on confirmation, so a
failed update is due again; chat channels never hear it."""

from __future__ import annotations

import msgspec
import pytest
from msgspec import structs

from imagewatch.alerts.ledger import (
    Alert,
    ChannelRule,
    Delivery,
    LedgerEntry,
    due_alert,
    due_alerts,
    mark_attempted,
    mark_delivered,
    reconcile,
    said,
    unmark_attempted,
)
from imagewatch.alerts.store import entry_from_row, entry_to_row
from imagewatch.violation import Violation

HUB = ChannelRule("securityhub", repeat_interval_ms=7 * 86_400_000, send_updates=True)
CHAT = ChannelRule("chat")
NOW = 1_780_000_000_000


def violation(
    message: str = "10 vulnerabilities", severity: str = "high", label: str = "a:1 on 1 host"
) -> Violation:
    return Violation("p", "P", severity, "a", label, message)  # type: ignore[arg-type]


def told_everything(entries: dict[str, LedgerEntry], now: int) -> None:
    """Both channels confirm what they are due (the hub remembers what it now holds)."""
    mark_delivered(due_alerts(entries.values(), HUB, now), HUB.name, now, told=True)
    mark_delivered(due_alerts(entries.values(), CHAT, now), CHAT.name, now)


def settled(before: dict[str, LedgerEntry], now: int, **changes: str) -> dict[str, LedgerEntry]:
    return reconcile(before, [violation(**changes)], {"p"}, now).entries


def test_an_unchanged_entry_owes_nothing_after_it_was_told() -> None:
    first = settled({}, NOW)
    assert [a.kind for a in due_alerts(first.values(), HUB, NOW)] == ["new"]
    told_everything(first, NOW)
    (entry,) = first.values()
    assert entry.deliveries["securityhub"].told == said(entry)
    assert entry.deliveries["chat"].told is None  # chat keeps no copy: nothing to store
    again = settled(first, NOW + 3_600_000)
    assert due_alerts(again.values(), HUB, NOW + 3_600_000) == []
    assert due_alerts(again.values(), CHAT, NOW + 3_600_000) == []


@pytest.mark.parametrize(
    "change",
    [{"message": "20 vulnerabilities"}, {"severity": "critical"}, {"label": "a:1 on 3 hosts (x, y, z)"}],
    ids=["message", "severity", "label"],
)
def test_a_change_is_an_update_for_the_hub_and_nothing_for_chat(change: dict[str, str]) -> None:
    first = settled({}, NOW)
    told_everything(first, NOW)
    later = NOW + 3_600_000
    changed = settled(first, later, **change)
    assert [a.kind for a in due_alerts(changed.values(), HUB, later)] == ["update"]
    assert due_alerts(changed.values(), CHAT, later) == []
    mark_delivered(due_alerts(changed.values(), HUB, later), HUB.name, later, told=True)
    assert due_alerts(settled(changed, later + 1, **change).values(), HUB, later + 1) == []


def test_a_moved_due_date_is_an_update() -> None:
    first = settled({}, NOW)
    told_everything(first, NOW)
    (entry,) = first.values()
    moved = structs.replace(entry, due_at=(entry.due_at or 0) + 86_400_000)
    alert = due_alert(moved, HUB, NOW + 1)
    assert alert is not None and alert.kind == "update"


def test_a_failed_update_is_due_again_and_the_copy_is_not_taken_as_updated() -> None:
    first = settled({}, NOW)
    told_everything(first, NOW)
    changed = settled(first, NOW + 1, message="20 vulnerabilities")
    alerts = due_alerts(changed.values(), HUB, NOW + 1)
    previous = mark_attempted(alerts, HUB.name, NOW + 1)
    unmark_attempted(alerts, HUB.name, previous)  # the service refused it
    (entry,) = changed.values()
    assert entry.deliveries["securityhub"].told != said(entry)
    retried = settled(changed, NOW + 2, message="20 vulnerabilities")
    assert [a.kind for a in due_alerts(retried.values(), HUB, NOW + 2)] == ["update"]


def test_the_hub_is_refreshed_weekly_so_no_finding_ages_out() -> None:
    first = settled({}, NOW)
    told_everything(first, NOW)
    week = NOW + 7 * 86_400_000
    assert [a.kind for a in due_alerts(settled(first, week).values(), HUB, week)] == ["reminder"]
    assert due_alerts(settled(first, week - 1).values(), HUB, week - 1) == []


def test_an_exempted_entry_is_an_update_for_the_hub_only_once_it_was_told() -> None:
    first = settled({}, NOW)
    (fp,) = first
    never_told = reconcile(first, [], {"p"}, NOW + 1, exempted=[fp]).entries
    assert never_told[fp].status == "exempted"
    assert due_alerts(never_told.values(), HUB, NOW + 1) == []  # the hub never held it: nothing to archive
    told_everything(first, NOW)
    paused = reconcile(first, [], {"p"}, NOW + 1, exempted=[fp]).entries
    assert [a.kind for a in due_alerts(paused.values(), HUB, NOW + 1)] == ["update"]
    assert due_alerts(paused.values(), CHAT, NOW + 1) == []  # an exempted entry owes chat nothing
    mark_delivered(due_alerts(paused.values(), HUB, NOW + 1), HUB.name, NOW + 1, told=True)
    assert (
        due_alerts(reconcile(paused, [], {"p"}, NOW + 2, exempted=[fp]).entries.values(), HUB, NOW + 2) == []
    )
    back = settled(paused, NOW + 3)  # the exemption lapsed: open again, and the hub's copy is stale
    assert back[fp].status == "open"
    assert [a.kind for a in due_alerts(back.values(), HUB, NOW + 3)] == ["update"]


def test_an_import_that_got_no_answer_still_owes_the_archive() -> None:
    """The first import's answer never came (its marks stay): the hub may hold the finding, so an
    exemption or a resolution must still reach it."""
    first = settled({}, NOW)
    (fp,) = first
    mark_attempted(due_alerts(first.values(), HUB, NOW), HUB.name, NOW)  # …and nothing after it
    paused = reconcile(first, [], {"p"}, NOW + 1, exempted=[fp]).entries
    assert [a.kind for a in due_alerts(paused.values(), HUB, NOW + 1)] == ["update"]
    gone = reconcile(first, [], {"p"}, NOW + 1).entries
    assert [a.kind for a in due_alerts(gone.values(), HUB, NOW + 1)] == ["resolved"]


def test_resolved_is_still_a_resolved_notice_for_the_hub() -> None:
    first = settled({}, NOW)
    told_everything(first, NOW)
    gone = reconcile(first, [], {"p"}, NOW + 1).entries
    assert [a.kind for a in due_alerts(gone.values(), HUB, NOW + 1)] == ["resolved"]


def test_a_ledger_written_before_told_existed_reads_and_brings_the_copy_up_to_date() -> None:
    first = settled({}, NOW)
    told_everything(first, NOW)
    (entry,) = first.values()
    row = entry_to_row(entry)
    assert row["deliveries"]["securityhub"]["told"] == said(entry)  # type: ignore[index]
    assert "told" not in row["deliveries"]["chat"]  # type: ignore[index]
    assert entry_from_row(row) == entry
    old = {name: {k: v for k, v in d.items() if k != "told"} for name, d in row["deliveries"].items()}  # type: ignore[union-attr]
    for raw in (old, msgspec.json.encode(old).decode()):  # a DynamoDB map / SQLite's JSON text
        read = entry_from_row({**row, "deliveries": raw})
        assert read.deliveries["securityhub"] == Delivery(new_at=NOW, last_sent_at=NOW)
        alert = due_alert(read, HUB, NOW + 1)
        assert alert == Alert("update", read)


def test_chat_rules_never_ask_for_updates() -> None:
    assert ChannelRule("x").send_updates is False


def test_the_sqlite_ledger_keeps_what_the_hub_holds() -> None:
    from imagewatch.alerts.sqlite_store import SqliteStore

    first = settled({}, NOW)
    told_everything(first, NOW)
    store = SqliteStore(":memory:")
    try:
        store.save("t", first.values())
        assert store.load("t") == first
        (entry,) = store.load("t").values()
        assert entry.deliveries["securityhub"].told == said(entry)
    finally:
        store.close()
