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
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit


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
        """A rejection for a payload the platform would refuse, or None."""
        return None


def seconds(value: float) -> str:
    return str(math.ceil(value)) if value != int(value) else str(int(value))
