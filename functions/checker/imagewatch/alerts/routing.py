"""Which chat channels a run has: ``CHANNELS_FILE`` (several, with routing) or ``WEBHOOK_URL`` alone.

The channels file is JSON, checked against ``channels.schema.json``; any string may reference a
setting as ``${NAME}``, resolved from the run's settings (environment plus the settings secret), so
webhook URLs and signing secrets never sit in the file. Errors name the file, the JSON pointer and
what was expected — never a resolved secret value.
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
from imagewatch.settings import SettingsError, check_url

_REFERENCE = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")
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


def _resolve(value: str, pointer: str, env: Mapping[str, str], problems: list[str]) -> str:
    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if not env.get(name):
            problems.append(
                f"{pointer}: ${{{name}}} is not set (expected a setting or secret key named {name})"
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
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ChannelsFileError(path, [f"cannot read it ({exc.strerror})"]) from None
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
                check_url(f"{at}/url", url)
            except SettingsError:
                problems.append(f"{at}/url: expected an https:// URL (http:// only for 127.0.0.1/localhost)")
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
