"""Where a client's threads wait for the pacer's permission to send a request.

One ``Gate`` per ``HssClient``, shared by all its listings, so what one listing learned about the
gateway's quota (a 429 halves the pace) also holds for the next query of the same run. The decisions
are ``Pacer``'s; this only adds a lock and the waiting, and stops a waiting thread when its listing's
``Budget`` runs out.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from imagewatch.hss.budget import Budget
from imagewatch.hss.errors import ListingStopped
from imagewatch.hss.pacing import Outcome, Pacer, PacingPolicy, Ticket


class Gate:
    """Thread-safe front of a ``Pacer``: ``acquire`` before each attempt, ``release`` after it."""

    def __init__(
        self,
        policy: PacingPolicy,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        """``sleep`` is for tests with a fake ``clock``: waits for the rate go through it. Without it,
        threads wait on a condition, so a request that finishes wakes the next one at once."""
        self._clock = clock
        self._sleep = sleep
        self._changed = threading.Condition()
        self.pacer = Pacer(policy, clock())

    def __repr__(self) -> str:
        return f"Gate({self.pacer!r})"

    def acquire(self, budget: Budget | None = None, *, resuming: bool = False) -> Ticket:
        """Block until a request may start; raise ``ListingStopped`` once ``budget`` has expired."""
        with self._changed:
            while True:
                if budget is not None and budget.expired():
                    raise ListingStopped("the listing stopped before this request was sent")
                now = self._clock()
                wait = self.pacer.wait(now, resuming=resuming)
                if wait == 0.0:
                    return self.pacer.start(now, resuming=resuming)
                timeout = min(wait, budget.remaining() if budget is not None else math.inf)
                if self._sleep is None or wait == math.inf:
                    self._changed.wait(None if timeout == math.inf else timeout)
                else:
                    self._changed.release()
                    try:
                        self._sleep(timeout)
                    finally:
                        self._changed.acquire()

    def release(self, ticket: Ticket, outcome: Outcome, *, hold: bool = False) -> None:
        """The attempt is over; ``hold``: it was throttled and will retry (the others wait for it)."""
        with self._changed:
            self.pacer.finish(ticket, outcome, self._clock(), hold=hold)
            self._changed.notify_all()

    def abandon(self) -> None:
        """A throttled request will not be retried: let the others go."""
        with self._changed:
            self.pacer.abandon()
            self._changed.notify_all()

    def wake(self) -> None:
        """Make waiting threads look again (a listing was cancelled)."""
        with self._changed:
            self._changed.notify_all()
