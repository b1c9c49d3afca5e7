"""``imagewatch run``: one check against the HSS project and channels configured in the environment."""

from __future__ import annotations

import argparse
import os

from imagewatch.commands.output import print_json


def add_parser(sub: argparse._SubParsersAction) -> None:
    run = sub.add_parser("run", help="one check with the settings in your environment")
    run.add_argument("--dry-run", action="store_true", help="evaluate and print the digest; send nothing")
    run.add_argument("--policy", action="append", help="only this policy id (repeatable)")
    run.set_defaults(handler=run_command)


def run_command(args: argparse.Namespace) -> int:
    from imagewatch.handler import handle

    event = {"source": "manual", "action": "check", "dry_run": args.dry_run}
    if args.policy:
        event["policies"] = args.policy
    summary = handle(event, os.environ)
    print_json(summary)
    return 1 if summary.get("errors") else 0
