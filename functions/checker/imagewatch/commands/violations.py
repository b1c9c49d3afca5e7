"""``imagewatch violations``: the open violations in the ledger, worst and oldest first.

Reads the ledger the run writes (the SQLite file by default, the DynamoDB table with ``STATE_TABLE``)
for the target the settings name, page by page. Entries pass the filters, then an external sort
(``imagewatch.external_sort``) orders them by severity, then age, holding a bounded number in memory;
rows are written as they come out. ``--severity`` keeps that severity and worse (like ``--fail-on``
and a channel's ``min_severity``). Columns: severity, policy, first seen, age, the last notification
each channel confirmed, and the label (``nginx:1.25 on 6 hosts (…)``). Nothing secret is in an entry.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from imagewatch.commands.choices import choice
from imagewatch.commands.exit_codes import ExitCode
from imagewatch.violation import SEVERITIES

if TYPE_CHECKING:
    from imagewatch.alerts.ledger import ChannelRule, LedgerEntry
    from imagewatch.alerts.listing import ListFilter, View
    from imagewatch.policy import Policy
    from imagewatch.settings import Settings

FORMATS = ("table", "json", "csv")
EXIT_CODES = """exit codes:
  0  listed (possibly nothing)
  2  configuration error (flags, settings)
  5  the ledger could not be read"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    violations = sub.add_parser(
        "violations",
        help="list the open violations in the ledger, worst and oldest first",
        description="The open violations in the ledger, worst and oldest first.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    violations.add_argument(
        "--severity", type=choice(SEVERITIES), help="this severity and worse: " + ", ".join(SEVERITIES)
    )
    violations.add_argument(
        "--policy",
        action="append",
        default=[],
        help="only this policy id or glob, e.g. 'vuln-*' (repeatable)",
    )
    violations.add_argument("--label", help="only labels containing this text (any case): an image, a host")
    violations.add_argument(
        "--format", type=choice(FORMATS), help="table (default on a terminal), json (default otherwise), csv"
    )
    violations.set_defaults(handler=violations_command)


def violations_command(args: argparse.Namespace) -> int:
    from imagewatch.alerts.listing import ListFilter
    from imagewatch.secret_settings import overlay
    from imagewatch.settings import Settings

    env = overlay(dict(os.environ))
    settings = Settings.from_env(env)
    fmt = args.format or ("table" if sys.stdout.isatty() else "json")
    wanted = ListFilter(args.severity, tuple(args.policy), args.label)
    try:
        return _list(settings, env, wanted, fmt)
    except BrokenPipeError:  # `imagewatch violations | head`: the reader has seen enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _list(settings: Settings, env: dict[str, str], wanted: ListFilter, fmt: str) -> int:
    from imagewatch.alerts.ledger import LedgerEntry
    from imagewatch.alerts.listing import View, listing_order
    from imagewatch.alerts.store import StateStoreError
    from imagewatch.external_sort import ExternalSort
    from imagewatch.handler import build_store

    now_ms = int(time.time() * 1000)
    rules = _configured_rules(settings, env)
    if not settings.state_table and not settings.state_path.exists():
        print(
            f"imagewatch violations: no ledger at {settings.state_path} yet (a run creates it)",
            file=sys.stderr,
        )
        _write(fmt, [], View(tuple(rules), now_ms), settings, Counter())
        return 0
    store = None
    try:
        store = build_store(settings)
        with ExternalSort(LedgerEntry, listing_order) as ordered:
            policies: set[str] = set()
            channels: set[str] = set()
            counts: Counter[str] = Counter()
            width = len("POLICY")
            for entry in store.scan(settings.target):  # every page read before the first row is written
                policies.add(entry.policy_id)
                channels.update(entry.deliveries)
                if wanted.keeps(entry):
                    ordered.add(entry)
                    counts[entry.severity] += 1
                    width = max(width, len(entry.policy_id))
            pack = _pack(settings) if wanted.policies or any(r.labels for r in rules.values()) else None
            unknown = _unknown_policies(wanted.policies, policies, pack, settings)
            if unknown:
                print(unknown, file=sys.stderr)
                return int(ExitCode.CONFIG)
            named = (*rules, *sorted(channels - set(rules)))
            labels = {p.id: dict(p.labels) for p in pack if p.labels} if pack is not None else None
            _write(fmt, ordered, View(named, now_ms, rules, labels, width), settings, counts)
    except StateStoreError as exc:
        print(f"imagewatch violations: {exc}", file=sys.stderr)
        return int(ExitCode.STORE)
    finally:
        if store is not None:
            store.close()
    return 0


def _configured_rules(settings: Settings, env: dict[str, str]) -> dict[str, ChannelRule]:
    """The channels the run would send to, with their routing: each gets a column even before it was
    told anything. A channels file that cannot be used now gives none (``doctor`` says why)."""
    from imagewatch.alerts.routing import ChannelsFileError, channels_for
    from imagewatch.settings import SettingsError

    try:
        found = channels_for(
            settings.channels_file,
            settings.webhook_url,
            settings.webhook_secret,
            settings.webhook_platform,
            env,
        )
    except (ChannelsFileError, SettingsError):
        return {}
    return {channel.name: channel.rule for channel in found}


def _pack(settings: Settings) -> list[Policy] | None:
    """The local policy pack's valid policies (their ids and routing labels), or None when it is
    elsewhere (``POLICY_S3_URI``) or missing."""
    if settings.policy_s3_uri or not settings.policy_path.exists():
        return None
    from imagewatch.policy import load_policies

    return load_policies(settings.policy_path).policies


def _unknown_policies(
    asked: Sequence[str], in_ledger: set[str], pack: list[Policy] | None, settings: Settings
) -> str | None:
    """An error for a ``--policy`` id that is neither in the ledger nor in the pack, or None."""
    from imagewatch.alerts.listing import unknown_policies
    from imagewatch.suggest import did_you_mean

    known = in_ledger | {policy.id for policy in pack or ()}
    unknown = unknown_policies(asked, known)
    if not unknown:
        return None
    first = unknown[0]
    return (
        f"imagewatch violations: --policy: got {first!r}, which is no policy id in the ledger or in "
        f"{settings.policy_path}{did_you_mean(first, known)}"
    )


def _write(
    fmt: str, entries: Iterable[LedgerEntry], view: View, settings: Settings, counts: Counter[str]
) -> None:
    from imagewatch.alerts import listing

    out = sys.stdout
    if fmt == "json":  # one array, an object a line: valid JSON, written as the rows come
        out.write("[")
        for index, entry in enumerate(entries):
            out.write(
                ("," if index else "") + "\n" + json.dumps(listing.row(entry, view), ensure_ascii=False)
            )
        out.write("\n]\n")
    elif fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(listing.csv_header(view))
        for entry in entries:
            writer.writerow(listing.csv_cells(listing.row(entry, view), view))
    else:
        total = sum(counts.values())
        if not total:
            print(f"no open violations for target {settings.target}")
            return
        print(listing.table_header(view))
        for entry in entries:
            print(listing.table_line(entry, view))
        by_severity = ", ".join(f"{counts[s]} {s}" for s in SEVERITIES if counts[s])
        print(
            f"{total} open violation{'s' if total != 1 else ''} ({by_severity}) for target {settings.target}"
        )
