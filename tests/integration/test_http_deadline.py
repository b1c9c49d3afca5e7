"""Each HTTP exchange has a total deadline, however a peer trickles (review row 4).

httpx bounds each socket read, not the exchange; ``imagewatch.http_deadline`` wraps the connection
pool's network backend. These tests use real trickling servers on 127.0.0.1 and assert the error,
never a duration. They also fail if a new httpx moves the private attribute the wrapper relies on.
"""

from __future__ import annotations

import time

import httpx
import pytest

from imagewatch import http_deadline
from support.loopback_servers import Trickle


def client() -> httpx.Client:
    limits = httpx.Limits(max_connections=2)
    return httpx.Client(transport=http_deadline.transport(limits), timeout=httpx.Timeout(30.0))


def test_the_wrapper_sits_in_the_pool_httpx_builds() -> None:
    transport = http_deadline.transport(httpx.Limits())
    assert isinstance(transport._pool._network_backend, http_deadline._Backend)


@pytest.mark.parametrize("headers_too", [False, True])
def test_a_trickling_peer_ends_at_the_deadline_not_the_read_timeout(headers_too: bool) -> None:
    with Trickle(headers_too=headers_too, interval_s=0.01) as trickle, client() as http:
        with (
            http_deadline.within(time.monotonic() + 0.3),
            pytest.raises(httpx.ReadTimeout),
            http.stream("GET", trickle.url("/")) as response,
        ):
            for _ in response.iter_bytes():
                pass
        assert trickle.bytes_sent > 0


def test_a_passed_deadline_refuses_to_start() -> None:
    with Trickle() as trickle, client() as http, http_deadline.within(time.monotonic() - 1):
        with pytest.raises(httpx.ConnectTimeout, match="total deadline"):
            http.get(trickle.url("/"))
        assert trickle.connections == 0


def test_deadlines_nest_to_the_earlier_and_are_per_thread() -> None:
    with http_deadline.within(100.0):
        with http_deadline.within(200.0):
            assert http_deadline._local.deadline == 100.0
        with http_deadline.within(50.0):
            assert http_deadline._local.deadline == 50.0
        assert http_deadline._local.deadline == 100.0
    assert http_deadline._local.deadline is None
