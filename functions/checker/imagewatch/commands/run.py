"""``imagewatch run``: one check against the HSS project and channels configured in the environment."""

from __future__ import annotations

import argparse
import os
import sys

from imagewatch.commands.exit_codes import HELP as EXIT_CODES_HELP
from imagewatch.commands.output import add_output_flags, finish


def add_parser(sub: argparse._SubParsersAction) -> None:
    run = sub.add_parser(
        "run",
        help="one check with the settings in your environment",
        description="Read the HSS inventory, evaluate the policies, update the ledger, notify the channels\n"
        "and write the run report, with the settings in your environment (docs/cli.md).",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="evaluate and show what each channel would be sent; send nothing, record nothing",
    )
    run.add_argument(
        "--policy",
        action="append",
        metavar="ID",
        help="evaluate only this policy id (repeatable); an id that is not loaded exits 2",
    )
    add_output_flags(run)
    run.set_defaults(handler=run_command)


def run_command(args: argparse.Namespace) -> int:
    from imagewatch.commands.progress import progress_for
    from imagewatch.commands.verbosity import configure

    configure(args.verbose, args.quiet)
    from imagewatch.handler import handle

    event: dict[str, object] = {"source": "manual", "action": "check", "dry_run": args.dry_run}
    if args.policy:
        event["policies"] = args.policy
    progress = progress_for(sys.stderr, args.quiet or args.verbose > 0)
    try:
        summary = handle(event, os.environ, progress=progress)
    finally:
        if progress is not None:
            progress.close()
    return finish("run", summary, args)
