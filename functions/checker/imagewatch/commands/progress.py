"""A progress line on stderr while HSS listings are read: pages and records of ``total_num``, rate,
ETA, retries and throttles.

Only on a terminal: never when stderr is a pipe or file, in CI (``CI`` set) or in Lambda (the CLI is
not on the function's path at all). ``ProgressTracker`` is pure (figures and clock readings in, a
``Snapshot`` out); ``TerminalProgress`` is the callback the paging loop calls after each page
(``Listing.progress``) and draws one line, rewritten in place, at most ten times a second.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping
from typing import IO, TYPE_CHECKING

from msgspec import Struct

if TYPE_CHECKING:
    from imagewatch.hss.paging import Listing

REDRAW_S = 0.1  # at most this often: a terminal write per page would slow a fast read


class Snapshot(Struct, frozen=True):
    """Where one listing stands."""

    label: str
    pages: int
    pages_total: int | None
    records: int
    records_total: int | None
    rate: float | None  # records a second since the listing's first page; None until two pages
    eta_s: float | None
    retries: int
    throttled: int


class ProgressTracker:
    """Turns page counts and clock readings into snapshots; a new ``key`` starts a new listing."""

    def __init__(self) -> None:
        self._key: object = None
        self._first: tuple[float, int] = (0.0, 0)  # (time, records) at the listing's first page

    def observe(
        self,
        key: object,
        label: str,
        *,
        pages: int,
        records: int,
        total: int | None,
        page_size: int,
        retries: int = 0,
        throttled: int = 0,
        now: float,
    ) -> Snapshot:
        if key is not self._key:
            self._key, self._first = key, (now, records)
        started, base = self._first
        elapsed = now - started
        rate = (records - base) / elapsed if elapsed > 0 and records > base else None
        remaining = None if total is None else max(0, total - records)
        eta = remaining / rate if rate and remaining is not None else None
        pages_total = math.ceil(total / page_size) if total is not None and page_size else None
        return Snapshot(label, pages, pages_total, records, total, rate, eta, retries, throttled)


def _duration(seconds: float) -> str:
    hours, rest = divmod(round(seconds), 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def describe(snapshot: Snapshot) -> str:
    """``reading all images · page 5/25 · 1,000/5,000 records · 812/s · ETA 0:05``, plus retries and
    throttles when there were any."""
    of = f"/{snapshot.pages_total:,}" if snapshot.pages_total is not None else ""
    records = f"{snapshot.records:,}" + (
        f"/{snapshot.records_total:,}" if snapshot.records_total is not None else ""
    )
    parts = [f"reading {snapshot.label}", f"page {snapshot.pages:,}{of}", f"{records} records"]
    if snapshot.rate is not None:
        parts.append(f"{snapshot.rate:,.0f}/s")
    if snapshot.eta_s is not None:
        parts.append(f"ETA {_duration(snapshot.eta_s)}")
    if snapshot.retries or snapshot.throttled:
        parts.append(f"{snapshot.retries} retries ({snapshot.throttled} throttled)")
    return " · ".join(parts)


class TerminalProgress:
    """The paging loop's callback: redraws the line on ``stream`` (a terminal), cleared by ``close``."""

    def __init__(self, stream: IO[str], clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream
        self.clock = clock
        self.tracker = ProgressTracker()
        self._drawn = 0.0
        self._shown = False

    def __call__(self, listing: Listing) -> None:
        stats, now = listing.stats, self.clock()
        total = None if stats.last_total is None else max(0, stats.last_total - listing.start_offset)
        snapshot = self.tracker.observe(
            listing,
            listing.query.describe(),
            pages=stats.pages,
            records=stats.records,
            total=total,
            page_size=listing.client.page_size,
            retries=stats.retries,
            throttled=stats.throttled,
            now=now,
        )
        if self._shown and now - self._drawn < REDRAW_S and stats.records != total:
            return
        self._drawn, self._shown = now, True
        self.stream.write("\r" + describe(snapshot) + "\x1b[K")  # our own figures: no untrusted text
        self.stream.flush()

    def close(self) -> None:
        """Erase the line, so what the command prints next starts clean."""
        if self._shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._shown = False


def wanted(stream: IO[str], env: Mapping[str, str], quiet: bool = False) -> bool:
    """Progress only for a person at a terminal: not quiet, stderr a TTY, not CI, not Lambda."""
    if quiet or env.get("CI") or env.get("AWS_LAMBDA_FUNCTION_NAME"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(callable(isatty) and isatty())


def progress_for(stream: IO[str], quiet: bool = False) -> TerminalProgress | None:
    """A ``TerminalProgress`` on ``stream``'s unwrapped terminal when ``wanted``, else None. Commands
    pass ``quiet`` for ``-v`` too: log lines and a line rewritten in place do not share a stream.

    ``stream`` is usually ``sys.stderr`` wrapped by ``imagewatch.terminal.safe_output``, which would
    strip the carriage return and the erase sequence; the line goes to the terminal underneath."""
    if not wanted(stream, os.environ, quiet):
        return None
    return TerminalProgress(getattr(stream, "inner", stream))
