"""A generic JSON webhook: a documented body, signed with HMAC-SHA256 when a secret is set.

Body (version 1, docs/webhooks.md): ``{"source": "imagewatch", "version": 1, "title", "target",
"run_id", "generated_at", "dry_run", "open_by_severity", "counts", "problems", "notes", "mentions",
"report_url", "summary",
"alerts": [{"kind", "severity", "policy_id", "policy_title", "label", "message", "fingerprint",
"examples", "due_at", "overdue", "overdue_ms"}], "truncated": N}``. ``summary`` is true for the
periodic summary (imagewatch.summary) and false for a run's digest; ``due_at`` is the SLA due date
(ISO 8601 UTC, or null without a clock), ``overdue_ms`` how long past it at this run (0: not overdue).

Signature: ``X-Imagewatch-Timestamp: <unix seconds>`` and
``X-Imagewatch-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + raw body)>``; a receiver
recomputes it over the raw body and rejects timestamps older than five minutes.
Success is any 2xx; 429 and 5xx are retried; other answers are final.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime

from imagewatch.alerts.channels.result import SendResult
from imagewatch.alerts.digest import Digest, fit
from imagewatch.alerts.text import defuse
from imagewatch.retry import parse_retry_after

NAME = "generic"
MIN_INTERVAL_S = 0.0  # no platform limit: the receiver is ours to pace
MAX_ALERTS = 500


def matches(url: str) -> bool:
    """Never recognised from a URL: generic is what an unrecognised URL falls back to."""
    return False


def render(digest: Digest) -> dict[str, object]:
    fitted = fit(digest.items, lambda item: 1, MAX_ALERTS, MAX_ALERTS)
    return {
        "source": "imagewatch",
        "version": 1,
        "title": digest.title,
        "target": defuse(digest.target, "plain", 500),
        "run_id": digest.run_id,
        "generated_at": digest.generated_at,
        "dry_run": digest.dry_run,
        "open_by_severity": dict(digest.open_by_severity),
        "counts": dict(digest.counts),
        "problems": [defuse(problem, "plain", 2000) for problem in digest.problems],
        "notes": [defuse(note, "plain", 2000) for note in digest.notes],
        "mentions": list(digest.mentions),
        "report_url": digest.report_url,
        "summary": digest.summary,
        "alerts": [
            {
                "kind": item.kind,
                "severity": item.severity,
                "policy_id": item.policy_id,
                "policy_title": defuse(item.policy_title, "plain", 300),
                "label": defuse(item.label, "plain", 1000),
                "message": defuse(item.message, "plain", 2000),
                "fingerprint": item.fingerprint,
                "examples": [defuse(example, "plain", 300) for example in item.examples],
                "due_at": iso(item.due_at),
                "overdue": item.overdue_ms > 0,
                "overdue_ms": item.overdue_ms,
            }
            for item in fitted.shown
        ],
        "truncated": fitted.more,
    }


def iso(ms: int | None) -> str | None:
    """A ledger time (ms since the epoch) as ISO 8601 UTC to the second, for receivers' parsers."""
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def sign(secret: str, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def prepare(url: str, payload: dict[str, object], secret: str | None, now: float) -> tuple[str, dict, bytes]:
    body = json.dumps(payload, ensure_ascii=False, sort_keys=True).encode()
    headers = {"Content-Type": "application/json"}
    if secret:
        timestamp = str(int(now))
        headers["X-Imagewatch-Timestamp"] = timestamp
        headers["X-Imagewatch-Signature"] = sign(secret, timestamp, body)
    return url, headers, body


def judge(status: int, headers: dict[str, str], body: bytes, now: float) -> SendResult:
    if 200 <= status < 300:
        return SendResult(ok=True)
    if status == 429 or status >= 500:
        return SendResult(False, True, parse_retry_after(headers.get("retry-after"), now), f"HTTP {status}")
    return SendResult(False, False, None, f"HTTP {status}")


def to_text(payload: dict[str, object]) -> str:
    """A readable view of the body: title, counts, one line per alert."""
    lines = [str(payload["title"]), str(payload["target"]), ""]
    for alert in payload["alerts"]:  # type: ignore[attr-defined]
        lines.append(f"[{alert['kind']}] {alert['severity']} · {alert['policy_title']} · {alert['message']}")
    if payload.get("truncated"):
        lines.append(f"…and {payload['truncated']} more")
    return "\n".join(lines)
