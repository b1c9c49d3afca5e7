"""``Emulator``: a real HTTP server on 127.0.0.1 that answers like HSS ListImageLocal and IAM.

Use it as a context manager: it binds a free port (or the one given), serves from a background thread,
one thread per connection, and stops cleanly (waking any request sleeping in a ``slow`` fault).
The deployed handler never imports this package; only the CLI and tests do.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import sys
import threading
import time
from collections.abc import Callable
from http.server import ThreadingHTTPServer
from types import TracebackType
from typing import Any

from imagewatch.emulator.auth import Authenticator, Clock, Credentials
from imagewatch.emulator.faults import Faults
from imagewatch.emulator.filters import DEFAULT_SEMANTICS, Semantics
from imagewatch.emulator.fleet import Fleet
from imagewatch.emulator.handler import Handler
from imagewatch.emulator.stats import Stats, StatsRecorder


def check_loopback(host: str) -> str:
    """The address to bind: only loopback, since the emulator accepts demo credentials."""
    if host == "localhost":
        return "127.0.0.1"
    try:
        if ipaddress.ip_address(host).is_loopback:
            return host
    except ValueError:
        pass
    raise ValueError(f"emulator host: got {host!r}, expected a loopback address such as 127.0.0.1")


class _Server(ThreadingHTTPServer):
    """ThreadingHTTPServer that remembers open connections so ``stop`` can close idle keep-alives."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], emulator: Emulator) -> None:
        if ":" in address[0]:  # ::1: the IPv6 loopback (AK/SK tests sign the bracketed Host)
            self.address_family = socket.AF_INET6
        self.emulator = emulator
        self.connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that vanish (timeouts, resets) are expected here; other errors still print."""
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError | OSError):
            return
        super().handle_error(request, client_address)

    def close_connections(self) -> None:
        with self._connections_lock:
            open_now = list(self.connections)
        for connection in open_now:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class Emulator:
    """A local HSS: ``with Emulator() as emu: httpx.get(emu.list_url, headers=...)``."""

    def __init__(
        self,
        fleet: Fleet | None = None,
        credentials: Credentials | None = None,
        faults: Faults | None = None,
        *,
        clock: Clock = time.time,
        host: str = "127.0.0.1",
        port: int = 0,
        semantics: Semantics = DEFAULT_SEMANTICS,
    ) -> None:
        self.host = check_loopback(host)
        self.semantics = semantics  # how filters the API page leaves open behave (filters.Semantics)
        self.requested_port = port
        self.fleet = fleet if fleet is not None else Fleet.synthetic()
        self.credentials = credentials if credentials is not None else Credentials()
        self.faults = faults if faults is not None else Faults()
        self.clock = clock
        self.auth = Authenticator(self.credentials, clock)
        self.stats_recorder = StatsRecorder()
        self._stopping = False
        self._wakes = 0
        self._pausing = threading.Condition()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        state = self.url if self._server else "stopped"
        return f"Emulator({state}, project_id={self.project_id!r}, records={len(self.fleet)})"

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> Emulator:
        """Bind and serve in a background thread; returns self once it accepts connections."""
        if self._server is not None:
            raise RuntimeError("emulator already started")
        self._stopping = False
        self._server = _Server((self.host, self.requested_port), self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.01},
            name="hss-emulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, wake sleeping requests, close connections. Idempotent."""
        server, self._server = self._server, None
        if server is None:
            return
        with self._pausing:
            self._stopping = True
            self._pausing.notify_all()
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def stopping(self) -> bool:
        """The server is shutting down: long answers (a trickle) end."""
        return self._stopping

    def pause(self, seconds: float) -> None:
        """Sleep inside a request (latency, slow faults), cut short by ``wake`` or ``stop``."""
        with self._pausing:
            wakes = self._wakes
            self._pausing.wait_for(lambda: self._stopping or self._wakes != wakes, seconds)

    def wake(self) -> None:
        """End every pause in progress now: release requests held by a ``slow`` fault or latency."""
        with self._pausing:
            self._wakes += 1
            self._pausing.notify_all()

    # -- addresses -------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("emulator not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (``http://[::1]:PORT``): the HSS endpoint, and the IAM endpoint too."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def project_id(self) -> str:
        return self.credentials.project_id

    @property
    def list_url(self) -> str:
        """The ListImageLocal URL for the configured project."""
        return f"{self.url}/v5/{self.project_id}/image/local-repositories"

    # -- observation -----------------------------------------------------------------------------

    @property
    def stats(self) -> Stats:
        """Requests served, max in flight, per path / route / status counts (a snapshot)."""
        return self.stats_recorder.snapshot()

    def reset_stats(self) -> None:
        self.stats_recorder.reset()

    def wait_for(self, predicate: Callable[[Stats], bool], timeout: float = 10.0) -> Stats:
        """Block until ``predicate(stats)`` holds (e.g. ``lambda s: s.in_flight == 2``)."""
        return self.stats_recorder.wait(predicate, timeout)
