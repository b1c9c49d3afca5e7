"""Upgrading a ledger kept by record subjects (issue 13): the first run adopts it, quietly.

Before image subjects every violation was an image on one host (``image_id@host_id``). The ledger
below is what the old code left after telling the default channel about every known violation, plus
one host of image ``a`` that has gone since and an image fixed meanwhile. Without the adoption, the
first run after the upgrade would announce 8 violations "new" and 10 "resolved"; with it, the channel
hears only what really changed.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from imagewatch.alerts.ledger import Delivery, LedgerEntry
from imagewatch.alerts.sqlite_store import SqliteStore
from imagewatch.handler import lambda_handler
from imagewatch.local_context import LocalContext
from imagewatch.settings import Settings
from imagewatch.standins.webhook_sink import WebhookSink
from imagewatch.violation import fingerprint
from support.known_fleet import EXPECTED, ROOT

HOSTS = {"a": "h1", "b": "h1", "c": "h2", "d": "h2", "f": "h3", "g": "h4", "h": "h4"}


def legacy(policy: str, subject: str, told_at: int, *, label: str) -> LedgerEntry:
    return LedgerEntry(
        fingerprint=fingerprint(policy, subject),
        policy_id=policy,
        subject=subject,
        severity="high",
        label=label,
        message="old words",
        status="open",
        first_seen=told_at - 86_400_000,
        last_seen=told_at,
        deliveries={"default": Delivery(new_at=told_at, last_sent_at=told_at)},
    )


def test_a_record_subject_ledger_is_adopted_without_a_word_about_what_did_not_change(
    env: dict, sink: WebhookSink
) -> None:
    now = int(time.time() * 1000)
    told = now - 3_600_000  # an hour ago: no reminder due yet
    old = [
        legacy(p, f"{image}@{HOSTS[image]}", told, label=f"shop/{image}:1.0 on node-x")
        for p, image in EXPECTED
    ]
    old.append(legacy("high-severity", "a@h6", told - 1, label="shop/a:1.0 on node-h6"))  # a host gone since
    old.append(legacy("malicious-files", "z@h9", told, label="shop/z:1.0 on node-h9"))  # an image fixed since
    target = Settings.from_env(env).target
    store = SqliteStore(env["STATE_PATH"])
    store.save(target, old)
    store.close()

    summary = lambda_handler(json.loads((ROOT / "events" / "scheduled.json").read_text()), LocalContext())

    assert (summary["new"], summary["resolved"], summary["still_open"]) == (0, 1, len(EXPECTED))
    [message] = sink.received
    body = message.json()
    assert [(a["kind"], a["fingerprint"]) for a in body["alerts"]] == [
        ("resolved", fingerprint("malicious-files", "z"))
    ]
    store = SqliteStore(env["STATE_PATH"])
    entries = store.load(target)
    assert store.marker(target, "subjects") == "images-adopted"
    store.close()
    assert all("@" not in entry.subject for entry in entries.values())  # no record entry is left
    a = entries[fingerprint("high-severity", "a")]
    assert a.first_seen == told - 1 - 86_400_000  # the earliest of its hosts
    assert a.deliveries["default"].new_at == told - 1 and a.label == "shop/a:1.0 on 1 host (node-h1)"
    # a second run has nothing to adopt and nothing to say
    again = lambda_handler(json.loads((ROOT / "events" / "scheduled.json").read_text()), LocalContext())
    assert (again["new"], again["resolved"]) == (0, 0) and len(sink.received) == 1


def test_a_fresh_ledger_only_gets_its_marker(env: dict, tmp_path: Path) -> None:
    summary = lambda_handler(json.loads((ROOT / "events" / "scheduled.json").read_text()), LocalContext())
    assert summary["new"] == len(EXPECTED)
    store = SqliteStore(env["STATE_PATH"])
    assert store.marker(Settings.from_env(env).target, "subjects") == "images-adopted"
    store.close()
