"""``imagewatch violations``' pure parts: filters, order, rows, and the external sort behind them."""

from __future__ import annotations

import random

import pytest

from imagewatch.alerts.ledger import ChannelRule, Delivery, LedgerEntry
from imagewatch.alerts.listing import (
    NOT_ROUTED,
    UNCONFIRMED,
    ListFilter,
    View,
    csv_cells,
    csv_header,
    human_age,
    listing_order,
    row,
    table_header,
    table_line,
    unknown_policies,
)
from imagewatch.external_sort import ExternalSort

DAY = 86_400_000
NOW = 1_760_000_000_000


def entry(
    fp: str,
    severity: str = "high",
    policy: str = "high-severity",
    label: str = "shop/a:1.0 on 2 hosts (h1, h2)",
    first_seen: int = NOW - DAY,
    status: str = "open",
    deliveries: dict[str, Delivery] | None = None,
) -> LedgerEntry:
    return LedgerEntry(
        fingerprint=fp,
        policy_id=policy,
        subject=fp,
        severity=severity,
        label=label,
        message=f"{label} is bad",
        status=status,  # type: ignore[arg-type]
        first_seen=first_seen,
        last_seen=NOW,
        deliveries=deliveries or {},
    )


def test_severity_keeps_that_and_worse_and_resolved_entries_are_never_listed() -> None:
    entries = [entry(s, severity=s) for s in ("critical", "high", "medium", "low", "info")]
    assert [e.severity for e in entries if ListFilter("high").keeps(e)] == ["critical", "high"]
    assert all(ListFilter().keeps(e) for e in entries)
    assert not ListFilter().keeps(entry("r", status="resolved"))


def test_policy_ids_and_globs_and_a_label_substring_in_any_case() -> None:
    a = entry("a", policy="vuln-critical", label="nginx:1.25 on 6 hosts (ecs-a, …)")
    b = entry("b", policy="scan-freshness", label="redis:7 on 1 host (ecs-b)")
    assert [e.subject for e in (a, b) if ListFilter(policies=("vuln-*",)).keeps(e)] == ["a"]
    assert [e.subject for e in (a, b) if ListFilter(policies=("scan-freshness", "x")).keeps(e)] == ["b"]
    assert [e.subject for e in (a, b) if ListFilter(label="ECS-B").keeps(e)] == ["b"]
    assert unknown_policies(["vuln-*", "scan-freshness", "nope"], ["scan-freshness"]) == ["nope"]


def test_worst_first_then_oldest_first() -> None:
    young_critical = entry("1", severity="critical", first_seen=NOW - DAY)
    old_high = entry("2", severity="high", first_seen=NOW - 9 * DAY)
    young_high = entry("3", severity="high", first_seen=NOW - DAY)
    unknown = entry("4", severity="urgent")  # not a severity this version knows: listed last
    ordered = sorted([unknown, young_high, old_high, young_critical], key=listing_order)
    assert [e.fingerprint for e in ordered] == ["1", "2", "3", "4"]


def test_last_notification_per_channel() -> None:
    told = entry(
        "a",
        severity="medium",
        deliveries={
            "ops": Delivery(new_at=NOW - 2 * DAY, last_sent_at=NOW - 3_600_000),
            "pager": Delivery(attempted_at=NOW - 60_000),
        },
    )
    view = View(("ops", "pager", "sec", "later"), NOW, {"sec": ChannelRule("sec", min_severity="high")})
    data = row(told, view)
    assert data["notified"] == {
        "ops": "2025-10-09T07:53:20Z",
        "pager": UNCONFIRMED,
        "sec": NOT_ROUTED,  # its routing wants high and worse
        "later": None,  # owed, never told
    }
    assert data["age_s"] == 86_400 and data["first_seen"] == "2025-10-08T08:53:20Z"
    line = table_line(told, view)
    assert "1h 0m ago" in line and "unconfirmed" in line and "not routed" in line and "never" in line
    assert line.endswith("shop/a:1.0 on 2 hosts (h1, h2)")
    assert table_header(view).split() == [
        *("SEVERITY", "POLICY", "FIRST", "SEEN", "AGE", "DUE"),
        *("NOTIFIED:ops", "NOTIFIED:pager", "NOTIFIED:sec", "NOTIFIED:later", "LABEL"),
    ]


def test_label_routes_are_judged_only_when_the_packs_labels_are_known() -> None:
    rule = ChannelRule("team", labels=(("team", "payments"),))
    payments = entry("a")
    unknown = View(("team",), NOW, {"team": rule})
    known = View(("team",), NOW, {"team": rule}, labels={"high-severity": {"team": "search"}})
    assert row(payments, unknown)["notified"] == {"team": None}
    assert row(payments, known)["notified"] == {"team": NOT_ROUTED}


def test_csv_has_a_column_per_channel_and_defuses_formulas() -> None:
    view = View(("ops",), NOW)
    hostile = entry("a", label='=HYPERLINK("http://x")', deliveries={"ops": Delivery(last_sent_at=NOW)})
    header = csv_header(view)
    cells = dict(zip(header, csv_cells(row(hostile, view), view), strict=True))
    assert header[-1] == "notified:ops" and cells["notified:ops"] == "2025-10-09T08:53:20Z"
    assert cells["label"] == '\'=HYPERLINK("http://x")'
    assert cells["severity"] == "high"


@pytest.mark.parametrize(
    "label",
    ["\x07=2+5:1.0", "\u202e=2+5", "\u200b@SUM(A1)", "\x1b[31m-1+2", "\n=cmd|' /C calc'!A0", "\t+1"],
)
def test_a_formula_behind_invisible_characters_is_defused_too(label: str) -> None:
    """The hostile review: the guard looked at the first character before the control characters that
    would later be stripped went, so ``\\x07=2+5`` reached the file as ``=2+5``."""
    view = View(("ops",), NOW)
    cells = dict(zip(csv_header(view), csv_cells(row(entry("a", label=label), view), view), strict=True))
    assert cells["label"].startswith("'") and "\n" not in cells["label"] and "\u202e" not in cells["label"]


def test_a_newline_or_bidi_override_in_a_label_cannot_forge_a_table_row() -> None:
    forged = "x\nhigh      fake-policy       2026-01-01 00:00  1d  forged-row\u202e"
    line = table_line(entry("a", label=forged), View(("ops",), NOW))
    assert (
        "\n" not in line
        and "\u202e" not in line
        and line.endswith("x high      fake-policy       2026-01-01 00:00  1d  forged-row")
    )


@pytest.mark.parametrize(
    ("ms", "shown"),
    [
        (0, "0s"),
        (40_000, "40s"),
        (7 * 60_000, "7m"),
        (5 * 3_600_000 + 12 * 60_000, "5h 12m"),
        (3 * DAY + 4 * 3_600_000, "3d 4h"),
    ],
)
def test_human_age(ms: int, shown: str) -> None:
    assert human_age(ms) == shown


@pytest.mark.parametrize("run_size", [1, 3, 7, 10_000])
def test_the_external_sort_gives_what_sorted_gives(run_size: int) -> None:
    """Spilled runs (every size but the last spill) come back whole, typed, and in order."""
    rng = random.Random(7)
    entries = [
        entry(
            f"{i:04d}",
            severity=rng.choice(["critical", "high", "low"]),
            first_seen=NOW - rng.randrange(10) * DAY,
            label=f"image {i}\nwith a newline and ünïcode",
            deliveries={"ops": Delivery(new_at=i)} if i % 2 else {},
        )
        for i in range(25)
    ]
    with ExternalSort(LedgerEntry, listing_order, run_size=run_size) as ordered:
        for item in entries:
            ordered.add(item)
        assert ordered.count == 25
        assert list(ordered) == sorted(entries, key=listing_order)


def test_an_empty_external_sort_is_empty() -> None:
    with ExternalSort(LedgerEntry, listing_order, run_size=2) as ordered:
        assert list(ordered) == []
