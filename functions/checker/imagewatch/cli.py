"""The ``imagewatch`` command: run, invoke, preview, validate, test, emulator.

Each sub-command lives in ``imagewatch.commands`` and imports what it needs when it runs, so
``imagewatch --help`` stays fast, and the deployed handler never imports this module.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
import traceback
from collections.abc import Sequence

from imagewatch.commands import COMMANDS
from imagewatch.commands.exit_codes import HELP as EXIT_CODES_HELP
from imagewatch.commands.exit_codes import ExitCode


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="imagewatch",
        description=__doc__.splitlines()[0],
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"imagewatch {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        importlib.import_module(f"imagewatch.commands.{name}").add_parser(sub)
    emulator = sub.add_parser("emulator", help="serve a local HSS emulator on 127.0.0.1", add_help=False)
    emulator.set_defaults(handler=None)
    return parser


def _version() -> str:
    """The installed distribution's version (``pip install``/``-e .``), else the package's own."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("imagewatch")
    except PackageNotFoundError:  # run from a source tree (PYTHONPATH), not installed
        from imagewatch import __version__

        return __version__


INTERRUPTED = 130  # 128 + SIGINT, as shells report a Ctrl-C
TERMINATED = 143  # 128 + SIGTERM


def main(argv: Sequence[str] | None = None) -> int:
    """Every sub-command, with stdout and stderr stripped of terminal control characters: anything the
    CLI prints may quote an HSS error, a webhook answer or a file name.

    SIGTERM (a CI job cancelled, ``timeout``, a container stopping) becomes an exception, so the run's
    context managers delete its temporary workspace and release the target's lease as a Ctrl-C does;
    neither prints a traceback. A bug prints its traceback and exits 70."""
    import signal

    from imagewatch.terminal import safe_output

    def terminate(signum: int, frame: object) -> None:
        raise SystemExit(TERMINATED)

    with contextlib.suppress(ValueError):  # not the main thread (embedded use): leave signals alone
        signal.signal(signal.SIGTERM, terminate)
    with safe_output():
        try:
            return _main(argv)
        except KeyboardInterrupt:
            print("imagewatch: interrupted", file=sys.stderr)
            return INTERRUPTED
        except Exception:
            traceback.print_exc()
            print(
                f"imagewatch: internal error (exit {int(ExitCode.INTERNAL)}): please report it, with the"
                " traceback above",
                file=sys.stderr,
            )
            return int(ExitCode.INTERNAL)


def _main(argv: Sequence[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")  # a terminal wants the result (-v for logs)
    if argv[:1] == ["emulator"]:
        from imagewatch.emulator.cli import main as emulator_main

        return emulator_main(argv[1:])
    args = build_parser().parse_args(argv)
    from imagewatch.commands.exit_codes import MEANING, exit_code_for_error

    try:
        return args.handler(args)
    except Exception as exc:  # settings, files, HSS, the ledger: each error says what and where
        code = exit_code_for_error(exc)
        if code is None:
            raise  # a bug: its traceback is the useful output (main exits 70)
        print(f"imagewatch {args.command}: {exc} (exit {int(code)}: {MEANING[code]})", file=sys.stderr)
        return int(code)


if __name__ == "__main__":
    sys.exit(main())
