"""``imagewatch validate``: policies, channel files and event files; every error, then a verdict."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    validate = sub.add_parser(
        "validate", help="check policy files, channel files and events; every error with file and pointer"
    )
    validate.add_argument("paths", nargs="*", help="files or folders (default: POLICY_PATH or policies/)")
    validate.set_defaults(handler=validate_command)


def _kind_of(path: Path) -> str:
    """``channels`` or ``event`` for such JSON files (by their top-level keys), else ``policy``."""
    if path.is_file():
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return "policy"  # the policy loader reports unreadable JSON with line and column
        if isinstance(document, dict) and "channels" in document:
            return "channels"
        if isinstance(document, dict) and "source" in document and "title" not in document:
            return "event"
    return "policy"


def validate_command(args: argparse.Namespace) -> int:
    """Policies (files or folders), channel files and event files: every error, then a verdict."""
    from imagewatch.alerts.routing import ChannelsFileError, load_channels
    from imagewatch.events import EventError, parse_event
    from imagewatch.policy.validate import validate_cli

    paths = [Path(p) for p in (args.paths or [os.environ.get("POLICY_PATH", "policies")])]
    failed = 0
    for path in paths:
        kind = _kind_of(path)
        if kind == "channels":
            try:  # references are checked for shape, not resolved: the values are secrets elsewhere
                load_channels(path, _PlaceholderEnv())
                print(f"{path}: valid channels file")
            except ChannelsFileError as exc:
                failed = 1
                for problem in exc.problems:
                    print(f"{path} {problem}")
        elif kind == "event":
            try:
                parse_event(json.loads(path.read_text(encoding="utf-8")))
                print(f"{path}: valid event")
            except EventError as exc:
                failed = 1
                print(f"{path} {exc}")
    policy_paths = [str(p) for p in paths if _kind_of(p) == "policy"]
    if policy_paths:
        failed |= validate_cli(policy_paths, sys.stdout)
    return failed


class _PlaceholderEnv(dict):
    """Every ``${NAME}`` a channels file may reference resolves to a loopback URL, so a file can be
    checked without its secrets (and in local mode, where loopback webhooks are allowed); names it may
    not reference stay unset, so they are reported."""

    def get(self, key: str, default: object = None) -> str | None:  # type: ignore[override]
        from imagewatch.alerts.routing import reference_problem

        return None if reference_problem(key) else "http://127.0.0.1/placeholder"

    def __getitem__(self, key: str) -> str:
        return "http://127.0.0.1/placeholder"
