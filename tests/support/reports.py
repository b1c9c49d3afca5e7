"""Reading what a run wrote: the summary document, and the gzipped JSON Lines and CSV of violations."""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path
from typing import Any


def text(path: Path | str) -> str:
    """A report file's text, gunzipped when it is a ``.gz``."""
    raw = Path(path).read_bytes()
    return (gzip.decompress(raw) if str(path).endswith(".gz") else raw).decode()


def rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Every row of the run's violations file (JSON Lines)."""
    return [json.loads(line) for line in text(summary["report"]["jsonl"]).splitlines() if line]


def csv_rows(summary: dict[str, Any]) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text(summary["report"]["csv"]))))


def every_text(root: Path) -> list[str]:
    """The text of every report file under ``root`` (for secret searches)."""
    return [text(path) for path in root.rglob("*") if path.is_file()]
