"""The run report: JSON evidence of everything a run decided, and a CSV of its violations."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping

from imagewatch.violation import Violation

CSV_COLUMNS = ("fingerprint", "severity", "policy_id", "policy_title", "subject", "label", "message")


def report_key(prefix: str, target: str, started_at: str, run_id: str, suffix: str) -> str:
    """A time-ordered key: ``{prefix}{target}/{YYYY}/{MM}/{DD}/{started_at}-{run_id}.{suffix}``."""
    safe_target = "".join(c if c.isalnum() or c in "-_." else "_" for c in target)
    day = started_at[:10].split("-")
    return f"{prefix}{safe_target}/{day[0]}/{day[1]}/{day[2]}/{started_at}-{run_id}.{suffix}"


def render_json(report: Mapping[str, object]) -> bytes:
    return json.dumps(report, indent=2, sort_keys=True, ensure_ascii=False).encode()


def render_csv(violations: Iterable[Violation]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for violation in violations:
        row = violation.to_dict()
        writer.writerow([_csv_safe(str(row[column])) for column in CSV_COLUMNS])
    return out.getvalue().encode()


def _csv_safe(value: str) -> str:
    """Defuse spreadsheet formulas in inventory text (CSV injection)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
