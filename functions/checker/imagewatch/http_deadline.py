"""A total deadline for each HTTP exchange, whatever the peer does.

httpx's timeouts bound each socket operation, not the exchange: a peer that sends one byte a second
never trips a 30 s read timeout, and holds the run for as long as it likes (headers included, which
no loop over ``iter_bytes`` can see). Here the connection pool's network streams bound every connect,
read and write by the deadline of the exchange the calling thread is in (``within``): the operation
gets the smaller of its own timeout and the time left, and fails with a timeout once none is left.
httpx turns that into ``httpx.ReadTimeout``/``WriteTimeout``/``ConnectTimeout``, which callers already
treat as a lost answer.

The deadline is per thread, because one client serves several threads (the pages in flight) and a
pooled connection can serve another thread's next request.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import httpcore
import httpx

_local = threading.local()


@contextmanager
def within(deadline: float | None) -> Iterator[None]:
    """Bound every network operation of this thread by ``deadline`` (``time.monotonic()``) until exit;
    nested deadlines keep the earlier one."""
    outer = getattr(_local, "deadline", None)
    if deadline is not None and outer is not None:
        deadline = min(deadline, outer)
    _local.deadline = deadline if deadline is not None else outer
    try:
        yield
    finally:
        _local.deadline = outer


def _bound(timeout: float | None, error: type[Exception], what: str) -> float | None:
    """``timeout`` cut to the time left before this thread's deadline; raises once none is left."""
    deadline = getattr(_local, "deadline", None)
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise error(f"total deadline of the exchange passed during {what}")
    return left if timeout is None else min(timeout, left)


class _Stream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _bound(timeout, httpcore.ReadTimeout, "a read"))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _bound(timeout, httpcore.WriteTimeout, "a write"))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        bounded = _bound(timeout, httpcore.ConnectTimeout, "the TLS handshake")
        return _Stream(self._inner.start_tls(ssl_context, server_hostname, bounded))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        bounded = _bound(timeout, httpcore.ConnectTimeout, "connect")
        return _Stream(self._inner.connect_tcp(host, port, bounded, local_address, socket_options))

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        bounded = _bound(timeout, httpcore.ConnectTimeout, "connect")
        return _Stream(self._inner.connect_unix_socket(path, bounded, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def transport(limits: httpx.Limits) -> httpx.HTTPTransport:
    """An ``httpx.HTTPTransport`` (TLS verified, no proxies from the environment) whose every network
    operation honours ``within``."""
    return bounded(httpx.HTTPTransport(verify=True, limits=limits))


def bounded(made: httpx.HTTPTransport) -> httpx.HTTPTransport:
    """``made``, its network operations now honouring ``within``. httpx offers no public hook for the
    network backend, so the pool's backend is wrapped in place; tests/integration/test_http_deadline.py
    fails if a new httpx moves it."""
    pool = made._pool
    pool._network_backend = _Backend(pool._network_backend)
    return made
