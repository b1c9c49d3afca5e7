"""When the next ListImageLocal request may start: a pure, clock-free decision object.

The API gateway throttles per user and per minute (429 ``APIG.0308``) and HSS does not publish the
quota. So the client caps itself (at most ``max_in_flight`` requests at once, at most ``max_rps``
starts a second) and, when the gateway says 429 anyway, slows the *whole* listing, not only the request
that was refused — additive increase, multiplicative decrease, as TCP does for the same reason:

* on a 429, the allowed rate and in-flight limit are halved (once per episode: answers to requests
  started before the cut say nothing new), and no new request starts until the throttled one has
  waited its ``Retry-After``/back-off and gone again (it is the probe);
* every ``recover_every`` successes since the cut, the rate grows by an eighth of ``max_rps`` and the
  limit by one, up to the configured caps.

Starts are paced by a token bucket holding at most ``limit`` tokens, refilled at ``rate`` a second:
over any window of T seconds at most ``limit + rate × T`` requests start. Every method takes ``now``
(seconds, monotonic), so the decisions are unit-tested with plain numbers; ``hss.gate`` applies them
to threads.
"""

from __future__ import annotations

import math
from enum import Enum

from msgspec import Struct

DEFAULT_MAX_IN_FLIGHT = 8
# 50 starts/s = 3,000 a minute: 2,000,000 images (10,000 pages) in about 200 s, a quarter of a Lambda's
# 15 minutes, while 8 in flight at a 160–200 ms cloud round trip (40–50 requests/s) is not slowed by it.
# The gateway's quota for ListImageLocal is unpublished; on a 429 the pacer finds the real one.
DEFAULT_MAX_RPS = 50.0
MAX_IN_FLIGHT_BOUND = 64  # beyond this a single user is a load test, not a reader
_EPSILON = 1e-9


class Outcome(Enum):
    """What an answer says about the gateway's quota."""

    OK = "ok"  # 200: the quota held
    THROTTLED = "throttled"  # 429: over the quota
    OTHER = "other"  # anything else (5xx, timeouts, other 4xx): no signal about the quota


class PacingPolicy(Struct, frozen=True):
    """The caps and how fast to recover; checked on creation."""

    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT
    max_rps: float = DEFAULT_MAX_RPS
    min_rps: float = 1.0  # never slower than this (nor than max_rps), however many 429s
    recover_every: int = 16  # successes since the last cut before one step back up

    @property
    def floor_rps(self) -> float:
        """The slowest the pacer goes: ``min_rps``, or ``max_rps`` when the cap is below it."""
        return min(self.min_rps, self.max_rps)

    def __post_init__(self) -> None:
        n = self.max_in_flight
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_IN_FLIGHT_BOUND:
            raise ValueError(f"HSS max_in_flight: got {n!r}, expected an integer in 1..{MAX_IN_FLIGHT_BOUND}")
        rps = self.max_rps
        if isinstance(rps, bool) or not isinstance(rps, int | float) or not 0 < rps < math.inf:
            raise ValueError(f"HSS max_rps: got {rps!r}, expected requests per second > 0")
        if not 0 < self.min_rps < math.inf:
            raise ValueError(f"HSS min_rps: got {self.min_rps!r}, expected requests per second > 0")
        if self.recover_every < 1:
            raise ValueError(f"HSS recover_every: got {self.recover_every!r}, expected ≥ 1")


class Ticket(Struct, frozen=True):
    """One started request: when, and in which episode (``epoch`` counts the cuts so far)."""

    started_at: float
    epoch: int


class Pacer:
    """The pacing state of one client: allowed rate and in-flight limit, tokens, held retries."""

    def __init__(self, policy: PacingPolicy, now: float) -> None:
        self.policy = policy
        self.rate = float(policy.max_rps)
        self.limit = policy.max_in_flight
        self.in_flight = 0
        self.held = 0  # throttled requests waiting to retry: nothing new starts meanwhile
        self.epoch = 0
        self.cuts = 0
        self.recoveries = 0
        self.peak_in_flight = 0
        self.lowest_rate = self.rate  # how far 429s pushed it down (reports, tests)
        self.lowest_limit = self.limit
        self._tokens = float(self.limit)
        self._refilled_at = now
        self._streak = 0

    def __repr__(self) -> str:
        return (
            f"Pacer(rate={self.rate:g}/s, limit={self.limit}, in_flight={self.in_flight}, "
            f"held={self.held}, cuts={self.cuts})"
        )

    def _refill(self, now: float) -> None:
        if now > self._refilled_at:
            self._tokens = min(float(self.limit), self._tokens + (now - self._refilled_at) * self.rate)
            self._refilled_at = now

    def wait(self, now: float, *, resuming: bool = False) -> float:
        """Seconds until a request may start: 0 now, ``inf`` until another request finishes.

        ``resuming`` is a throttled request's retry: it goes through a hold (it is the probe), but
        still counts against the limit and the rate.
        """
        if self.in_flight >= self.limit or (self.held > 0 and not resuming):
            return math.inf
        self._refill(now)
        if self._tokens >= 1.0 - _EPSILON:  # float sums of waits land a hair short of a whole token
            return 0.0
        return (1.0 - self._tokens) / self.rate

    def start(self, now: float, *, resuming: bool = False) -> Ticket:
        """Record a start; only allowed when ``wait(now)`` is 0."""
        if self.wait(now, resuming=resuming) != 0.0:
            raise RuntimeError(f"request started before the pacer allowed it ({self!r})")
        if resuming:
            self.held -= 1
        self._tokens = max(0.0, self._tokens - 1.0)
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        return Ticket(now, self.epoch)

    def finish(self, ticket: Ticket, outcome: Outcome, now: float, *, hold: bool = False) -> None:
        """A request answered (or failed): free its slot and learn from the answer.

        ``hold``: a throttled request that will retry holds every new start back until it goes again.
        """
        self.in_flight -= 1
        if outcome is Outcome.THROTTLED:
            self.held += hold
            if ticket.epoch == self.epoch:
                self._cut(now)
        elif outcome is Outcome.OK and ticket.epoch == self.epoch:
            self._streak += 1
            if self._streak >= self.policy.recover_every:
                self._streak = 0
                self._recover(now)

    def abandon(self) -> None:
        """A throttled request will not retry (it gave up or its listing stopped): lift its hold."""
        self.held = max(0, self.held - 1)

    def _cut(self, now: float) -> None:
        self._refill(now)
        self.epoch += 1
        self.cuts += 1
        self._streak = 0
        self.rate = max(self.policy.floor_rps, self.rate / 2)
        self.limit = max(1, self.limit // 2)
        self._tokens = min(self._tokens, float(self.limit))
        self.lowest_rate = min(self.lowest_rate, self.rate)
        self.lowest_limit = min(self.lowest_limit, self.limit)

    def _recover(self, now: float) -> None:
        policy = self.policy
        if self.rate >= policy.max_rps and self.limit >= policy.max_in_flight:
            return
        self._refill(now)
        self.rate = min(float(policy.max_rps), self.rate + policy.max_rps / 8)
        self.limit = min(policy.max_in_flight, self.limit + 1)
        self.recoveries += 1
