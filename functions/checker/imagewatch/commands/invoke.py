"""``imagewatch invoke EVENT``: the Lambda handler in-process on an event file, as ``sam local invoke``."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path

from imagewatch.commands.output import print_json


def add_parser(sub: argparse._SubParsersAction) -> None:
    invoke = sub.add_parser("invoke", help="run the Lambda handler in-process on an event file")
    invoke.add_argument("event", help="an event JSON file, e.g. events/scheduled.json")
    invoke.add_argument("--timeout", type=float, default=900.0, help="the context's time budget (s)")
    invoke.set_defaults(handler=invoke_command)


def invoke_command(args: argparse.Namespace) -> int:
    from imagewatch.handler import RunFailedError, lambda_handler
    from imagewatch.local_context import LocalContext

    try:
        event = json.loads(Path(args.event).read_text())
    except (OSError, ValueError) as exc:
        print(f"imagewatch invoke: {args.event}: {exc}", file=sys.stderr)
        return 2
    try:
        with contextlib.redirect_stdout(sys.stderr):  # EMF metrics and logs to stderr; stdout: the summary
            summary = lambda_handler(event, LocalContext(timeout_s=args.timeout))
    except RunFailedError as failed:
        print_json(failed.summary)
        print(f"imagewatch invoke: {failed}", file=sys.stderr)
        return 1
    print_json(summary)
    return 1 if summary.get("errors") else 0
