"""The report sink port: where run evidence goes. ``LocalReportSink`` writes under a folder.

Small documents are ``put`` whole; reports that grow with the fleet are written through
``open_stream`` so no run holds one in memory. A stream becomes visible under its key only when
closed, so a run that fails half-way leaves no partial file that looks complete.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import BinaryIO, Protocol

log = logging.getLogger(__name__)


class ReportStream(Protocol):
    """One object being written; visible under its key only after ``close``."""

    def write(self, data: bytes) -> None:
        """Append ``data``; raises ``ValueError`` once the stream is closed or aborted."""

    def close(self) -> str:
        """Finish the object and return where it is (as ``ReportSink.put``); repeatable."""

    def abort(self) -> None:
        """Drop everything written. Idempotent, a no-op after ``close``, and never raises: it runs on
        a failure path, whose own error is the one to report."""


class ReportSink(Protocol):
    def put(self, key: str, body: bytes, content_type: str) -> str:
        """Store ``body`` under ``key``; return where it is (a path or URI) for the summary."""

    def open_stream(self, key: str, content_type: str) -> ReportStream:
        """Start writing an object under ``key`` piece by piece (memory independent of its size)."""

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

    def open_stream(self, key: str, content_type: str) -> LocalReportStream:
        return LocalReportStream(self.root / key)

    def link(self, key: str) -> str | None:
        """The report's absolute ``file:`` URI: a URL like the S3 sink's (the generic webhook's
        ``report_url`` stays one), which a browser opens as it is; chat digests show the path it names
        (``channels.common.local_report``)."""
        return Path(os.path.abspath(self.root / key)).as_uri()


class LocalReportStream:
    """Writes ``<key>.tmp`` and renames it to ``<key>`` on close: a crashed run leaves only a
    ``.tmp`` file, never a partial report under the final name."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tmp = path.with_name(path.name + ".tmp")
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: BinaryIO | None = self.tmp.open("wb")
        self._location: str | None = None

    def __repr__(self) -> str:
        return f"LocalReportStream({str(self.path)!r})"

    def write(self, data: bytes) -> None:
        if self._file is None:
            raise ValueError(f"{self!r} is {'closed' if self._location else 'aborted'}")
        self._file.write(data)

    def close(self) -> str:
        if self._location is not None:
            return self._location
        if self._file is None:
            raise ValueError(f"{self!r} is aborted")
        try:
            self._file.close()
            self._file = None
            self.tmp.replace(self.path)
        except BaseException:
            self.abort()
            raise
        self._location = str(self.path)
        return self._location

    def abort(self) -> None:
        if self._location is not None:
            return
        file, self._file = self._file, None
        try:
            if file is not None:
                file.close()
            self.tmp.unlink(missing_ok=True)
        except OSError as error:  # e.g. a full or vanished disk: the .tmp name still marks it partial
            log.warning("could not remove partial report %s: %s", self.tmp, error)
