"""The ``imagewatch`` command: run, invoke, validate, test, emulator.

Sub-commands import what they need when they run, so ``imagewatch --help`` stays fast, and the
deployed handler never imports this module.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path


def _print_json(data: object) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False))


def _invoke(args: argparse.Namespace) -> int:
    """Run the Lambda handler in-process on an event file, as ``sam local invoke -e`` would."""
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
        _print_json(failed.summary)
        print(f"imagewatch invoke: {failed}", file=sys.stderr)
        return 1
    _print_json(summary)
    return 1 if summary.get("errors") else 0


def _run(args: argparse.Namespace) -> int:
    """One check against the HSS project and webhook configured in the environment."""
    from imagewatch.handler import handle

    event = {"source": "manual", "action": "check", "dry_run": args.dry_run}
    if args.policy:
        event["policies"] = args.policy
    summary = handle(event, os.environ)
    _print_json(summary)
    return 1 if summary.get("errors") else 0


def _preview(args: argparse.Namespace) -> int:
    """Render a dry run's digest exactly as it would be sent: the JSON payload, then a text view."""
    from imagewatch.alerts.channels import platform_for
    from imagewatch.alerts.delivery import Channel
    from imagewatch.alerts.ledger import ChannelRule
    from imagewatch.handler import build_deps
    from imagewatch.request import RunRequest
    from imagewatch.run import check
    from imagewatch.settings import Settings

    if args.all and not (args.channel or args.platform):
        print("imagewatch preview: --all needs --channel or --platform", file=sys.stderr)
        return 2
    env = dict(os.environ)
    deps = build_deps(Settings.from_env(env), env)
    try:
        if args.platform:
            url = "https://preview.invalid/webhook"
            deps.channels = [
                Channel("preview", platform_for(url, args.platform), url, ChannelRule("preview"))
            ]
        elif args.channel:
            deps.channels = [c for c in deps.channels if c.name == args.channel]
            if not deps.channels:
                print(f"imagewatch preview: no channel named {args.channel!r}", file=sys.stderr)
                return 2
        name = deps.channels[0].name if deps.channels else None
        action = "resend" if args.all else "check"
        request = RunRequest("cli", dry_run=True, action=action, channel=name if args.all else None)
        summary = check(request, deps)
    finally:
        deps.hss.close()
        deps.deliverer.close()
        deps.store.close()
    if not summary.get("digests"):
        print("nothing would be sent now (no new, reminder or resolved alerts); --all shows every open one")
        return 0
    platforms = {c.name: c.platform for c in deps.channels}
    for digest in summary["digests"]:
        print(f"--- channel {digest['channel']} ({digest['platform']}): payload ---")
        _print_json(digest["payload"])
        print(f"--- channel {digest['channel']} ({digest['platform']}): as text ---")
        print(platforms[digest["channel"]].to_text(digest["payload"]))
    return 0


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


def _validate(args: argparse.Namespace) -> int:
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


def _test(args: argparse.Namespace) -> int:
    from imagewatch.policy.examples import run_examples_cli

    return run_examples_cli(args.paths or [os.environ.get("POLICY_PATH", "policies")], sys.stdout)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="imagewatch", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    invoke = sub.add_parser("invoke", help="run the Lambda handler in-process on an event file")
    invoke.add_argument("event", help="an event JSON file, e.g. events/scheduled.json")
    invoke.add_argument("--timeout", type=float, default=900.0, help="the context's time budget (s)")
    invoke.set_defaults(handler=_invoke)

    run = sub.add_parser("run", help="one check with the settings in your environment")
    run.add_argument("--dry-run", action="store_true", help="evaluate and print the digest; send nothing")
    run.add_argument("--policy", action="append", help="only this policy id (repeatable)")
    run.set_defaults(handler=_run)

    preview = sub.add_parser("preview", help="render a dry run's digest as it would be sent")
    which = preview.add_mutually_exclusive_group()
    which.add_argument("--channel", help="one configured channel (default: every channel)")
    which.add_argument("--platform", help="render for this platform (slack, teams, feishu, …)")
    preview.add_argument("--all", action="store_true", help="every open violation, not only what is due")
    preview.set_defaults(handler=_preview)

    validate = sub.add_parser(
        "validate", help="check policy files, channel files and events; every error with file and pointer"
    )
    validate.add_argument("paths", nargs="*", help="files or folders (default: POLICY_PATH or policies/)")
    validate.set_defaults(handler=_validate)

    test = sub.add_parser("test", help="run the examples policies carry")
    test.add_argument("paths", nargs="*", help="files or folders (default: POLICY_PATH or policies/)")
    test.set_defaults(handler=_test)

    emulator = sub.add_parser("emulator", help="serve a local HSS emulator on 127.0.0.1", add_help=False)
    emulator.set_defaults(handler=None)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Every sub-command, with stdout and stderr stripped of terminal control characters: anything the
    CLI prints may quote an HSS error, a webhook answer or a file name."""
    from imagewatch.terminal import safe_output

    with safe_output():
        return _main(argv)


def _main(argv: Sequence[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")  # a terminal wants the result, not run logs
    if argv[:1] == ["emulator"]:
        from imagewatch.emulator.cli import main as emulator_main

        return emulator_main(argv[1:])
    args = build_parser().parse_args(argv)
    from imagewatch.alerts.store import StateStoreError
    from imagewatch.hss.errors import HssError

    try:
        return args.handler(args)
    except (ValueError, OSError, StateStoreError, HssError) as exc:  # each says what and where
        print(f"imagewatch {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
