"""``imagewatch preview``: a dry run's digest exactly as it would be sent, the payload then a text view."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from imagewatch.commands.exit_codes import HELP as EXIT_CODES_HELP
from imagewatch.commands.exit_codes import ExitCode, reasons_for, worst
from imagewatch.commands.output import add_output_flags, explain_failure, print_json
from imagewatch.suggest import allowed, did_you_mean

PREVIEW_URL = "https://preview.invalid/webhook"  # never contacted: a dry run sends nothing


def platform_name(value: str) -> str:
    """``--platform``'s type: a platform (or alias) the channels know, else the list and a hint."""
    from imagewatch.alerts import channels

    try:
        return str(channels.platform_for(PREVIEW_URL, value).NAME)
    except ValueError:
        names = list(channels.PLATFORMS)
        raise argparse.ArgumentTypeError(
            f"got {value!r}, expected {allowed(names)}{did_you_mean(value.lower(), names)}"
        ) from None


def add_parser(sub: argparse._SubParsersAction) -> None:
    preview = sub.add_parser(
        "preview",
        help="render a dry run's digest as it would be sent",
        description="A dry run (nothing sent, nothing recorded) whose digests are printed as each\n"
        "channel's platform would receive them: the payload, then a text view. Exits 3 when HSS\n"
        "could not be read, like run.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    which = preview.add_mutually_exclusive_group()
    which.add_argument(
        "--channel", metavar="NAME", help="only this configured channel (default: every channel)"
    )
    which.add_argument(
        "--platform",
        type=platform_name,
        metavar="NAME",
        help="render for this platform, as if one channel of it were configured "
        "(slack, teams, feishu, lark, dingtalk, wecom, discord, googlechat, generic)",
    )
    preview.add_argument(
        "--summary",
        action="store_true",
        help="the periodic summary (docs/summary.md) instead of the check's digest; reads the ledger "
        "and history, not HSS",
    )
    preview.add_argument(
        "--all",
        action="store_true",
        help="every open violation, not only what is due (needs --channel or --platform)",
    )
    add_output_flags(
        preview,
        formats="human: each digest's payload, then as text (the default); "
        "json: the dry run's summary document, payloads included",
    )
    preview.set_defaults(handler=preview_command)


def channel_problem(name: str, configured: list[str]) -> str:
    """``--channel NAME`` names no configured channel: which are, with a hint."""
    if not configured:
        return (
            f"--channel: no channel named {name!r}: none is configured (set WEBHOOK_URL or CHANNELS_FILE); "
            "--platform NAME previews any platform without one"
        )
    return f"--channel: got {name!r}, expected {allowed(configured)}{did_you_mean(name, configured)}"


def preview_command(args: argparse.Namespace) -> int:
    from imagewatch.commands.progress import progress_for
    from imagewatch.commands.verbosity import configure

    configure(args.verbose, args.quiet)
    from imagewatch.alerts.channels import platform_for
    from imagewatch.alerts.delivery import Channel
    from imagewatch.alerts.ledger import ChannelRule
    from imagewatch.handler import build_deps
    from imagewatch.request import RunRequest
    from imagewatch.run import check
    from imagewatch.settings import Settings

    if args.all and args.summary:
        print("imagewatch preview: --all and --summary do not go together (a summary lists the worst images)",
              file=sys.stderr)  # fmt: skip
        return int(ExitCode.CONFIG)
    if args.all and not (args.channel or args.platform):
        print("imagewatch preview: --all needs --channel or --platform", file=sys.stderr)
        return int(ExitCode.CONFIG)
    env = dict(os.environ)
    deps = build_deps(Settings.from_env(env), env)
    progress = progress_for(sys.stderr, args.quiet or args.verbose > 0)
    try:
        if args.platform:
            rule = ChannelRule("preview")
            deps.channels = [Channel("preview", platform_for(PREVIEW_URL, args.platform), PREVIEW_URL, rule)]
        elif args.channel:
            configured = [c.name for c in deps.channels]
            deps.channels = [c for c in deps.channels if c.name == args.channel]
            if not deps.channels:
                print(f"imagewatch preview: {channel_problem(args.channel, configured)}", file=sys.stderr)
                return int(ExitCode.CONFIG)
        name = deps.channels[0].name if deps.channels else None
        action = "summary" if args.summary else "resend" if args.all else "check"
        request = RunRequest("cli", dry_run=True, action=action, channel=name if args.all else None)
        deps.progress = progress
        summary = check(request, deps)
    finally:
        if progress is not None:
            progress.close()
        deps.hss.close()
        deps.deliverer.close()
        deps.store.close()
    reasons = reasons_for(summary, args.fail_on)
    code = worst(list(reasons))
    if args.format == "json":
        print_json(summary)
    elif not args.quiet and summary.get("status") != "failed":
        print_digests(summary, {c.name: c.platform for c in deps.channels})
    if code is not ExitCode.OK:
        explain_failure("preview", summary, reasons, details=args.format != "json")
    return int(code)


def print_digests(summary: dict[str, Any], platforms: dict[str, Any]) -> None:
    """Each digest's payload (JSON, UTF-8) then its text view; or why there is none."""
    if not summary.get("digests"):
        print("nothing would be sent now (no new, reminder or resolved alerts); --all shows every open one")
        return
    for digest in summary["digests"]:
        print(f"--- channel {digest['channel']} ({digest['platform']}): payload ---")
        print_json(digest["payload"])
        print(f"--- channel {digest['channel']} ({digest['platform']}): as text ---")
        print(platforms[digest["channel"]].to_text(digest["payload"]))
