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
from imagewatch.untrusted_json import (
    LONE_SURROGATE,
    MAX_DEPTH,
    NOT_UNICODE,
    depth_exceeds,
    has_lone_surrogate,
    lone_surrogate_at,
)

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


def _resolve(value: str, pointer: str, env: Mapping[str, str], problems: list[tuple[str, str]]) -> str:
    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        refused = reference_problem(name)
        if refused and (env.get(name) or name.startswith(RESERVED_PREFIXES) or name in RESERVED_NAMES):
            problems.append((pointer, refused))
            return ""
        if not env.get(name):
            also = f"; {name} is not a channel setting either: use {_ALLOWED}" if refused else ""
            problems.append(
                (pointer, f"${{{name}}} is not set (expected a setting or secret key named {name}){also}")
            )
            return ""
        if has_lone_surrogate(env[name]):  # never quoted: it may be a secret
            problems.append((pointer, f"${{{name}}} is not {NOT_UNICODE}"))
            return ""
        return env[name]

    return _REFERENCE.sub(substitute, value)


def _repeat_ms(value: object, pointer: str, problems: list[tuple[str, str]]) -> int | None:
    if value is None:
        return None
    from imagewatch.policy.durations import parse_duration
    from imagewatch.policy.errors import BadValue

    try:
        return parse_duration(value)
    except BadValue as exc:
        problems.append((pointer, exc.message))
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
    try:
        document = json.loads(text)
    except (ValueError, RecursionError) as exc:  # RecursionError: a long run of [ (not a ValueError)
        raise ChannelsFileError(origin, [f"not JSON ({exc})"]) from None
    if depth_exceeds(document, MAX_DEPTH):  # validating it would recurse past Python's limit
        raise ChannelsFileError(origin, [f"nested more than {MAX_DEPTH} levels deep"])
    if (pointer := lone_surrogate_at(document)) is not None:
        raise ChannelsFileError(origin, [f"{pointer}: {LONE_SURROGATE}"])
    return channels_from_document(document, origin, env)


# Said after "missing required property X", by X.
_REQUIRED_HINTS = {
    "channels": ' (a list of channels, each {"name": …, "url": "${SOME_WEBHOOK_URL}"})',
    "name": ' (a stable name such as "oncall": the ledger remembers per channel what it was told)',
    "url": ' (normally a reference such as "${ONCALL_WEBHOOK_URL}", so the URL stays out of the file)',
}
# Values never quoted in a message: they are, or may hold, webhook URLs and signing secrets.
_SECRET_FIELDS = frozenset({"url", "secret"})


def channels_from_document(document: object, origin: Path | str, env: Mapping[str, str]) -> list[Channel]:
    """The channels of a parsed channels document; ``ChannelsFileError`` lists every problem at once:
    the schema's (in our words) and what a schema cannot say (references, URLs, platforms, duplicate
    names, durations), one per place."""
    errors = list(_validator().iter_errors(document))
    found: list[tuple[str, str]] = []
    if errors:
        from imagewatch.schema_errors import Translator  # only a broken file needs it

        found = Translator(hints=_REQUIRED_HINTS, secret=_SECRET_FIELDS).problems(errors)
    flagged = {pointer for pointer, _ in found}
    items = document.get("channels") if isinstance(document, dict) else None
    channels: list[Channel] = []
    names: set[str] = set()
    for index, item in enumerate(items if isinstance(items, list) else []):
        if isinstance(item, dict):
            channel = _channel(item, f"/channels/{index}", env, names, flagged, found)
            if channel is not None:
                channels.append(channel)
    if found:
        from imagewatch.schema_errors import as_lines, pointer_order

        found.sort(key=lambda problem: pointer_order(problem[0]))
        raise ChannelsFileError(origin, as_lines(found))
    return channels


def _channel(
    item: dict[str, Any],
    at: str,
    env: Mapping[str, str],
    names: set[str],
    flagged: set[str],
    found: list[tuple[str, str]],
) -> Channel | None:
    """One channel, checked beyond the schema; None when it has any problem (each goes to ``found``
    unless the schema already spoke about that place)."""
    mine: list[tuple[str, str]] = []

    def wrong(pointer: str) -> bool:
        return pointer in flagged

    name = item.get("name")
    if isinstance(name, str) and not wrong(f"{at}/name"):
        if name in names:
            mine.append((f"{at}/name", f"{name!r} is used by another channel; names must be unique"))
        names.add(name)
    url = secret = None
    if isinstance(item.get("url"), str) and not wrong(f"{at}/url"):
        url = _resolve(item["url"], f"{at}/url", env, mine)
    if isinstance(item.get("secret"), str) and not wrong(f"{at}/secret"):
        secret = _resolve(item["secret"], f"{at}/secret", env, mine)
    if url:
        try:
            check_webhook_url(f"{at}/url", url, env)
        except SettingsError as exc:
            mine.append((f"{at}/url", f"expected {exc.expected}"))  # never the URL: it is a secret
            url = None
    platform = None
    if url and not wrong(f"{at}/platform"):
        try:
            platform = platform_for(url, item.get("platform"))
        except ValueError as exc:
            mine.append((f"{at}/platform", str(exc)))
    repeat = None
    if not wrong(f"{at}/repeat_interval"):
        repeat = _repeat_ms(item.get("repeat_interval", "24h"), f"{at}/repeat_interval", mine)
    overdue_by = None
    if "overdue_by" in item and not wrong(f"{at}/overdue_by"):
        overdue_by = _repeat_ms(item["overdue_by"], f"{at}/overdue_by", mine)
    raw_mentions = item.get("mentions", ())
    mentions: tuple[str, ...] = ()
    if isinstance(raw_mentions, list) and not wrong(f"{at}/mentions"):
        mentions = tuple(_resolve(m, f"{at}/mentions", env, mine) for m in raw_mentions if isinstance(m, str))
    found += mine
    schema_clean = not any(p == at or p.startswith(at + "/") for p in flagged)
    if mine or not schema_clean or url is None or platform is None:
        return None
    rule = ChannelRule(
        name=item["name"],
        send_resolved=item.get("send_resolved", True),
        repeat_interval_ms=repeat,
        min_severity=item.get("min_severity", "info"),
        policies=tuple(item.get("policies", ())),
        labels=tuple(sorted(item.get("labels", {}).items())),
        overdue_only=item.get("overdue", False),
        overdue_by_ms=overdue_by,
    )
    return Channel(item["name"], platform, url, rule, secret, mentions)


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
