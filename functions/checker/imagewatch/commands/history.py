"""``imagewatch history``: how the target's open violations trended, and how fast they get fixed.

Reads the run history the checks append (``imagewatch.history``; the SQLite file by default, the
DynamoDB table with ``STATE_TABLE``) for the target the settings name: one range read of at most the
last 90 days (or ``--since``, when longer). Prints the trend — per day (default) or per run: open by
severity, new, resolved, overdue — then MTTR and SLA compliance per severity over 7, 30 and 90 days,
and when the last complete read happened. ``--format json`` carries everything (times in ms and ISO
8601, UTC); ``--format csv`` is the trend table alone.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from imagewatch.commands.choices import choice
from imagewatch.commands.exit_codes import ExitCode
from imagewatch.violation import SEVERITIES

if TYPE_CHECKING:
    from imagewatch.history import RunRecord, TrendRow
    from imagewatch.settings import Settings

FORMATS = ("table", "json", "csv")
PER = ("day", "run")
UNITS_MS = {"h": 3_600_000, "d": 86_400_000, "w": 7 * 86_400_000}
MAX_SINCE_MS = 400 * 86_400_000  # what the stores keep
EXIT_CODES = """exit codes:
  0  shown (possibly nothing: no run recorded yet)
  2  configuration error (flags, settings)
  5  the run history could not be read"""


def since_ms(value: str) -> int:
    """``--since``: a duration back from now, ``30d``, ``12h`` or ``2w`` (at most 400 d, what is kept)."""
    match = re.fullmatch(r"\s*(\d{1,6})\s*([hdw])\s*", value.lower())
    if match is None:
        raise argparse.ArgumentTypeError(
            f"got {value!r}, expected a duration back from now: a whole number and h, d or w (e.g. 30d)"
        )
    ms = int(match[1]) * UNITS_MS[match[2]]
    if not 0 < ms <= MAX_SINCE_MS:
        raise argparse.ArgumentTypeError(
            f"got {value!r}, expected more than 0 and at most 400d (what is kept)"
        )
    return ms


def add_parser(sub: argparse._SubParsersAction) -> None:
    history = sub.add_parser(
        "history",
        help="the open-violation trend, MTTR and SLA compliance from the run history",
        description="The target's run history: open by severity per day or run, new, resolved, overdue; "
        "MTTR and SLA compliance per severity over 7, 30 and 90 days; the last complete read.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    history.add_argument(
        "--since", type=since_ms, default=since_ms("30d"), help="how far back the trend goes (default 30d)"
    )
    history.add_argument(
        "--per", type=choice(PER), default="day", help="a trend row per day (UTC) or per run"
    )
    history.add_argument(
        "--format", type=choice(FORMATS), help="table (default on a terminal), json (default otherwise), csv"
    )
    history.set_defaults(handler=history_command)


def history_command(args: argparse.Namespace) -> int:
    from imagewatch.secret_settings import overlay
    from imagewatch.settings import Settings

    settings = Settings.from_env(overlay(dict(os.environ)))
    fmt = args.format or ("table" if sys.stdout.isatty() else "json")
    try:
        return _show(settings, args.since, args.per, fmt)
    except BrokenPipeError:  # `imagewatch history | head`: the reader has seen enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _show(settings: Settings, since: int, per: str, fmt: str) -> int:
    from imagewatch.alerts.store import StateStoreError
    from imagewatch.handler import build_store
    from imagewatch.history import WINDOWS_MS

    now = int(time.time() * 1000)
    records: list[RunRecord] = []
    if not settings.state_table and not settings.state_path.exists():
        print(
            f"imagewatch history: no ledger at {settings.state_path} yet (a run creates it)", file=sys.stderr
        )
    else:
        store = None
        try:
            store = build_store(settings)
            records = list(store.history(settings.target, now - max(since, max(WINDOWS_MS.values()))))
        except StateStoreError as exc:
            print(f"imagewatch history: {exc}", file=sys.stderr)
            return int(ExitCode.STORE)
        finally:
            if store is not None:
                store.close()
    _write(fmt, view(records, settings.target, now, since, per))
    return 0


def view(records: Sequence[RunRecord], target: str, now: int, since: int, per: str) -> dict[str, Any]:
    """Everything the command shows, JSON-ready (pure: the records, the clock, the flags)."""
    from imagewatch.history import (
        WINDOWS_MS,
        iso,
        last_complete,
        mttr,
        resolved_counts,
        sla_compliance,
        trend,
    )

    rows = trend([r for r in records if r.at > now - since], "run" if per == "run" else "day")
    last = last_complete(records)
    return {
        "target": target,
        "now": iso(now),
        "since": iso(now - since),
        "per": per,
        "runs": sum(row.runs for row in rows),
        "trend": [_row_dict(row) for row in rows],
        "mttr_ms": {name: mttr(records, now, ms) for name, ms in WINDOWS_MS.items()},
        "sla_compliance": {name: sla_compliance(records, now, ms) for name, ms in WINDOWS_MS.items()},
        "resolved": {name: resolved_counts(records, now, ms) for name, ms in WINDOWS_MS.items()},
        "last_complete_read": None if last is None else iso(last.at),
    }


def _row_dict(row: TrendRow) -> dict[str, Any]:
    data = row.to_dict()
    data.pop("fixed")
    return data


TREND_COLUMNS = ("period", "runs", *SEVERITIES, "open", "new", "resolved", "overdue", "exempted")


def _trend_cells(row: dict[str, Any]) -> list[str]:
    by_severity = row["open_by_severity"]
    return [
        row["period"],
        str(row["runs"]),
        *(str(by_severity.get(s, 0)) for s in SEVERITIES),
        *(str(row[name]) for name in ("open", "new", "resolved", "overdue", "exempted")),
    ]


def _write(fmt: str, shown: dict[str, Any]) -> None:
    out = sys.stdout
    if fmt == "json":
        json.dump(shown, out, ensure_ascii=False, indent=2)
        out.write("\n")
    elif fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([*TREND_COLUMNS[:2], "complete_runs", "status", *TREND_COLUMNS[2:]])
        for row in shown["trend"]:
            cells = _trend_cells(row)
            writer.writerow([*cells[:2], row["complete_runs"], row["status"], *cells[2:]])
    else:
        out.write(table(shown))


def _say_ms(ms: float | None) -> str:
    if ms is None:
        return "-"
    hours = ms / 3_600_000
    return f"{hours / 24:.1f} d" if hours >= 24 else f"{hours:.1f} h"


def _say_share(share: float | None) -> str:
    return "-" if share is None else f"{share * 100:.0f}%"


def table(shown: dict[str, Any]) -> str:
    """The human view: the trend, then the MTTR / compliance grid, then the last complete read."""
    lines = [f"target {shown['target']}: {shown['runs']} run(s) since {shown['since']} (per {shown['per']})"]
    rows = [list(TREND_COLUMNS), *(_trend_cells(row) for row in shown["trend"])]
    if not shown["trend"]:
        lines.append("no run recorded in that period")
    else:
        widths = [max(len(row[i]) for row in rows) for i in range(len(TREND_COLUMNS))]
        for row in rows:
            cells = [
                cell.ljust(w) if i == 0 else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            ]
            lines.append("  ".join(cells).upper() if row is rows[0] else "  ".join(cells))
    lines.append("")
    windows = list(shown["mttr_ms"])
    grid = [["severity", *(f"MTTR {w}" for w in windows), *(f"in SLA {w}" for w in windows)]]
    for severity in SEVERITIES:
        grid.append(
            [
                severity,
                *(_say_ms(shown["mttr_ms"][w][severity]) for w in windows),
                *(
                    _say_share(shown["sla_compliance"][w][severity])
                    + (f" of {n}" if (n := shown["resolved"][w].get(severity)) else "")
                    for w in windows
                ),
            ]
        )
    widths = [max(len(row[i]) for row in grid) for i in range(len(grid[0]))]
    for row in grid:
        lines.append(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    lines.append("")
    lines.append(f"last complete read: {shown['last_complete_read'] or 'none recorded'}")
    return "\n".join(lines) + "\n"
