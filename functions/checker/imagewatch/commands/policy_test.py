"""``imagewatch test``: run the examples policies carry."""

from __future__ import annotations

import argparse
import os
import sys


def add_parser(sub: argparse._SubParsersAction) -> None:
    test = sub.add_parser(
        "test",
        help="run the examples policies carry",
        description=(
            "Run every policy's examples and print each failure with the leaves that decided it."
            " Exit 0 when all pass, 1 when an example fails, 2 when a policy does not load."
        ),
    )
    test.add_argument("paths", nargs="*", help="files or folders (default: POLICY_PATH or policies/)")
    test.set_defaults(handler=examples_command)


def examples_command(args: argparse.Namespace) -> int:
    from imagewatch.policy.examples import run_examples_cli

    return run_examples_cli(args.paths or [os.environ.get("POLICY_PATH", "policies")], sys.stdout)
