"""Warnings for silent misconfiguration: a run that works, says "ok", and does less than was meant.

Issue 14: with ``WEBHOOK_URL`` misspelled a run sent nothing and said nothing; a Slack-shaped URL on a
host that is not Slack's went out as generic JSON; without ``HSS_ENTERPRISE_PROJECT_ID`` the run read
only the default enterprise project. Each check here is a pure function of the settings and the
channels (of the environment only the *names* set, never a value: ``Settings.unread``); the run puts
what they say in its summary's ``warnings`` and in its log. None stops a run: each says what the run
did, and how to make it do what was probably meant.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

from imagewatch.alerts.delivery import Channel
from imagewatch.settings import Settings
from imagewatch.suggest import did_you_mean

CHANNEL_VARIABLES = ("WEBHOOK_URL", "CHANNELS_FILE", "CHANNELS_JSON")

# Each platform's webhook path, as its own ``matches(url)`` knows it; ``matches`` also wants the
# platform's host, so the same path on another host (a proxy, a stand-in, a mirror) is sent as generic
# JSON. These shapes tell that case apart from a real generic webhook.
PLATFORM_PATHS: tuple[tuple[str, str, re.Pattern[str]], ...] = (
    ("slack", "Slack", re.compile(r"^/services/[^/]+/[^/]+/[^/]+/?$")),
    ("dingtalk", "DingTalk", re.compile(r"^/robot/send/?$")),
    ("wecom", "WeCom", re.compile(r"^/cgi-bin/webhook/send/?$")),
    ("feishu", "Feishu/Lark", re.compile(r"^/open-apis/bot/v2/hook/[^/]+/?$")),
    ("discord", "Discord", re.compile(r"^/api(/v\d+)?/webhooks/\d+/[^/]+/?$")),
    ("googlechat", "Google Chat", re.compile(r"^/v1/spaces/[^/]+/messages/?$")),
    ("teams", "Teams", re.compile(r"(^|/)workflows/[^/]+/triggers/|^/webhookb2/")),
)


def warnings_for(settings: Settings, channels: Sequence[Channel]) -> list[str]:
    """Every warning for this run's configuration, most consequential first."""
    return [
        *channel_warnings(settings, channels),
        *unread_variable_warnings(settings, channels),
        *enterprise_project_warnings(settings),
    ]


def channel_warnings(settings: Settings, channels: Sequence[Channel]) -> list[str]:
    """No channel at all; channels sent as generic JSON whose URL is shaped like a platform's."""
    if not channels:
        return [no_channel_warning(settings.unread)]
    return [warning for channel in channels if (warning := lookalike_warning(settings, channel))]


def no_channel_warning(unread: Iterable[tuple[str, str]]) -> str:
    """The run will find violations and tell no one; names a misspelt channel variable if one is set."""
    hints = [
        f"{name} is set but not read{did_you_mean(name.upper(), [variable])}"
        for name, variable in unread
        if variable in CHANNEL_VARIABLES
    ]
    return (
        "no channel configured: WEBHOOK_URL, CHANNELS_FILE and CHANNELS_JSON are unset, so this run"
        " notifies no one (violations are still recorded and reported)"
        + (f"; {'; '.join(hints)}" if hints else "")
    )


def platform_lookalike(url: str) -> tuple[str, str] | None:
    """(platform, its name for people) whose webhook path ``url`` has, or None."""
    path = urlsplit(url).path
    for platform, name, shape in PLATFORM_PATHS:
        if shape.search(path):
            return platform, name
    return None


def lookalike_warning(settings: Settings, channel: Channel) -> str | None:
    """A channel sent as generic JSON although its URL's path is a platform's: the platform would
    refuse the generic body, or show it raw. Never quotes the URL (it is a secret), not even its host."""
    if channel.platform_name != "generic":
        return None
    from_webhook_url = settings.channels_file is None and channel.url == settings.webhook_url
    if from_webhook_url and settings.webhook_platform:
        return None  # WEBHOOK_PLATFORM=generic: said out loud
    like = platform_lookalike(channel.url)
    if like is None:
        return None
    platform, name = like
    how = (
        f"set WEBHOOK_PLATFORM={platform} (or WEBHOOK_PLATFORM=generic if generic JSON is meant)"
        if from_webhook_url
        else f'give the channel "platform": "{platform}"'
    )
    return (
        f"channel {channel.name!r}: its URL has {name}'s webhook path but not {name}'s host, so it is"
        f" sent as generic JSON; if it leads to {name} (a proxy, a stand-in), {how}"
    )


def unread_variable_warnings(settings: Settings, channels: Sequence[Channel]) -> list[str]:
    """A name set in the environment that imagewatch does not read, spelled like a variable it reads
    and that is unset (``HSS_ENTERPRISE_PROJECT`` → ``HSS_ENTERPRISE_PROJECT_ID``). Channel variables
    are the no-channel warning's business; with channels configured, a name a channels file may
    reference (``WEBHOOK_*``, ``*_URL``, …) is taken for one."""
    from imagewatch.alerts.routing import REFERENCE_PREFIXES, REFERENCE_SUFFIXES

    out = []
    for name, variable in settings.unread:
        if variable in CHANNEL_VARIABLES:
            continue
        upper = name.upper()
        if channels and (upper.startswith(REFERENCE_PREFIXES) or upper.endswith(REFERENCE_SUFFIXES)):
            continue
        hint = did_you_mean(upper, [variable])
        out.append(f"{name} is set but imagewatch reads no such variable{hint}")
    return out


def enterprise_project_warnings(settings: Settings) -> list[str]:
    """ListImageLocal without ``enterprise_project_id`` lists the default enterprise project ("0")
    only, and its answer does not say whether others exist (docs/hss.md): so say it once, and how to
    read them all. Setting the variable, to ``0`` included, is saying which project is meant."""
    if settings.hss_enterprise_project_id is not None:
        return []
    return [
        'HSS_ENTERPRISE_PROJECT_ID is unset, so only the default enterprise project ("0") was read, and'
        " HSS does not say whether images sit in others: set HSS_ENTERPRISE_PROJECT_ID=all_granted_eps to"
        " read every enterprise project the credentials may read (or to 0 to keep the default and silence"
        " this warning)"
    ]
