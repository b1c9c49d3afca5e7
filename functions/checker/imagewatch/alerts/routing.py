"""Which chat channels a run has: ``CHANNELS_FILE`` (several, with routing) or ``WEBHOOK_URL`` alone.

The channels file is JSON, checked against ``channels.schema.json``; its ``url``, ``secret`` and
``mentions`` may reference a setting as ``${NAME}``, resolved from the run's settings (environment plus
the settings secret), so webhook URLs and signing secrets never sit in the file. Only channel settings
may be referenced (``reference_problem``): whoever writes the channels document must not be able to
mail the function's AWS or HSS credentials to a webhook. Webhook URLs must point at public hosts
(``check_webhook_url``). Errors name the file, the JSON pointer and what was expected — never a
resolved secret value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from imagewatch.alerts.channels import platform_for
from imagewatch.alerts.delivery import Channel
from imagewatch.alerts.ledger import DEFAULT_REPEAT_INTERVAL_MS, ChannelRule
from imagewatch.settings import SettingsError, check_webhook_url

# Any name-shaped reference is checked (``${_X_AMZN_TRACE_ID}``, ``${path}`` too), not only the
# names it may resolve: a reference is never left in place unexamined.
_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
DEFAULT_CHANNEL = "default"


class ChannelsFileError(ValueError):
    """The channels file is unusable; lists every problem with its pointer."""

    def __init__(self, path: Path | str, problems: list[str]) -> None:
        self.path = str(path)
        self.problems = problems
        super().__init__(f"{path}: " + "; ".join(problems))


@cache
def _validator() -> Draft202012Validator:
    schema = json.loads((Path(__file__).parent / "channels.schema.json").read_text())
    return Draft202012Validator(schema)


def _pointer(parts: Any) -> str:
    return "/" + "/".join(str(p) for p in parts)


# What ``${NAME}`` may name: settings that exist for channels. An allowlist, so that nothing else in
# the function's environment (AWS_SESSION_TOKEN, HSS_SK, …) can be sent to a webhook.
REFERENCE_PREFIXES = ("WEBHOOK_", "CHANNEL_", "IMAGEWATCH_")
REFERENCE_SUFFIXES = ("_URL", "_WEBHOOK", "_SECRET")
# Never, whatever the name ends with: the runtime's and imagewatch's own credentials and settings.
RESERVED_PREFIXES = ("AWS_", "HSS_", "LAMBDA_", "_", "SETTINGS_", "POWERTOOLS_")
RESERVED_NAMES = frozenset({"WEBHOOK_HOST_ALLOWLIST"})
_ALLOWED = (
    "a channel setting: WEBHOOK_*, CHANNEL_*, IMAGEWATCH_* or *_URL, *_WEBHOOK, *_SECRET "
    "(never AWS_*, HSS_*, LAMBDA_*, SETTINGS_*, POWERTOOLS_* or _*)"
)


def reference_problem(name: str) -> str | None:
    """Why ``${name}`` may not be referenced from a channels document, or None."""
    if name in RESERVED_NAMES or name.startswith(RESERVED_PREFIXES):
        return f"${{{name}}} may not be referenced (expected {_ALLOWED})"
    if name.startswith(REFERENCE_PREFIXES) or name.endswith(REFERENCE_SUFFIXES):
        return None
    return f"${{{name}}} is not a channel setting (expected {_ALLOWED})"


def _resolve(value: str, pointer: str, env: Mapping[str, str], problems: list[str]) -> str:
    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        refused = reference_problem(name)
        if refused and (env.get(name) or name.startswith(RESERVED_PREFIXES) or name in RESERVED_NAMES):
            problems.append(f"{pointer}: {refused}")
            return ""
        if not env.get(name):
            also = f"; {name} is not a channel setting either: use {_ALLOWED}" if refused else ""
            problems.append(
                f"{pointer}: ${{{name}}} is not set (expected a setting or secret key named {name}){also}"
            )
            return ""
        return env[name]

    return _REFERENCE.sub(substitute, value)


def _repeat_ms(value: object, pointer: str, problems: list[str]) -> int | None:
    if value is None:
        return None
    from imagewatch.policy.durations import parse_duration
    from imagewatch.policy.errors import BadValue

    try:
        return parse_duration(value)
    except BadValue as exc:
        problems.append(f"{pointer}: {exc.message}")
        return None


def load_channels(path: Path | str, env: Mapping[str, str]) -> list[Channel]:
    """Read, validate and resolve a channels file; ``ChannelsFileError`` lists every problem."""
    from imagewatch.policy.files import MAX_FILE_BYTES, FileRefused, read_regular_file

    try:  # a regular file, size-checked, read with a bound: never /dev/zero or a FIFO (issue 12, row 9)
        text = read_regular_file(path, MAX_FILE_BYTES, "for a channels file").decode("utf-8")
    except FileRefused as refused:
        raise ChannelsFileError(path, [refused.message]) from None
    except UnicodeDecodeError as exc:
        raise ChannelsFileError(path, [f"not UTF-8 text (byte {exc.start})"]) from None
    return parse_channels(text, path, env)


def parse_channels(text: str, origin: Path | str, env: Mapping[str, str]) -> list[Channel]:
    """A channels document given as text (``CHANNELS_JSON``, or a file's content); ``origin`` names it."""
    path = origin
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise ChannelsFileError(path, [f"not JSON ({exc})"]) from None
    problems = [
        f"{_pointer(error.absolute_path)}: {error.message}"
        for error in sorted(_validator().iter_errors(document), key=lambda e: list(e.absolute_path))
    ]
    if problems:
        raise ChannelsFileError(path, problems)
    channels: list[Channel] = []
    names: set[str] = set()
    for index, item in enumerate(document["channels"]):
        at = f"/channels/{index}"
        if item["name"] in names:
            problems.append(f"{at}/name: {item['name']!r} is used by another channel; names must be unique")
        names.add(item["name"])
        url = _resolve(item["url"], f"{at}/url", env, problems)
        secret = _resolve(item["secret"], f"{at}/secret", env, problems) if "secret" in item else None
        if url:
            try:
                check_webhook_url(f"{at}/url", url, env)
            except SettingsError as exc:
                problems.append(f"{at}/url: expected {exc.expected}")  # never the URL: it is a secret
                continue
        try:
            platform = platform_for(url, item.get("platform"))
        except ValueError as exc:
            problems.append(f"{at}/platform: {exc}")
            continue
        default_repeat = item.get("repeat_interval", "24h")
        rule = ChannelRule(
            name=item["name"],
            send_resolved=item.get("send_resolved", True),
            repeat_interval_ms=_repeat_ms(default_repeat, f"{at}/repeat_interval", problems),
            min_severity=item.get("min_severity", "info"),
            policies=tuple(item.get("policies", ())),
            labels=tuple(sorted(item.get("labels", {}).items())),
        )
        mentions = tuple(_resolve(m, f"{at}/mentions", env, problems) for m in item.get("mentions", ()))
        channels.append(Channel(item["name"], platform, url, rule, secret, mentions))
    if problems:
        raise ChannelsFileError(path, problems)
    return channels


def channels_for(
    channels_file: Path | None,
    webhook_url: str | None,
    webhook_secret: str | None,
    webhook_platform: str | None,
    env: Mapping[str, str],
) -> list[Channel]:
    """The run's channels: ``CHANNELS_JSON`` (the document itself, e.g. kept in the settings secret)
    or ``CHANNELS_FILE`` when set, else one ``default`` channel for ``WEBHOOK_URL``."""
    if env.get("CHANNELS_JSON"):
        return parse_channels(env["CHANNELS_JSON"], "CHANNELS_JSON", env)
    if channels_file is not None:
        return load_channels(channels_file, env)
    if not webhook_url:
        return []
    try:
        platform = platform_for(webhook_url, webhook_platform)
    except ValueError as exc:
        raise SettingsError(
            "WEBHOOK_PLATFORM", webhook_platform, str(exc).split("expected ", 1)[-1]
        ) from None
    rule = ChannelRule(DEFAULT_CHANNEL, repeat_interval_ms=DEFAULT_REPEAT_INTERVAL_MS)
    return [Channel(DEFAULT_CHANNEL, platform, webhook_url, rule, webhook_secret)]
