"""Digest building and the Slack / generic renderings: order, budgets, escaping, signing, verdicts."""

from __future__ import annotations

import hashlib
import hmac
import json

from imagewatch.alerts.channels import generic, platform_for, slack
from imagewatch.alerts.digest import HEADER, build_digest
from imagewatch.alerts.ledger import ChannelRule, due_alerts, reconcile
from imagewatch.violation import Violation

SEVERITIES = ["low", "critical", "medium", "high", "info"]


def make_digest(count: int, label: str = "nginx:1.25 on host") -> object:
    found = [
        Violation(
            f"pol-{i % 3}", f"Policy {i % 3}", SEVERITIES[i % 5], f"img{i}@h", f"{label}{i}", f"message {i}"
        )
        for i in range(count)
    ]
    rec = reconcile({}, found, {"pol-0", "pol-1", "pol-2"}, now=0)
    alerts = due_alerts(rec.entries.values(), ChannelRule("c"), 0)
    return build_digest(
        alerts,
        target="cn-north-4/proj/0",
        run_id="run1",
        generated_at="2026-11-26T08:00:00Z",
        titles={"pol-0": "Policy 0"},
        open_by_severity={"high": 100, "low": 100, "critical": 100, "medium": 100, "info": 100},
    )


def test_worst_first_and_counts() -> None:
    digest = make_digest(10)
    severities = [item.severity for item in digest.items]
    order = ["critical", "high", "medium", "low", "info"]
    assert severities == sorted(severities, key=order.index)
    assert digest.counts == {"new": 10}
    assert digest.title == f"{HEADER}: 10 new"
    assert digest.severity_line() == "open: critical 100 · high 100 · medium 100 · low 100 · info 100"


def test_slack_500_violations_fit_block_kit_limits() -> None:
    payload = slack.render(make_digest(500))
    blocks = payload["blocks"]
    assert len(blocks) <= 50
    assert blocks[0]["type"] == "header" and len(blocks[0]["text"]["text"]) <= 150
    assert blocks[0]["text"]["text"].startswith(HEADER)
    for block in blocks:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= 3000
    shown = [b for b in blocks if b["type"] == "section" and "*NEW*" in b["text"]["text"]]
    assert "*CRITICAL*" in shown[0]["text"]["text"]
    closing = blocks[-1]["elements"][0]["text"]
    hidden = 500 - len(shown)
    assert closing.startswith(f"…and {hidden} more (")
    assert len(payload["text"]) <= 40_000


def test_slack_escapes_markup_and_mentions() -> None:
    payload = slack.render(make_digest(1, label="<!channel> <https://evil|click> & *bold*\u202e"))
    text = json.dumps(payload)
    assert "<!channel>" not in text and "<https://evil" not in text
    assert "&lt;!channel&gt;" in text and "&amp;" in text
    assert "\u202e" not in payload["blocks"][3]["text"]["text"]


def test_slack_judges_body_not_just_status() -> None:
    assert slack.judge(200, {}, b"ok", 0).ok
    rejected = slack.judge(400, {}, b"invalid_payload", 0)
    assert not rejected.ok and not rejected.retryable and "invalid_payload" in rejected.detail
    throttled = slack.judge(429, {"retry-after": "7"}, b"", 0)
    assert throttled.retryable and throttled.retry_after == 7.0
    assert not slack.judge(200, {}, b"no_text", 0).ok


def test_generic_body_and_signature_verify() -> None:
    payload = generic.render(make_digest(3))
    assert payload["source"] == "imagewatch" and payload["version"] == 1
    assert [a["severity"] for a in payload["alerts"]] == ["critical", "medium", "low"]
    assert payload["truncated"] == 0
    _, headers, body = generic.prepare("https://example.test/hook", payload, "s3cret", now=1700000000)
    assert headers["X-Imagewatch-Timestamp"] == "1700000000"
    expected = hmac.new(b"s3cret", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert headers["X-Imagewatch-Signature"] == f"sha256={expected}"
    _, unsigned, _ = generic.prepare("https://example.test/hook", payload, None, now=1)
    assert "X-Imagewatch-Signature" not in unsigned


def test_generic_verdicts() -> None:
    assert generic.judge(204, {}, b"", 0).ok
    assert generic.judge(503, {}, b"", 0).retryable
    assert not generic.judge(404, {}, b"", 0).retryable


def test_platform_recognised_from_url_or_named() -> None:
    assert platform_for("https://hooks.slack.com/services/T/B/X") is slack
    assert platform_for("https://example.test/hook") is generic
    assert platform_for("http://127.0.0.1:9/x", "slack") is slack
