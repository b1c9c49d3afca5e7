"""A webhook that answers too slowly to ever finish: every attempt, and every send, ends at its deadline.

Review row 4 (chat half): a webhook trickling its answer held a run for 200+ s, because httpx's read
timeout bounds each read, not the answer. Real loopback peers trickle a byte every 20 ms; the
Deliverer gets deadlines of a fraction of a second. Nothing here sleeps to wait or asserts a duration:
each test asserts what the outcome says.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from imagewatch.alerts.channels import platform_for
from imagewatch.alerts.delivery import Channel, Deliverer, Outcome
from imagewatch.alerts.ledger import ChannelRule
from imagewatch.retry import RetryPolicy
from support.loopback_servers import BlackHole, Trickle

TWO_TRIES = RetryPolicy(max_attempts=2, base_s=0.0, cap_s=0.0, throttle_floor_s=0.0)
# The default transport bounds every socket operation by the deadline; any other transport relies on
# the timeouts cut to the time left and the check after each body read.
TRANSPORTS: dict[str, Callable[[], httpx.BaseTransport | None]] = {
    "default": lambda: None,
    "plain": lambda: httpx.HTTPTransport(),
}


def send(url: str, transport: httpx.BaseTransport | None = None, **deadlines: float) -> Outcome:
    deliverer = Deliverer(retry=TWO_TRIES, sleep=lambda _: None, transport=transport, **deadlines)
    try:
        channel = Channel("slow", platform_for(url, "generic"), url, ChannelRule("slow"))
        return deliverer.send(channel, {"title": "imagewatch compliance: 1 new"})
    finally:
        deliverer.close()


@pytest.mark.parametrize("transport", sorted(TRANSPORTS))
def test_a_trickled_answer_ends_each_attempt_at_its_deadline(transport: str) -> None:
    """Row 4: an answer body trickled a byte at a time ends the attempt at its deadline, and the send
    is retried (temporary) — then left for the next run."""
    with Trickle() as peer:
        outcome = send(peer.url(), TRANSPORTS[transport](), attempt_deadline_s=0.3, send_deadline_s=30)
        assert peer.hung_up.wait(10) and peer.bytes_sent > 0
    assert (outcome.ok, outcome.attempts) == (False, 2)  # retried: a deadline is temporary
    assert outcome.detail.startswith("deadline: no complete answer within 0.3 s"), outcome.detail


def test_headers_trickled_a_byte_at_a_time_end_the_attempt_too() -> None:
    """Row 4: no loop over the body can see headers that never complete; the default transport bounds
    every read by the deadline."""
    with Trickle(headers_too=True) as peer:
        outcome = send(peer.url(), attempt_deadline_s=0.3, send_deadline_s=30)
        assert peer.bytes_sent > 0
    assert (outcome.ok, outcome.attempts) == (False, 2)
    assert outcome.detail == "deadline: no complete answer within 0.3 s (ReadTimeout)"


@pytest.mark.parametrize("transport", sorted(TRANSPORTS))
def test_headers_that_never_come_end_at_the_deadline_not_the_read_timeout(transport: str) -> None:
    """Row 4: with a 15 s read timeout and a 0.3 s deadline, silence ends the attempt at the deadline."""
    with BlackHole() as hole:
        outcome = send(hole.url(), TRANSPORTS[transport](), attempt_deadline_s=0.3, send_deadline_s=30)
        assert hole.connections == 2
    assert (outcome.ok, outcome.attempts) == (False, 2)
    assert outcome.detail == "deadline: no complete answer within 0.3 s (ReadTimeout)"


def test_the_whole_send_is_bounded_by_its_own_deadline() -> None:
    """Row 4: the send's deadline bounds its attempts (the first one is cut to it) and leaves no time
    for another: the alerts stay due for the next run."""
    with Trickle() as peer:
        outcome = send(peer.url(), attempt_deadline_s=20, send_deadline_s=0.4)
        assert peer.connections == 1
    assert (outcome.ok, outcome.attempts) == (False, 1)
    assert outcome.detail.startswith("deadline: no complete answer within 0.4 s"), outcome.detail
    assert outcome.detail.endswith("send deadline of 0.4 s reached: left for the next run"), outcome.detail
