"""When a listing must stop issuing requests: its deadline passed, or it was cancelled.

A listing is cancelled when its caller stops iterating or one of its pages failed for good; its
worker threads then stop at their next attempt instead of retrying for a minute against a client
that is about to be closed. Waits between retries end early on cancel.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable


class Budget:
    """A deadline on a monotonic clock (or none) plus a cancel switch; shared by a listing's threads."""

    def __init__(self, deadline: float | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.deadline = deadline
        self._clock = clock
        self._cancelled = threading.Event()

    def cancel(self) -> None:
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def timed_out(self) -> bool:
        """The deadline has passed (whether or not the listing was also cancelled)."""
        return self.deadline is not None and self._clock() >= self.deadline

    def expired(self) -> bool:
        """No new request may start."""
        return self.cancelled or self.timed_out()

    def remaining(self) -> float:
        """Seconds left before the deadline (``inf`` without one; 0 once cancelled)."""
        if self.cancelled:
            return 0.0
        if self.deadline is None:
            return math.inf
        return max(0.0, self.deadline - self._clock())

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of real time, ending early at the deadline or on cancel."""
        timeout = min(seconds, self.remaining())
        if timeout > 0:
            self._cancelled.wait(timeout)
