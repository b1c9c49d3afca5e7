"""``imagewatch invoke EVENT``: the Lambda handler in-process on an event file, as ``sam local invoke``."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path

from imagewatch.commands.exit_codes import HELP as EXIT_CODES_HELP
from imagewatch.commands.output import add_output_flags, finish


def budget_seconds(text: str) -> float:
    """``--timeout``: a finite number of seconds in (0, 900], a Lambda function's limits."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value <= 900:  # NaN fails too
        raise argparse.ArgumentTypeError(f"got {text!r}, expected seconds, more than 0 and at most 900")
    return value


def add_parser(sub: argparse._SubParsersAction) -> None:
    invoke = sub.add_parser(
        "invoke",
        help="run the Lambda handler in-process on an event file",
        description="Run the deployed function's handler in this process on an event file, with a\n"
        "Lambda-like context: what the schedule or a manual test event would do. Its logs and\n"
        "metrics go to stderr; no progress line (the function has none).",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    invoke.add_argument("event", help="an event JSON file, e.g. events/scheduled.json ('-' for stdin)")
    invoke.add_argument(
        "--timeout",
        type=budget_seconds,
        default=900.0,
        metavar="SECONDS",
        help="the context's time budget, as the function's Timeout (default 900)",
    )
    add_output_flags(invoke)
    invoke.set_defaults(handler=invoke_command)


def invoke_command(args: argparse.Namespace) -> int:
    from imagewatch.commands.verbosity import configure

    configure(args.verbose, args.quiet)
    from imagewatch.handler import RunFailedError, lambda_handler
    from imagewatch.local_context import LocalContext

    try:
        text = sys.stdin.read() if args.event == "-" else Path(args.event).read_text()
        event = json.loads(text)
    except (OSError, ValueError) as exc:
        print(f"imagewatch invoke: {args.event}: {exc}", file=sys.stderr)
        return 2
    # EMF metrics and print()s to stderr (stdout holds the summary); with --quiet, nowhere
    with contextlib.ExitStack() as stack:
        sink = stack.enter_context(open(os.devnull, "w")) if args.quiet else sys.stderr
        stack.enter_context(contextlib.redirect_stdout(sink))
        try:
            summary = lambda_handler(event, LocalContext(timeout_s=args.timeout))
        except RunFailedError as failed:  # the function raises so Lambda counts an error: here, an exit code
            summary = failed.summary
    return finish("invoke", summary, args)
