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

import importlib
from types import ModuleType
from typing import Any

from imagewatch.alerts.channels.result import SendResult

__all__ = ["PLATFORMS", "SendResult", "platform_for"]

# Platform modules load on first use, so a run imports only the platforms its channels use.
# Recognition order matters only in that generic, which recognises nothing, comes last.
_NAMES = ("slack", "teams", "feishu", "dingtalk", "wecom", "discord", "googlechat", "generic")
_ALIASES = {"lark": "feishu"}  # one module serves Feishu and Lark: same API, different host


def _load(name: str) -> ModuleType:
    return importlib.import_module(f"imagewatch.alerts.channels.{name}")


def platform_for(url: str, explicit: str | None = None) -> ModuleType:
    """The platform module named ``explicit``, else the one that recognises the URL, else generic JSON."""
    if explicit:
        name = explicit.strip().lower()
        name = _ALIASES.get(name, name)
        if name not in _NAMES:
            known = ", ".join(sorted((*_NAMES, *_ALIASES)))
            raise ValueError(f"platform: got {explicit!r}, expected one of {known}")
        return _load(name)
    for name in _NAMES[:-1]:
        module = _load(name)
        if module.matches(url):
            return module
    return _load("generic")


def __getattr__(name: str) -> Any:
    """``PLATFORMS``: every platform module by name (``lark`` included), loaded on access."""
    if name == "PLATFORMS":
        registry = {platform: _load(platform) for platform in _NAMES}
        return registry | {alias: registry[target] for alias, target in _ALIASES.items()}
    raise AttributeError(f"module 'imagewatch.alerts.channels' has no attribute {name!r}")
