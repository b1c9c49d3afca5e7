"""Concurrent paging against the emulator: the in-flight bound, the rate cap, 429s slowing the whole
listing, records read once, the time budget. No test waits on a timer: requests are held by the
emulator's ``slow`` fault and released with ``wake()``, rate decisions run on a fake clock, and
retry back-offs go through a recording ``sleep``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator

import pytest

from imagewatch.emulator import Emulator, Fleet
from imagewatch.hss.auth import AkSkAuth, IamPasswordAuth, IamScope
from imagewatch.hss.client import HssClient
from imagewatch.hss.errors import HssApiError
from imagewatch.hss.gate import Gate
from imagewatch.hss.pacing import PacingPolicy, Ticket
from imagewatch.hss.query import ImageQuery
from support.emulator_support import NOW_MS, ManualClock

ALL = ImageQuery(enterprise_project_id="all_granted_eps")
PAGES = 40  # a fleet of 40 full pages


class Sleeps(list):
    """A stand-in for time.sleep that records the delays asked for (no test ever waits)."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


class FakeMonotonic:
    """A monotonic clock that moves when the gate sleeps on it (thread-safe), or when told."""

    def __init__(self) -> None:
        self.now = 1000.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


@pytest.fixture
def emulator_fleet() -> Fleet:
    return Fleet.synthetic(PAGES * 200, seed=11, now_ms=NOW_MS)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def make_client(emulator: Emulator, clock: ManualClock, sleeps: Sleeps, **options: object) -> HssClient:
    auth = options.pop("auth", None) or AkSkAuth(
        "DEMOAK", "demo-secret", project_id=emulator.project_id, clock=clock
    )
    return HssClient(emulator.url, emulator.project_id, auth, sleep=sleeps, clock=clock, **options)  # type: ignore[arg-type]


@pytest.fixture
def client(emulator: Emulator, emulator_clock: ManualClock, sleeps: Sleeps) -> Iterator[HssClient]:
    with make_client(emulator, emulator_clock, sleeps, max_in_flight=4, max_rps=1000) as hss:
        yield hss


def identities(emulator: Emulator, query: ImageQuery = ALL) -> list[str]:
    return [f"{r['image_id']}@{r['host_id']}" for r in emulator.fleet.listing(query.filters())]


def record_starts(gate: Gate) -> list[tuple[Ticket, bool]]:
    """Wrap the gate's pacer so every start it allowed is kept, with whether it was a 429's retry."""
    started: list[tuple[Ticket, bool]] = []
    original = gate.pacer.start

    def start(now: float, *, resuming: bool = False) -> Ticket:
        ticket = original(now, resuming=resuming)
        started.append((ticket, resuming))
        return ticket

    gate.pacer.start = start  # type: ignore[method-assign]
    return started


def read_in_background(listing: object) -> tuple[threading.Thread, list[str], list[BaseException]]:
    got: list[str] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            got.extend(image.identity for image in listing)  # type: ignore[attr-defined]
        except BaseException as exc:  # handed to the test thread
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, got, errors


# -- the in-flight bound -------------------------------------------------------------------------


@pytest.mark.parametrize("bound", [1, 4, 8])
def test_pages_are_requested_concurrently_up_to_the_bound_and_never_above(
    emulator: Emulator, emulator_clock: ManualClock, sleeps: Sleeps, bound: int
) -> None:
    emulator.faults.slow(60, times=None, after=1)  # the first page alone, then every request is held
    with make_client(emulator, emulator_clock, sleeps, max_in_flight=bound, max_rps=1000) as hss:
        listing = hss.list_images(ALL)
        thread, got, errors = read_in_background(listing)
        held = emulator.wait_for(lambda s: s.in_flight == bound)  # `bound` pages held at once
        assert held.max_in_flight == bound
        emulator.faults.clear()
        emulator.wake()
        thread.join(timeout=30)
    assert not thread.is_alive() and errors == []
    assert emulator.stats.max_in_flight == bound  # never above, over the whole listing
    assert got == identities(emulator) and listing.complete
    assert listing.stats.pages == PAGES and emulator.stats.by_route["list"] == PAGES


def test_the_default_is_eight_in_flight(emulator: Emulator, emulator_clock, sleeps) -> None:
    emulator.faults.slow(60, times=None, after=1)
    with make_client(emulator, emulator_clock, sleeps) as hss:
        assert (hss.max_in_flight, hss.pacing.max_rps) == (8, 50.0)
        thread, got, errors = read_in_background(hss.list_images(ALL))
        emulator.wait_for(lambda s: s.in_flight == 8)
        emulator.faults.clear()
        emulator.wake()
        thread.join(timeout=30)
    assert errors == [] and len(got) == PAGES * 200 and emulator.stats.max_in_flight == 8


# -- the rate cap --------------------------------------------------------------------------------


def test_the_rate_cap_holds_over_every_window(emulator: Emulator, emulator_clock, sleeps) -> None:
    clock = FakeMonotonic()
    with make_client(emulator, emulator_clock, sleeps, max_in_flight=8, max_rps=10) as hss:
        hss.gate = Gate(hss.pacing, clock=clock, sleep=clock.sleep)
        started = record_starts(hss.gate)
        got = [image.identity for image in hss.list_images(ALL)]
    assert got == identities(emulator)
    times = sorted(ticket.started_at for ticket, _ in started)
    assert len(times) == PAGES
    for i, first in enumerate(times):
        inside = sum(1 for t in times[i:] if t < first + 1.0)
        assert inside <= 8 + 10  # the burst (max_in_flight) plus one second at 10/s
    assert times[-1] - times[0] >= (PAGES - 8) / 10 - 1e-6  # the cap, not the server, set the pace
    assert sleeps == []  # pacing waits are not retry back-offs


# -- 429: the whole listing slows down, then recovers ---------------------------------------------


def test_a_429_burst_slows_the_whole_listing_then_it_recovers(
    emulator: Emulator, emulator_clock, sleeps
) -> None:
    emulator.faults.throttle(times=4, after=1, retry_after=2)
    with make_client(emulator, emulator_clock, sleeps, max_in_flight=4, max_rps=1000) as hss:
        hss.gate = Gate(PacingPolicy(max_in_flight=4, max_rps=1000, recover_every=4))
        listing = hss.list_images(ALL)
        got = [image.identity for image in listing]
        pacer = hss.gate.pacer
    assert got == identities(emulator) and listing.complete
    assert listing.stats.throttled == 4 and listing.stats.retries == 4 and sleeps == [2.0] * 4
    assert pacer.cuts >= 1 and pacer.lowest_limit <= 2 and pacer.lowest_rate <= 500  # dropped
    assert (pacer.limit, pacer.rate) == (4, 1000) and pacer.recoveries >= 2  # and recovered
    assert (pacer.in_flight, pacer.held) == (0, 0)


def test_while_a_throttled_request_waits_nothing_new_starts(emulator: Emulator, emulator_clock) -> None:
    """The hold: between a 429 and its retry, no other request starts, even with slots free."""
    emulator.faults.throttle(times=1, after=3)
    marks: list[tuple[int, int]] = []  # (starts so far, requests held) when the back-off begins
    hss = make_client(emulator, emulator_clock, Sleeps(), max_in_flight=4, max_rps=1000)
    started = record_starts(hss.gate)
    hss._sleep = lambda seconds: marks.append((len(started), hss.gate.pacer.held))
    with hss:
        listing = hss.list_images(ALL)
        assert [image.identity for image in listing] == identities(emulator)
    [(index, held)] = marks
    assert held == 1 and started[index][1] is True  # the next start after the 429 was its retry
    assert len(started) == PAGES + 1 and listing.stats.throttled == 1 and listing.complete


# -- every record once --------------------------------------------------------------------------


def test_every_record_is_read_exactly_once_under_concurrency(client: HssClient, emulator) -> None:
    got = [image.identity for image in client.list_images(ALL)]
    assert got == identities(emulator)  # in listing order, though pages complete in any order


def test_insert_after_the_first_page_drops_every_repeat_and_blocks_resolution(
    client: HssClient, emulator: Emulator
) -> None:
    before = set(identities(emulator))
    emulator.faults.mutate_after(1, insert=7)
    listing = client.list_images(ALL)
    got = [image.identity for image in listing]
    assert len(got) == len(set(got)) and before <= set(got)
    assert listing.stats.duplicates == 7
    assert not listing.complete
    assert f"total_num changed while paging ({PAGES * 200} → {PAGES * 200 + 7})" in listing.problems[0]


def test_inserts_while_pages_are_in_flight_repeat_nothing(client: HssClient, emulator: Emulator) -> None:
    """With pages in flight, an insert lands between some of them in an order no one controls: records
    may repeat (dropped) or, when a later page was read before the insert and an earlier one after,
    shift past both (missed) — either way the listing says it is incomplete."""
    emulator.faults.mutate_after(5, insert=9)
    emulator.faults.mutate_after(12, insert=3)
    listing = client.list_images(ALL)
    got = [image.identity for image in listing]
    assert len(got) == len(set(got))
    assert set(got) <= set(identities(emulator))
    assert not listing.complete and "total_num changed while paging" in listing.problems[0]


def test_a_failed_page_stops_the_listing(client: HssClient, emulator: Emulator) -> None:
    emulator.faults.error(500, times=1, after=6)
    listing = client.list_images(ALL)
    with pytest.raises(HssApiError) as caught:
        list(listing)
    assert caught.value.status == 500 and caught.value.attempts == 1 and not listing.complete
    assert listing.stats.pages < PAGES


def test_an_expired_token_is_replaced_once_for_all_pages_in_flight(
    emulator: Emulator, emulator_clock, sleeps
) -> None:
    auth = IamPasswordAuth(
        emulator.url,
        "demo-user",
        "demo-password",
        "demo-domain",
        IamScope(emulator.project_id),
        clock=emulator_clock,
    )
    emulator.faults.expire_token_after(1)  # the token dies after the first page: 8 pages get 401
    with make_client(emulator, emulator_clock, sleeps, auth=auth, max_in_flight=8, max_rps=1000) as hss:
        listing = hss.list_images(ALL)
        got = [image.identity for image in listing]
    assert got == identities(emulator) and listing.complete
    assert auth.tokens_fetched == 2


# -- the time budget ----------------------------------------------------------------------------


def test_a_deadline_already_past_sends_nothing(client: HssClient, emulator: Emulator) -> None:
    clock = FakeMonotonic()
    client.monotonic = clock
    emulator.reset_stats()
    listing = client.list_images(ALL, deadline=clock.now)
    assert list(listing) == [] and not listing.complete
    assert listing.problems == [
        "stopped at the time budget after 0 records, before the first page told total_num"
    ]
    assert emulator.stats.requests == 0


def test_the_deadline_stops_new_requests_and_marks_the_listing_incomplete(
    client: HssClient, emulator: Emulator
) -> None:
    clock = FakeMonotonic()
    client.monotonic = clock  # deadlines on a fake clock; pacing stays on the real one
    listing = client.list_images(ALL, deadline=clock.now + 60)
    got = []
    for image in listing:
        got.append(image.identity)
        if len(got) == 300:  # into the second page: the time is up
            clock.advance(61)
    requested = emulator.stats.by_route["list"]
    assert 2 <= listing.stats.pages < PAGES and requested < PAGES
    assert len(got) == len(set(got)) and set(got) <= set(identities(emulator))
    assert not listing.complete
    [problem] = listing.problems
    match = re.fullmatch(r"stopped at the time budget after (\d+) of (\d+) records", problem)
    assert match and int(match[1]) == listing.stats.records and int(match[2]) == PAGES * 200


def test_the_deadline_abandons_requests_still_in_flight(emulator: Emulator, emulator_clock, sleeps) -> None:
    """Pages held by the emulator never answer before the deadline: the listing ends without them."""
    emulator.faults.slow(60, times=None, after=1)
    with make_client(emulator, emulator_clock, sleeps, max_in_flight=4, max_rps=1000) as hss:
        listing = hss.list_images(ALL, deadline=hss.monotonic() + 0.5)
        got = [image.identity for image in listing]  # returns at the deadline, with 4 pages held
        emulator.faults.clear()
        emulator.wake()
    assert len(got) == 200 and listing.stats.pages == 1
    assert listing.problems == [f"stopped at the time budget after 200 of {PAGES * 200} records"]
