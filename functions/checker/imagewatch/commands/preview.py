"""``imagewatch preview``: a dry run's digest exactly as it would be sent, the payload then a text view."""

from __future__ import annotations

import argparse
import os
import sys

from imagewatch.commands.output import print_json


def add_parser(sub: argparse._SubParsersAction) -> None:
    preview = sub.add_parser("preview", help="render a dry run's digest as it would be sent")
    which = preview.add_mutually_exclusive_group()
    which.add_argument("--channel", help="one configured channel (default: every channel)")
    which.add_argument("--platform", help="render for this platform (slack, teams, feishu, …)")
    preview.add_argument("--all", action="store_true", help="every open violation, not only what is due")
    preview.set_defaults(handler=preview_command)


def preview_command(args: argparse.Namespace) -> int:
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
        print_json(digest["payload"])
        print(f"--- channel {digest['channel']} ({digest['platform']}): as text ---")
        print(platforms[digest["channel"]].to_text(digest["payload"]))
    return 0
