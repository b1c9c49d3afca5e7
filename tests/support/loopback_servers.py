"""Tiny servers on 127.0.0.1 for faults the stand-ins do not play: a black hole (accepts, never
answers: read timeouts), a refused port (connection refused: a channel that is down), and a server
whose answer never ends (body size caps). Each counts what it did, so tests assert on it."""

from __future__ import annotations

import contextlib
import itertools
import socket
import threading
from collections.abc import Callable


class _Server:
    def __init__(self, serve: Callable[[socket.socket], None]) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self._serve = serve
        self._stop = threading.Event()
        self._clients: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._accepting = threading.Thread(target=self._accept, daemon=True)
        self.connections = 0

    @property
    def port(self) -> int:
        return int(self._listener.getsockname()[1])

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            self._clients.append(client)
            thread = threading.Thread(target=self._serve, args=(client,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def __enter__(self) -> _Server:
        self._accepting.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._accepting.join(timeout=5)
        self._listener.close()
        for client in self._clients:
            with contextlib.suppress(OSError):
                client.close()
        for thread in self._threads:
            thread.join(timeout=5)


class BlackHole(_Server):
    """Reads requests and never answers: every client times out."""

    def __init__(self) -> None:
        super().__init__(self._hold)

    def _hold(self, client: socket.socket) -> None:
        client.settimeout(0.05)
        while not self._stop.is_set():
            try:
                if not client.recv(65536):
                    return
            except TimeoutError:
                continue
            except OSError:
                return


class EndlessAnswer(_Server):
    """Answers every request ``200`` with ``content_type`` and a body that never ends (chunked), and
    counts the body bytes it managed to write before the client hung up."""

    def __init__(self, content_type: str = "application/json", chunk: bytes = b" " * 65536) -> None:
        super().__init__(self._flood)
        self.content_type = content_type
        self.chunk = chunk
        self.body_bytes_sent = 0
        self.hung_up = threading.Event()

    def _flood(self, client: socket.socket) -> None:
        try:
            request = b""
            while b"\r\n\r\n" not in request:
                data = client.recv(65536)
                if not data:
                    return
                request += data
            client.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: " + self.content_type.encode()
                + b"\r\nTransfer-Encoding: chunked\r\n\r\n"
            )  # fmt: skip
            frame = f"{len(self.chunk):x}\r\n".encode() + self.chunk + b"\r\n"
            while not self._stop.is_set():
                client.sendall(frame)
                self.body_bytes_sent += len(self.chunk)
        except OSError:
            pass
        finally:
            self.hung_up.set()


def refused_url(path: str = "/hook") -> str:
    """A loopback URL nothing listens on: connection refused (a channel that is down)."""
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


class Trickle(_Server):
    """Answers every request one byte every ``interval_s`` for as long as the client listens: the head
    at once and then the body a byte at a time, or (``headers_too=True``) the head itself a byte at a
    time, in a header line that never ends. Counts the bytes it trickled."""

    def __init__(self, *, headers_too: bool = False, interval_s: float = 0.02) -> None:
        super().__init__(self._trickle)
        self.headers_too = headers_too
        self.interval_s = interval_s
        self.bytes_sent = 0
        self.hung_up = threading.Event()

    def _trickle(self, client: socket.socket) -> None:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n"
        try:
            request = b""
            while b"\r\n\r\n" not in request:
                data = client.recv(65536)
                if not data:
                    return
                request += data
            if self.headers_too:  # a header line that never ends
                stream = itertools.chain(b"HTTP/1.1 200 OK\r\nX-Trickle: ", itertools.repeat(ord("a")))
            else:
                client.sendall(head)
                stream = itertools.repeat(ord(" "))
            for byte in stream:
                if self._stop.wait(self.interval_s):  # pacing the peer, not synchronising the test
                    return
                client.sendall(bytes([byte]))
                self.bytes_sent += 1
        except OSError:
            pass
        finally:
            self.hung_up.set()
