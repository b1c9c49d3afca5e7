"""``imagewatch validate``: policies, channel files and event files; every error, then a verdict."""

from __future__ import annotations

import argparse
import os
import sys


def add_parser(sub: argparse._SubParsersAction) -> None:
    validate = sub.add_parser(
        "validate",
        help="check policy files, channel files and events; every error with file and pointer",
        description=(
            "Check policies, channels files and events — files or folders, in any mix (each JSON file"
            " is judged by its content) — and print every error with its file and JSON pointer."
            " Exit 0 when valid (warnings aside), 2 on any error (a configuration error)."
        ),
    )
    validate.add_argument("paths", nargs="*", help="files or folders (default: POLICY_PATH or policies/)")
    validate.set_defaults(handler=validate_command)


def validate_command(args: argparse.Namespace) -> int:
    """Policies, channels files and events under the paths given (default: the run's policy folder)."""
    from imagewatch.policy.validate import validate_cli

    policy_folder = os.environ.get("POLICY_PATH") or "policies"
    return validate_cli(args.paths or [policy_folder], sys.stdout, policy_folder=policy_folder)
