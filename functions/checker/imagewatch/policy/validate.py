"""``imagewatch validate``: every file a person writes — policies, channels files, events — checked in
one pass, every problem with its file and JSON pointer, then one verdict.

A folder may hold any mix: each JSON file is judged by what it holds (``kind_of``), not by where it
lies, so ``validate events/`` reads events as events. Files read together are also checked against
each other, as a run would use them: an event's ``policies`` and ``channel`` must name policies and
channels given alongside, and a channel's ``policies`` globs should match one of them. A channels file
or event inside the run's policy folder is an error: a run reads every ``*.json`` there as a policy.

Warnings (a select that may hide images, an exemption expired or lapsing within the run's 14-day
window) do not fail validation. Exit code 2 (a configuration error) on any error, else 0.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, TextIO

from imagewatch.policy.conditions import condition_text
from imagewatch.policy.errors import show
from imagewatch.policy.exemptions import EXPIRING_WINDOW_MS
from imagewatch.policy.files import json_files
from imagewatch.policy.instants import DAY_MS, format_ms
from imagewatch.policy.labels import count
from imagewatch.policy.loader import admit, check_document, read_json
from imagewatch.policy.model import LoadResult, Policy

Kind = Literal["policy", "channels", "event"]

_POLICY_KEYS = frozenset(
    {"id", "title", "severity", "where", "fleet", "message", "select", "exempt", "examples", "examples_now"}
    | {"subject", "labels", "description"}
)
_EVENT_KEYS = frozenset(
    {"source", "action", "scheduled_time", "detail-type", "time", "dry_run", "target", "policies", "channel"}
    | {"version", "account", "region", "resources", "detail"}  # the rest of an EventBridge event
)
_KIND_TEXT = {"channels": "a channels file", "event": "an event", "policy": "a policy"}


def kind_of(document: object) -> Kind:
    """What a parsed JSON file is, by its content: its ``$schema`` when it names ours, a ``channels``
    list, else whichever of the event's and the policy's top-level keys it has more of (a policy on a
    tie, so a file that is neither gets the policy's errors)."""
    if not isinstance(document, dict):
        return "policy"
    schema = document.get("$schema")
    if isinstance(schema, str) and schema.endswith(("channels.schema.json", "policy.schema.json")):
        return "channels" if schema.endswith("channels.schema.json") else "policy"
    if "channels" in document:
        return "channels"
    keys = set(document)
    return "event" if len(keys & _EVENT_KEYS) > len(keys & _POLICY_KEYS) else "policy"


class _PlaceholderEnv(dict):  # type: ignore[type-arg]
    """Every ``${NAME}`` a channels file may reference resolves to a loopback URL, so a file can be
    checked without its secrets (and in local mode, where loopback webhooks are allowed); names it may
    not reference stay unset, so they are reported."""

    def get(self, key: str, default: object = None) -> str | None:  # type: ignore[override]
        from imagewatch.alerts.routing import reference_problem

        return None if reference_problem(key) else "http://127.0.0.1/placeholder"

    def __getitem__(self, key: str) -> str:
        return "http://127.0.0.1/placeholder"


def _span(ms: int) -> str:
    """A stretch of time for people: ``40 minutes``, ``5 hours``, ``1 day``, ``29 days``."""
    if ms < 3_600_000:
        return count(max(ms // 60_000, 1), "minute")
    if ms < DAY_MS:
        return count(ms // 3_600_000, "hour")
    return count(ms // DAY_MS, "day")


def exemption_warnings(policies: Sequence[Policy], now_ms: int) -> list[str]:
    """``FILE POINTER: …`` for each exemption expired at ``now_ms`` or lapsing within the window a run
    warns about (``EXPIRING_WINDOW_MS``): the subject it covers, its date, how long ago or how soon."""
    lines = []
    for policy in policies:
        for exemption in policy.exemptions:
            lapses = exemption.expires_ms
            if lapses is None:
                continue
            owner = f" (owner {exemption.owner})" if exemption.owner else ""
            what = f"the exemption for {condition_text(exemption.condition.node)}{owner}"
            where = f"{policy.source} {exemption.pointer}/expires"
            written = show(exemption.expires)
            if exemption.expired(now_ms):
                lines.append(
                    f"{where}: expired {written} (lapsed {format_ms(lapses)}, {_span(now_ms - lapses)} ago):"
                    f" {what} no longer applies, so its images are violations again; renew it with a later"
                    " date, or remove it"
                )
            elif exemption.expiring_soon(now_ms, EXPIRING_WINDOW_MS):
                lines.append(
                    f"{where}: expires soon, {written} (lapses {format_ms(lapses)},"
                    f" in {_span(lapses - now_ms)}): {what} will stop applying; fix its images or renew it"
                    " before then"
                )
    return lines


class Validation:
    """What one ``imagewatch validate`` found: error and warning lines, valid files by kind."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.warnings: list[str] = []
        self.notes: list[str] = []  # "FILE: valid event", in file order among the errors
        self.valid: Counter[Kind] = Counter()  # valid channels files and events (policies: .policies)
        self.seen: Counter[Kind] = Counter()  # files by kind
        self.files = 0
        self.policies = LoadResult()
        self.owners: dict[str, str] = {}  # policy id -> the file defining it
        self.channel_names: dict[str, str] = {}  # name -> the channels file defining it
        self.channel_globs: list[tuple[str, str, str]] = []  # (file, pointer, glob)
        self.events: list[tuple[str, Any]] = []  # (file, RunRequest)

    def error(self, line: str) -> None:
        self.errors.append(line)
        self.notes.append(line)

    def summary(self) -> str:
        parts = []
        if self.seen["policy"] or not (self.seen["event"] or self.seen["channels"]):
            parts.append(count(len(self.policies.policies), "valid policy", "valid policies"))
        if self.seen["event"]:
            parts.append(count(self.valid["event"], "valid event"))
        if self.seen["channels"]:
            parts.append(count(self.valid["channels"], "valid channels file"))
        parts += [count(len(self.errors), "error"), count(len(self.warnings), "warning")]
        return f"{count(self.files, 'file')}: " + ", ".join(parts)


def _entries(paths: Sequence[str], found: Validation) -> list[tuple[Path, Path | None]]:
    """(file, the folder a symbolic link must stay in) for each JSON file under ``paths``."""
    entries: list[tuple[Path, Path | None]] = []
    for raw in paths:
        root = Path(raw)
        if not root.exists():
            found.error(f"{root} /: no such file or folder")
        elif root.is_dir():
            files = json_files(root)
            if not files:
                found.error(f"{root} /: no JSON files (*.json) found")
            entries += [(path, root) for path in files]
        else:
            entries.append((root, None))
    return entries


def _inside(path: Path, folder: Path | None) -> bool:
    if folder is None or not folder.is_dir():
        return False
    return Path(os.path.realpath(path)).is_relative_to(os.path.realpath(folder))


def _check_channels(document: object, name: str, found: Validation, clean: bool) -> None:
    from imagewatch.alerts.routing import ChannelsFileError, channels_from_document

    try:  # references are checked for shape, not resolved: the values are secrets kept elsewhere
        channels = channels_from_document(document, name, _PlaceholderEnv())
    except ChannelsFileError as refused:
        for problem in refused.problems:
            found.error(f"{name} {problem}")
        return
    if clean:
        found.valid["channels"] += 1
        found.notes.append(f"{name}: valid channels file")
    for index, channel in enumerate(channels):
        found.channel_names.setdefault(channel.name, name)
        found.channel_globs += [
            (name, f"/channels/{index}/policies/{n}", glob) for n, glob in enumerate(channel.rule.policies)
        ]


def _check_event(document: object, name: str, found: Validation, clean: bool) -> None:
    from imagewatch.events import event_problems, parse_event

    problems = event_problems(document)
    for problem in problems:
        found.error(f"{name} {problem}")
    if not problems:
        found.events.append((name, parse_event(document)))
        if clean:
            found.valid["event"] += 1
            found.notes.append(f"{name}: valid event")


def _cross_checks(found: Validation) -> None:
    """The files read together, used together: what an event or a channel names must exist."""
    from fnmatch import fnmatchcase

    from imagewatch.suggest import did_you_mean

    policy_ids = [policy.id for policy in found.policies.policies]
    judged_policies = bool(found.policies.files)
    for name, request in found.events:
        for index, pid in enumerate(request.policy_ids or ()):
            if judged_policies and pid not in policy_ids:
                found.error(
                    f"{name} /policies/{index}: no policy {show(pid)} among the valid policies given with it"
                    f"{did_you_mean(pid, policy_ids)}; a run would check none by that id"
                )
        if (
            request.action == "resend"
            and found.valid["channels"]
            and request.channel not in found.channel_names
        ):
            known = sorted(found.channel_names)
            found.error(
                f"{name} /channel: no channel {show(request.channel)} in the channels file given with it"
                f"{did_you_mean(request.channel, known)}; expected one of {', '.join(known)}"
            )
    if judged_policies:
        for file, pointer, glob in found.channel_globs:
            if not any(fnmatchcase(pid, glob) for pid in policy_ids):
                found.warnings.append(
                    f"{file} {pointer}: {show(glob)} matches none of the valid policies given with it"
                    f"{did_you_mean(glob, policy_ids)}; the channel hears nothing from it"
                )


def validate_files(
    paths: Sequence[str], now_ms: int | None = None, policy_folder: str | Path | None = None
) -> Validation:
    """Check every file under ``paths``; ``policy_folder`` is the folder runs read policies from
    (``POLICY_PATH``), where nothing but policies may lie; ``now_ms`` dates exemptions (default: now)."""
    found = Validation()
    folder = Path(policy_folder) if policy_folder is not None else None
    for path, inside in _entries(paths, found):
        found.files += 1
        name = str(path)
        document, read_errors = read_json(path, name, inside)
        kind = kind_of(document) if document is not None else "policy"
        found.seen[kind] += 1
        if kind != "policy" and _inside(path, folder):
            found.error(
                f"{name} /: {_KIND_TEXT[kind]}, inside the policy folder {folder}: a run reads every *.json"
                " file there as a policy; move it out"
            )
        for error in read_errors:  # malformed JSON, a key given twice: every kind of file
            found.error(str(error))
        if document is None:
            continue
        if kind == "channels":
            _check_channels(document, name, found, clean=not read_errors)
        elif kind == "event":
            _check_event(document, name, found, clean=not read_errors)
        else:
            policy, errors, warnings = check_document(document, name)
            checked = (None if read_errors else policy), errors, warnings
            before = len(found.policies.errors)
            admit(found.policies, found.owners, path, checked)
            for error in found.policies.errors[before:]:
                found.error(str(error))
            found.warnings += [str(warning) for warning in warnings]
    now = int(time.time() * 1000) if now_ms is None else now_ms
    found.warnings += exemption_warnings(found.policies.policies, now)
    _cross_checks(found)
    return found


def validate_cli(
    paths: list[str], out: TextIO, now_ms: int | None = None, policy_folder: str | Path | None = None
) -> int:
    """Validate files or folders (default ``policies``) and print every error, every warning and a
    summary; exit code 2 (a configuration error) on any error, warnings aside."""
    found = validate_files(paths or ["policies"], now_ms, policy_folder)
    for line in found.notes:
        print(line, file=out)
    for warning in found.warnings:
        print(f"warning: {warning}", file=out)
    print(found.summary(), file=out)
    from imagewatch.commands.exit_codes import ExitCode

    return int(ExitCode.CONFIG if found.errors else ExitCode.OK)
