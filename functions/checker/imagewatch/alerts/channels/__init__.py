"""Chat platforms: one module each, all rendering a ``Digest`` and judging the answer their own way.

A platform module provides ``NAME``, ``render(digest) -> dict`` (the JSON payload, within the
platform's limits), ``prepare(url, payload, secret, now) -> (url, headers, body)`` (signing, if any),
and ``judge(status, body) -> SendResult`` (success means what the platform says it means).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from urllib.parse import urlsplit


@dataclass(frozen=True, slots=True)
class SendResult:
    """The platform's verdict on one send."""

    ok: bool
    retryable: bool = False
    retry_after: float | None = None
    detail: str = ""


def platform_for(url: str, explicit: str | None = None) -> ModuleType:
    """The platform module named ``explicit``, else the one the URL's host says, else generic JSON."""
    from imagewatch.alerts.channels import generic, slack

    modules = {module.NAME: module for module in (slack, generic)}
    if explicit:
        if explicit not in modules:
            raise ValueError(f"platform: got {explicit!r}, expected one of {', '.join(sorted(modules))}")
        return modules[explicit]
    host = (urlsplit(url).hostname or "").lower()
    if host == "hooks.slack.com":
        return slack
    return generic
