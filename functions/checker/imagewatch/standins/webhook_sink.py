"""A chat webhook stand-in: a real HTTP server on 127.0.0.1 that answers like the platform it plays.

``WebhookSink(platform, secret=…, keywords=…)`` serves the platform's URL path, accepts what the
platform would accept (its "yes": Slack ``ok``, Feishu ``code 0``, DingTalk/WeCom ``errcode 0``,
Discord 204, Google Chat a Message, Teams 202, generic 204) and refuses what it would refuse, the way
it refuses: oversized payloads, missing keywords, wrong or stale signatures (checked by the stand-in
itself), a deleted webhook (``remove()``). Tests script the next answers with ``throttle_next(n)``
(the platform's own "too fast") or ``fail_next(n, status, body)``, and wait on ``wait_for(n)`` (an
event, not a sleep). Behaviours per platform live in ``standins.chat``.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from imagewatch.standins.chat import BEHAVIOURS, Received, Scripted

__all__ = ["Received", "Rejection", "Scripted", "WebhookSink"]


@dataclass(frozen=True, slots=True)
class Rejection:
    """A request the stand-in refused on its own account (not a scripted answer)."""

    reason: str  # "signature", "payload" (limits, shape, keywords) or "removed"
    request: Received
    answer: Scripted


class WebhookSink:
    """Start with ``with WebhookSink("feishu", secret="s") as sink:``; post to ``sink.url``."""

    def __init__(
        self,
        platform: str = "generic",
        *,
        secret: str | None = None,
        keywords: tuple[str, ...] = (),
        token: str = "st4nd-in-t0ken",  # noqa: S107 - a made-up path segment, not a credential
        clock: Callable[[], float] = time.time,
    ) -> None:
        if platform not in BEHAVIOURS:
            raise ValueError(f"stand-in: no platform {platform!r}; known: {', '.join(sorted(BEHAVIOURS))}")
        self.platform = platform
        self.behaviour = BEHAVIOURS[platform]()
        self.secret = secret
        self.keywords = keywords
        self.token = token
        self.received: list[Received] = []  # accepted requests only
        self.rejections: list[Rejection] = []
        self.rejected_signatures = 0
        self.attempts = 0  # every request, accepted or not
        self._clock = clock
        self._removed = False
        self._script: deque[Scripted | Callable[[], Scripted]] = deque()
        self._lock = threading.Condition()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                sink._reply(self, sink._answer(Received(self.path, headers, body)))

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
        return f"http://{host}:{port}{self.behaviour.path(self.token)}"

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

    def throttle_next(self, count: int, retry_after: float = 2.0) -> None:
        """The next ``count`` requests get the platform's own "too fast" answer (429 with
        ``Retry-After``; Discord's JSON ``retry_after``; Feishu 11232, DingTalk 130101, WeCom 45009)."""
        with self._lock:
            self._script.extend([self.behaviour.throttled(retry_after)] * count)

    def remove(self) -> None:
        """The webhook is deleted: from now on every request gets the platform's "no such webhook"."""
        with self._lock:
            self._removed = True

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Block until ``count`` requests have been accepted (or the timeout passes); return them."""
        with self._lock:
            self._lock.wait_for(lambda: len(self.received) >= count, timeout)
            return list(self.received)

    def _answer(self, request: Received) -> Scripted:
        with self._lock:
            self.attempts += 1
            try:
                if self._removed:
                    return self._reject("removed", request, self.behaviour.removed())
                if self._script:
                    scripted = self._script.popleft()
                    return scripted() if callable(scripted) else scripted
                signed = not (self.secret and self.behaviour.signed) or self.behaviour.verify(
                    request, self.secret, self._clock()
                )
                if not signed:
                    self.rejected_signatures += 1
                    return self._reject("signature", request, self.behaviour.bad_signature())
                refused = self.behaviour.check(request, self.keywords)
                if refused is not None:
                    return self._reject("payload", request, refused)
                self.received.append(request)
                return self.behaviour.success(request)
            finally:
                self._lock.notify_all()

    def _reject(self, reason: str, request: Received, answer: Scripted) -> Scripted:
        self.rejections.append(Rejection(reason, request, answer))
        return answer

    @staticmethod
    def _reply(handler: BaseHTTPRequestHandler, answer: Scripted) -> None:
        handler.send_response(answer.status)
        for name, value in answer.headers:
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(answer.body)))
        handler.end_headers()
        handler.wfile.write(answer.body)
