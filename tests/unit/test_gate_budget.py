"""The gate (threads waiting on the pacer) and the budget (deadline, cancel), with fake time."""

from __future__ import annotations

import threading

import pytest

from imagewatch.hss.budget import Budget
from imagewatch.hss.errors import ListingStopped
from imagewatch.hss.gate import Gate
from imagewatch.hss.pacing import Outcome, PacingPolicy


class FakeTime:
    """A monotonic clock that moves only when something sleeps on it."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_waits_for_the_rate_go_through_the_injected_sleep() -> None:
    time = FakeTime()
    gate = Gate(PacingPolicy(max_in_flight=2, max_rps=4), clock=time, sleep=time.sleep)
    starts = []
    for _ in range(6):
        ticket = gate.acquire()
        starts.append(ticket.started_at)
        gate.release(ticket, Outcome.OK)
    assert starts == [100.0, 100.0, 100.25, 100.5, 100.75, 101.0]
    assert time.slept == [0.25] * 4


def test_an_expired_budget_stops_a_waiting_request() -> None:
    time = FakeTime()
    budget = Budget(deadline=100.5, clock=time)
    gate = Gate(PacingPolicy(max_in_flight=1, max_rps=1), clock=time, sleep=time.sleep)
    gate.release(gate.acquire(budget), Outcome.OK)
    with pytest.raises(ListingStopped):
        gate.acquire(budget)  # the next token comes at 101.0, after the deadline
    assert time.now == 100.5


def test_cancel_wakes_a_thread_waiting_for_a_slot() -> None:
    gate = Gate(PacingPolicy(max_in_flight=1, max_rps=100))
    budget = Budget()
    gate.acquire(budget)  # the only slot, never released
    outcome: list[BaseException] = []

    def second() -> None:
        try:
            gate.acquire(budget)
        except ListingStopped as exc:
            outcome.append(exc)

    thread = threading.Thread(target=second)
    thread.start()
    budget.cancel()
    gate.wake()
    thread.join(timeout=10)
    assert not thread.is_alive() and len(outcome) == 1


def test_budget_remaining_and_sleep() -> None:
    time = FakeTime()
    budget = Budget(deadline=103.0, clock=time)
    assert budget.remaining() == 3.0 and not budget.expired()
    time.now = 103.0
    assert budget.timed_out() and budget.expired() and budget.remaining() == 0.0
    budget.sleep(60)  # ends at once: no time left
    unlimited = Budget()
    assert unlimited.remaining() == float("inf")
    unlimited.cancel()
    assert unlimited.expired() and not unlimited.timed_out() and unlimited.remaining() == 0.0
    unlimited.sleep(60)  # cancelled: returns at once
