"""The report sink port: where run evidence goes. ``LocalReportSink`` writes under a folder."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol


class ReportSink(Protocol):
    def put(self, key: str, body: bytes, content_type: str) -> str:
        """Store ``body`` under ``key``; return where it is (a path or URI) for the summary."""

    def link(self, key: str) -> str | None:
        """A link a person can open from chat, when one can be made."""


class LocalReportSink:
    """Reports as files under ``root`` (created on first write)."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"LocalReportSink({str(self.root)!r})"

    def put(self, key: str, body: bytes, content_type: str) -> str:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_bytes(body)
        tmp.replace(path)
        return str(path)

    def link(self, key: str) -> str | None:
        return None
