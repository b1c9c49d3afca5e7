"""The pacer as a pure object: every decision is taken at a ``now`` the test chooses."""

from __future__ import annotations

import math

import pytest

from imagewatch.hss.pacing import Outcome, Pacer, PacingPolicy, Ticket

OK, THROTTLED, OTHER = Outcome.OK, Outcome.THROTTLED, Outcome.OTHER


def pacer(max_in_flight: int = 4, max_rps: float = 10.0, **options: object) -> Pacer:
    return Pacer(PacingPolicy(max_in_flight=max_in_flight, max_rps=max_rps, **options), now=0.0)


def start_all(p: Pacer, now: float, count: int) -> list[Ticket]:
    return [p.start(now) for _ in range(count)]


def test_a_burst_of_limit_starts_then_one_per_interval() -> None:
    p = pacer(max_in_flight=4, max_rps=10)
    tickets = start_all(p, 0.0, 4)
    assert p.wait(0.0) == math.inf  # four in flight: wait for one to finish
    for ticket in tickets:
        p.finish(ticket, OK, 0.0)
    assert p.wait(0.0) == pytest.approx(0.1)  # the burst is spent: one token per 1/10 s
    assert p.wait(0.05) == pytest.approx(0.05)
    assert p.wait(0.1) == 0.0


def test_starting_before_the_pacer_allows_is_refused() -> None:
    p = pacer(max_in_flight=1)
    p.start(0.0)
    with pytest.raises(RuntimeError, match="before the pacer allowed it"):
        p.start(0.0)


@pytest.mark.parametrize(("max_in_flight", "max_rps"), [(1, 5.0), (4, 10.0), (8, 50.0), (16, 3.5)])
def test_starts_in_any_window_never_exceed_burst_plus_rate(max_in_flight: int, max_rps: float) -> None:
    """A greedy caller (starts whenever allowed, answers arrive at once) for 20 simulated seconds."""
    p = pacer(max_in_flight=max_in_flight, max_rps=max_rps)
    now, starts = 0.0, []
    while now < 20.0:
        wait = p.wait(now)
        if wait:
            now += wait
            continue
        p.finish(p.start(now), OK, now)
        starts.append(now)
    for i, first in enumerate(starts):
        for window in (0.5, 1.0, 5.0):
            inside = sum(1 for t in starts[i:] if t < first + window)
            assert inside <= max_in_flight + max_rps * window + 1e-9
    assert len(starts) == pytest.approx(max_in_flight + max_rps * 20, abs=1)  # the cap, not less


def test_in_flight_never_exceeds_the_limit() -> None:
    p = pacer(max_in_flight=3, max_rps=1000)
    tickets = start_all(p, 0.0, 3)
    assert p.in_flight == 3 and p.wait(5.0) == math.inf
    p.finish(tickets[0], OTHER, 5.0)
    assert p.wait(5.0) == 0.0
    assert p.peak_in_flight == 3


def test_a_429_halves_rate_and_limit_and_holds_new_starts_until_the_retry() -> None:
    p = pacer(max_in_flight=8, max_rps=40)
    tickets = start_all(p, 0.0, 8)
    p.finish(tickets[0], THROTTLED, 0.1, hold=True)
    assert (p.rate, p.limit, p.cuts, p.held) == (20.0, 4, 1, 1)
    for ticket in tickets[1:]:
        p.finish(ticket, OK, 0.2)
    assert p.wait(10.0) == math.inf  # the whole listing waits for the throttled request
    assert p.wait(10.0, resuming=True) == 0.0  # which is the probe
    p.start(10.0, resuming=True)
    assert p.held == 0 and p.wait(10.0) == 0.0


def test_one_burst_of_429s_is_one_cut() -> None:
    """Answers to requests started before the cut say nothing new: cutting again would overreact."""
    p = pacer(max_in_flight=8, max_rps=40)
    tickets = start_all(p, 0.0, 8)
    for ticket in tickets:
        p.finish(ticket, THROTTLED, 0.1, hold=True)
    assert (p.cuts, p.rate, p.limit, p.held) == (1, 20.0, 4, 8)
    retry = p.start(3.0, resuming=True)
    p.finish(retry, THROTTLED, 3.1, hold=True)  # throttled again after the cut: a new episode
    assert (p.cuts, p.rate, p.limit) == (2, 10.0, 2)


def test_cuts_stop_at_the_floors() -> None:
    p = pacer(max_in_flight=4, max_rps=4, min_rps=1.0)
    for step in range(6):
        ticket = p.start(float(step * 10), resuming=p.held > 0)
        p.finish(ticket, THROTTLED, float(step * 10), hold=True)
    assert (p.rate, p.limit) == (1.0, 1)
    assert (p.lowest_rate, p.lowest_limit) == (1.0, 1)


def test_recovery_is_gradual_and_stops_at_the_caps() -> None:
    p = pacer(max_in_flight=8, max_rps=40, recover_every=4)
    p.finish(p.start(0.0), THROTTLED, 0.0, hold=False)
    assert (p.rate, p.limit) == (20.0, 4)
    now, seen = 1.0, []
    for _ in range(40):
        while p.wait(now):
            now += 0.01
        p.finish(p.start(now), OK, now)
        seen.append((p.rate, p.limit))
    assert seen[2] == (20.0, 4) and seen[3] == (25.0, 5)  # one step per 4 successes: +max/8, +1
    assert seen[7] == (30.0, 6)
    assert seen[-1] == (40.0, 8) and p.recoveries == 4  # never past the configured caps
    assert (p.lowest_rate, p.lowest_limit) == (20.0, 4)


def test_successes_of_requests_started_before_the_cut_do_not_count_towards_recovery() -> None:
    p = pacer(max_in_flight=8, max_rps=40, recover_every=2)
    tickets = start_all(p, 0.0, 6)
    p.finish(tickets[0], THROTTLED, 0.1)
    for ticket in tickets[1:]:
        p.finish(ticket, OK, 0.2)
    assert (p.rate, p.limit, p.recoveries) == (20.0, 4, 0)


def test_a_cap_below_the_floor_is_the_floor() -> None:
    """HSS_MAX_RPS=0.5 is a valid setting: the pacer then never goes faster or slower than that."""
    p = pacer(max_in_flight=2, max_rps=0.5)
    p.finish(p.start(0.0), THROTTLED, 0.0)
    assert p.rate == 0.5 and p.limit == 1


def test_abandon_lifts_a_hold() -> None:
    p = pacer()
    p.finish(p.start(0.0), THROTTLED, 0.0, hold=True)
    assert p.wait(1.0) == math.inf
    p.abandon()
    assert p.wait(1.0) == 0.0
    p.abandon()  # idempotent at zero
    assert p.held == 0


def test_other_failures_free_the_slot_without_slowing_down() -> None:
    p = pacer(max_in_flight=2, max_rps=10)
    p.finish(p.start(0.0), OTHER, 0.0)
    assert (p.rate, p.limit, p.in_flight, p.cuts) == (10.0, 2, 0, 0)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_in_flight": 0}, "max_in_flight: got 0"),
        ({"max_in_flight": 65}, "max_in_flight: got 65"),
        ({"max_in_flight": True}, "max_in_flight: got True"),
        ({"max_rps": 0}, "max_rps: got 0"),
        ({"max_rps": math.inf}, "max_rps: got inf"),
        ({"min_rps": 0}, "min_rps: got 0"),
        ({"recover_every": 0}, "recover_every: got 0"),
    ],
)
def test_policy_bounds_are_checked(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PacingPolicy(**options)
