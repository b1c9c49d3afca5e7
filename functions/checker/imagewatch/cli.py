"""The ``imagewatch`` command: run, invoke, validate, test, preview, emulator.

Sub-commands import what they need when they run, so ``imagewatch --help`` stays fast and the
deployed handler never imports this module.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _emulator(args: argparse.Namespace, rest: list[str]) -> int:
    from imagewatch.emulator.cli import main as emulator_main

    return emulator_main(rest)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="imagewatch", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    emulator = sub.add_parser("emulator", help="serve a local HSS emulator on 127.0.0.1", add_help=False)
    emulator.set_defaults(handler=_emulator)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    return args.handler(args, rest)


if __name__ == "__main__":
    sys.exit(main())
