"""Chat platforms: one module each, all rendering a ``Digest`` and judging the answer their own way.

A platform module provides:

- ``NAME`` and ``MIN_INTERVAL_S`` (the pace between two posts to one webhook that keeps within the
  platform's documented rate limit);
- ``matches(url) -> bool`` (recognised from the webhook URL's host and path);
- ``render(digest) -> dict`` (the JSON payload, within every documented limit of the platform);
- ``prepare(url, payload, secret, now) -> (url, headers, body)`` (signing, afresh on every attempt);
- ``judge(status, headers, body, now) -> SendResult`` (success means what the platform says it means);
- ``to_text(payload) -> str`` (a readable plain-text view, for previews).
"""

from __future__ import annotations

from types import ModuleType

from imagewatch.alerts.channels import dingtalk, discord, feishu, generic, googlechat, slack, teams, wecom
from imagewatch.alerts.channels.result import SendResult

__all__ = ["PLATFORMS", "SendResult", "platform_for"]

PLATFORMS: dict[str, ModuleType] = {
    module.NAME: module for module in (slack, teams, feishu, dingtalk, wecom, discord, googlechat, generic)
}
PLATFORMS["lark"] = feishu  # one module serves Feishu and Lark: same API, different host
_BY_URL = [module for name, module in PLATFORMS.items() if name != "lark" and module is not generic]


def platform_for(url: str, explicit: str | None = None) -> ModuleType:
    """The platform module named ``explicit``, else the one that recognises the URL, else generic JSON."""
    if explicit:
        name = explicit.strip().lower()
        if name not in PLATFORMS:
            raise ValueError(f"platform: got {explicit!r}, expected one of {', '.join(sorted(PLATFORMS))}")
        return PLATFORMS[name]
    for module in _BY_URL:
        if module.matches(url):
            return module
    return generic
