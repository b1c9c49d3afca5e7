"""The stand-in toolkit: one answer (``Scripted``), one request (``Received``), and the generic
webhook's ``Behaviour``, which each chat platform's behaviour refines: its URL path, its "yes", its
"too fast", its "this webhook is gone", and the checks it makes before accepting (size limits,
keywords, signatures).

The limits are written out independently of the renderers (from docs/webhooks.md), so a test that a
stand-in accepted a rendered digest proves the renderer kept within them. Where a platform's exact
answer is undocumented the stand-in picks a plausible one and says so.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

_ISO_SECOND = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")


@dataclass(frozen=True, slots=True)
class Scripted:
    """One HTTP answer."""

    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Received:
    """One request as the stand-in saw it (``path`` includes the query)."""

    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def query(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(urlsplit(self.path).query, keep_blank_values=True).items()}


def as_json(status: int, value: object, *headers: tuple[str, str]) -> Scripted:
    body = json.dumps(value).encode()
    return Scripted(status, body, (("Content-Type", "application/json"), *headers))


def strings(value: object) -> str:
    """Every string in a JSON value, joined: what a keyword filter searches."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return "\n".join(strings(v) for v in value.values())
    if isinstance(value, list):
        return "\n".join(strings(v) for v in value)
    return ""


def parse(request: Received) -> dict[str, Any] | None:
    try:
        value = request.json()
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class Behaviour:
    """The generic JSON webhook: 204, HMAC header signature, no limits. Platforms override."""

    name = "generic"
    signed = True  # whether a configured secret means the stand-in verifies a signature

    def path(self, token: str) -> str:
        return f"/hook/{token}"

    def success(self, request: Received) -> Scripted:
        return Scripted(204)

    def throttled(self, retry_after: float) -> Scripted:
        return Scripted(429, b"slow down", (("Retry-After", seconds(retry_after)),))

    def removed(self) -> Scripted:
        return Scripted(410, b"gone")

    def bad_signature(self) -> Scripted:
        return Scripted(401, b"bad signature")

    def verify(self, request: Received, secret: str, now: float) -> bool:
        timestamp = request.headers.get("x-imagewatch-timestamp", "")
        mac = hmac.new(secret.encode(), timestamp.encode() + b"." + request.body, hashlib.sha256)
        fresh = timestamp.isdigit() and abs(now - int(timestamp)) <= 300
        return fresh and hmac.compare_digest(
            "sha256=" + mac.hexdigest(), request.headers.get("x-imagewatch-signature", "")
        )

    def check(self, request: Received, keywords: tuple[str, ...]) -> Scripted | None:
        """A rejection for a payload the platform would refuse, or None. The generic receiver holds
        the body to docs/webhooks.md (version 1): a body without a documented field, or with one of
        the wrong type, is refused with 400, as a strict receiver of ours would."""
        body = parse(request)
        problem = "not a JSON object" if body is None else generic_body_problem(body)
        return Scripted(400, problem.encode()) if problem else None


_OPTIONAL_TEXT = (str, type(None))
GENERIC_FIELDS: dict[str, type | tuple[type, ...]] = {  # docs/webhooks.md, "Generic JSON webhook"
    "source": str, "version": int, "title": str, "target": str, "run_id": str, "generated_at": str,
    "dry_run": bool, "summary": bool, "open_by_severity": dict, "counts": dict, "problems": list,
    "notes": list, "mentions": list, "report_url": _OPTIONAL_TEXT, "alerts": list, "truncated": int,
}  # fmt: skip
GENERIC_ALERT_FIELDS: dict[str, type | tuple[type, ...]] = {
    "kind": str, "severity": str, "policy_id": str, "policy_title": str, "label": str, "message": str,
    "fingerprint": str, "examples": list, "due_at": _OPTIONAL_TEXT, "overdue": bool, "overdue_ms": int,
}  # fmt: skip
GENERIC_KINDS = {"new", "overdue", "reminder", "resolved", "open"}


def _typed(value: object, kind: type | tuple[type, ...]) -> bool:
    """``isinstance``, except that a bool is not an int (JSON tells them apart)."""
    return isinstance(value, kind) and not (isinstance(value, bool) and kind is int)


def generic_body_problem(body: dict[str, Any]) -> str | None:
    """What the generic body lacks or gets wrong against its documented shape, or None."""
    if body.get("source") != "imagewatch" or body.get("version") != 1:
        return "source must be 'imagewatch' and version 1"
    for key, kind in GENERIC_FIELDS.items():
        if key not in body or not _typed(body[key], kind):
            return f"/{key}: missing or not {kind}"
    for n, alert in enumerate(body["alerts"]):
        for key, kind in GENERIC_ALERT_FIELDS.items():
            if not isinstance(alert, dict) or key not in alert or not _typed(alert[key], kind):
                return f"/alerts/{n}/{key}: missing or not {kind}"
        if alert["kind"] not in GENERIC_KINDS:
            return f"/alerts/{n}/kind: {alert['kind']!r} is not a documented kind"
        if alert["overdue"] != (alert["overdue_ms"] > 0) or alert["overdue_ms"] < 0:
            return f"/alerts/{n}/overdue: disagrees with overdue_ms"
        if alert["due_at"] is not None and not _ISO_SECOND.fullmatch(alert["due_at"]):
            return f"/alerts/{n}/due_at: not ISO 8601 UTC (YYYY-MM-DDThh:mm:ssZ)"
    return None


def seconds(value: float) -> str:
    return str(math.ceil(value)) if value != int(value) else str(int(value))
