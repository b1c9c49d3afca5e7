"""What the run commands print, and the flags that choose it: ``--format``, ``-q``, ``-v``, ``--fail-on``.

``--format human`` (the default when stdout is a terminal) prints a short summary; ``--format json``
(the default otherwise, so scripts and pipes keep the document they always had) prints the whole
summary, UTF-8 as it is. Either way the exit code comes from ``exit_codes.exit_code_for``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from typing import IO, Any

from imagewatch.commands.choices import choice
from imagewatch.commands.exit_codes import MEANING, ExitCode, reasons_for, worst
from imagewatch.violation import SEVERITIES

FORMATS = ("human", "json")


def print_json(data: object) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False))


SUMMARY_FORMATS = (
    "human: a short summary (default when stdout is a terminal); "
    "json: the whole summary document (default otherwise, for scripts)"
)


def add_output_flags(
    parser: argparse.ArgumentParser, *, fail_on: bool = True, formats: str = SUMMARY_FORMATS
) -> None:
    """``--format``, ``-q``/``-v`` and (for commands that judge a fleet) ``--fail-on``."""
    group = parser.add_argument_group("output")
    group.add_argument("--format", type=choice(FORMATS), metavar="{human,json}", help=formats)
    loudness = group.add_mutually_exclusive_group()
    loudness.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="print only errors (stderr), no summary and no progress; the exit code says the rest "
        "(an explicit --format json still prints the document)",
    )
    loudness.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="run logs to stderr as JSON lines: -v INFO, -vv DEBUG (secrets never appear)",
    )
    if fail_on:
        group.add_argument(
            "--fail-on",
            type=choice(SEVERITIES),
            metavar="SEVERITY",
            help=f"exit 1 when violations of SEVERITY or worse were found ({', '.join(SEVERITIES)}); "
            "default: violations alone never fail the command",
        )


def output_format(args: argparse.Namespace, stdout: IO[str] | None = None) -> str:
    """``--format``, else human on a terminal and json otherwise."""
    if args.format:
        return str(args.format)
    stream = stdout or sys.stdout
    return "human" if stream.isatty() else "json"


def unwrapped(stream: IO[str]) -> IO[str]:
    """The stream under ``imagewatch.terminal.SafeWriter``: for output whose escapes are our own
    (colours, the progress line), every quoted piece already stripped."""
    return getattr(stream, "inner", stream)


def has_rich() -> bool:
    """rich is the CLI's optional extra (``imagewatch[cli]``): without it, plain text is as complete."""
    try:
        import rich  # noqa: F401  (drawing the summary imports it anyway)
    except ImportError:
        return False
    return True


def print_human(summary: Mapping[str, Any], reasons: Mapping[ExitCode, str]) -> None:
    """The short summary (and, for a dry run, each channel's digest as text): in colour through rich
    on a terminal, plain text otherwise or when rich is not installed."""
    from imagewatch.commands import human

    rows = human.summary_rows(summary, reasons)
    digests = human.digest_rows(summary.get("digests") or []) if summary.get("dry_run") else []
    if sys.stdout.isatty() and has_rich():
        terminal = unwrapped(sys.stdout)
        for heading, text in digests:
            print(f"{heading}\n{text}\n", file=terminal)
        human.render_rich(rows, terminal)
        return
    for heading, text in digests:
        print(f"{heading}\n{text}\n")
    print(human.render_plain(rows))


def explain_failure(
    command: str, summary: Mapping[str, Any], reasons: Mapping[ExitCode, str], *, details: bool = True
) -> None:
    """On stderr: the exit code, what it means and why; with ``details``, the run's errors and
    problems too (the first few), for output that does not show them already."""
    from imagewatch.commands.human import MAX_LISTED

    code = worst(list(reasons))
    print(f"imagewatch {command}: exit {int(code)}, {MEANING[code]}: {reasons[code]}", file=sys.stderr)
    if details:
        said = [*(summary.get("errors") or []), *(summary.get("problems") or [])]
        for line in said[:MAX_LISTED]:
            print(f"  {line}", file=sys.stderr)
        if len(said) > MAX_LISTED:
            print(f"  …and {len(said) - MAX_LISTED} more (--format json shows them all)", file=sys.stderr)


def finish(command: str, summary: Mapping[str, Any], args: argparse.Namespace) -> int:
    """Print ``summary`` as asked and return the exit code it earns. Whatever the format, a run that
    did not succeed says why on stderr (the only output with ``--quiet``)."""
    reasons = reasons_for(summary, getattr(args, "fail_on", None))
    code = worst(list(reasons))
    chosen = output_format(args)
    if chosen == "json" and (args.format or not args.quiet):
        print_json(summary)
    elif chosen == "human" and not args.quiet:
        print_human(summary, reasons)
    if code is not ExitCode.OK and (chosen == "json" or args.quiet):
        explain_failure(command, summary, reasons, details=args.quiet)
    return int(code)
