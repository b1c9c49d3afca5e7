"""A chat webhook stand-in: a real HTTP server on 127.0.0.1 that records what it is sent.

It answers the way a platform does (``slack``: HTTP 200 ``ok``; ``generic``: 204), can be told to fail
the next N requests with a given status and body, and can verify the generic HMAC signature itself.
Tests wait on ``wait_for(n)`` (an event, not a sleep).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True, slots=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True, slots=True)
class Scripted:
    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()


class WebhookSink:
    """Start with ``with WebhookSink() as sink:``; post to ``sink.url``."""

    def __init__(self, platform: str = "generic", *, secret: str | None = None) -> None:
        self.platform = platform
        self.secret = secret
        self.received: list[Received] = []
        self.rejected_signatures = 0
        self.attempts = 0  # every request, accepted or not
        self._script: deque[Scripted] = deque()
        self._lock = threading.Condition()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                sink._answer(self, Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))

            def log_message(self, format: str, *args: object) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        path = "/services/T000/B000/XXXX" if self.platform == "slack" else "/hook"
        return f"http://{host}:{port}{path}"

    def start(self) -> WebhookSink:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> WebhookSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def fail_next(
        self, count: int, status: int, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> None:
        """The next ``count`` requests get this answer instead of success."""
        with self._lock:
            self._script.extend([Scripted(status, body, tuple((headers or {}).items()))] * count)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Block until ``count`` requests have arrived (or the timeout passes); return them all."""
        with self._lock:
            self._lock.wait_for(lambda: len(self.received) >= count, timeout)
            return list(self.received)

    def _verify(self, request: Received) -> bool:
        if not self.secret:
            return True
        timestamp = request.headers.get("x-imagewatch-timestamp", "")
        expected = (
            "sha256="
            + hmac.new(
                self.secret.encode(), timestamp.encode() + b"." + request.body, hashlib.sha256
            ).hexdigest()
        )
        return hmac.compare_digest(expected, request.headers.get("x-imagewatch-signature", ""))

    def _answer(self, handler: BaseHTTPRequestHandler, request: Received) -> None:
        with self._lock:
            self.attempts += 1
            scripted = self._script.popleft() if self._script else None
            signed = self._verify(request)
            if scripted is None and signed:
                self.received.append(request)
            elif not signed:
                self.rejected_signatures += 1
            self._lock.notify_all()
        if scripted is None and not signed:
            scripted = Scripted(401, b"bad signature")
        if scripted is None:
            scripted = Scripted(200, b"ok") if self.platform == "slack" else Scripted(204)
        handler.send_response(scripted.status)
        for name, value in scripted.headers:
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(scripted.body)))
        handler.end_headers()
        handler.wfile.write(scripted.body)
