"""The generic webhook's body: each alert's SLA (due_at, overdue, overdue_ms) and the summary flag,
held to docs/webhooks.md by the generic stand-in's own check of the documented shape."""

from __future__ import annotations

import json
import re
from pathlib import Path

from imagewatch.alerts.channels import generic
from imagewatch.alerts.digest import Digest, DigestItem
from imagewatch.standins.chat.base import GENERIC_ALERT_FIELDS, GENERIC_FIELDS, Behaviour, Received

DOC = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"
DAY = 86_400_000
DUE = 1_796_000_000_000  # 2026-11-30T00:53:20Z


def item(kind: str, **sla: int | None) -> DigestItem:
    return DigestItem(kind, "critical", "p1", "Policy one", "app:1", "app:1 is bad", f"fp-{kind}", **sla)


def digest(*items: DigestItem, summary: bool = False) -> Digest:
    return Digest("cn-north-4/p/0", "run-1", "2026-12-01T00:00:00Z", items, {"critical": 2}, summary=summary)


def accepted(payload: dict) -> str | None:
    """The stand-in's verdict on the body as sent (None: accepted)."""
    _, headers, body = generic.prepare("https://example.test/hook", payload, None, 0)
    answer = Behaviour().check(Received("/hook/t", headers, body), ())
    return None if answer is None else answer.body.decode()


def test_each_alert_carries_its_due_date_and_how_long_it_is_overdue() -> None:
    payload = generic.render(
        digest(
            item("overdue", due_at=DUE, overdue_ms=3 * DAY),
            item("new", due_at=DUE + 7 * DAY, due_in_ms=2 * DAY),
            item("resolved"),
        )
    )
    overdue, new, resolved = payload["alerts"]
    assert (overdue["kind"], overdue["due_at"], overdue["overdue"], overdue["overdue_ms"]) == (
        "overdue",
        "2026-11-30T00:53:20Z",
        True,
        3 * DAY,
    )
    assert (new["due_at"], new["overdue"], new["overdue_ms"]) == ("2026-12-07T00:53:20Z", False, 0)
    assert (resolved["due_at"], resolved["overdue"], resolved["overdue_ms"]) == (None, False, 0)
    assert payload["summary"] is False
    assert accepted(payload) is None


def test_the_summary_is_distinguishable_in_the_body() -> None:
    payload = generic.render(digest(item("open"), item("overdue", due_at=DUE, overdue_ms=DAY), summary=True))
    assert payload["summary"] is True
    assert payload["title"].endswith("weekly summary")
    assert [a["kind"] for a in payload["alerts"]] == ["open", "overdue"]
    assert accepted(payload) is None


def test_the_stand_in_refuses_a_body_that_strays_from_the_documented_shape() -> None:
    good = generic.render(digest(item("overdue", due_at=DUE, overdue_ms=DAY)))
    assert accepted(good) is None
    without_due = json.loads(json.dumps(good))
    del without_due["alerts"][0]["due_at"]
    assert "/alerts/0/due_at" in accepted(without_due)
    contradiction = json.loads(json.dumps(good))
    contradiction["alerts"][0]["overdue"] = False
    assert "/alerts/0/overdue" in accepted(contradiction)
    epoch_ms = json.loads(json.dumps(good))
    epoch_ms["alerts"][0]["due_at"] = str(DUE)
    assert "/alerts/0/due_at" in accepted(epoch_ms)
    no_flag = json.loads(json.dumps(good))
    del no_flag["summary"]
    assert "/summary" in accepted(no_flag)


def test_every_field_the_stand_in_checks_is_documented() -> None:
    text = DOC.read_text()
    section = text[text.index("## Generic JSON webhook") : text.index("## Trying it locally")]
    documented = set(re.findall(r"`([a-z_]+)`", section))
    assert set(GENERIC_FIELDS) - documented == set()
    assert set(GENERIC_ALERT_FIELDS) - documented == set()
