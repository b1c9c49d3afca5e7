"""What the emulator served: request counts per path, route and status, and peak concurrency.

Tests synchronise on these (``wait``) instead of sleeping, and concurrency tests read
``max_in_flight``: the most requests the server was handling at one moment.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Stats:
    """A snapshot. ``by_route`` keys: ``list`` (ListImageLocal), ``iam``, ``control``, ``unknown``."""

    requests: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    by_path: dict[str, int] = field(default_factory=dict)
    by_route: dict[str, int] = field(default_factory=dict)
    by_status: dict[int, int] = field(default_factory=dict)  # answered statuses; resets have none


class StatsRecorder:
    """Thread-safe counters behind ``Emulator.stats``."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._reset_counters()

    def _reset_counters(self) -> None:
        self._requests = 0
        self._in_flight = 0
        self._max_in_flight = 0
        self._paths: Counter[str] = Counter()
        self._routes: Counter[str] = Counter()
        self._statuses: Counter[int] = Counter()

    def begin(self, path: str, route: str) -> None:
        with self._changed:
            self._requests += 1
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
            self._paths[path] += 1
            self._routes[route] += 1
            self._changed.notify_all()

    def end(self, status: int | None) -> None:
        with self._changed:
            self._in_flight -= 1
            if status is not None:
                self._statuses[status] += 1
            self._changed.notify_all()

    def snapshot(self) -> Stats:
        with self._changed:
            return self._snapshot()

    def _snapshot(self) -> Stats:
        return Stats(
            self._requests,
            self._in_flight,
            self._max_in_flight,
            dict(self._paths),
            dict(self._routes),
            dict(self._statuses),
        )

    def reset(self) -> None:
        """Zero the counters (requests in flight stay counted as in flight)."""
        with self._changed:
            in_flight = self._in_flight
            self._reset_counters()
            self._in_flight = in_flight

    def wait(self, predicate: Callable[[Stats], bool], timeout: float) -> Stats:
        """Block until ``predicate(stats)`` holds; raise TimeoutError with the last stats otherwise."""
        with self._changed:
            if not self._changed.wait_for(lambda: predicate(self._snapshot()), timeout):
                raise TimeoutError(
                    f"emulator stats never met the condition within {timeout} s: {self._snapshot()}"
                )
            return self._snapshot()
