"""A Security Hub stand-in on 127.0.0.1 for the faults moto does not play: findings it refuses
(``FailedFindings``), throttling (HTTP 429, the error codes the API documents), a hub that is not
enabled (401 ``InvalidAccessException``), an answer that does not add up, a batch refused whole for
one bad finding (400 ``InvalidInputException``), an answer held back until the client gave up (it
imported the batch all the same).

It speaks the REST-JSON protocol boto3 uses (``POST /findings/import`` for ``BatchImportFindings``,
``POST /findings`` for ``GetFindings``), so the real client, its error parsing and the adapter's
retries are what a test exercises. It keeps what it imported, by Id, and every call's Ids, so tests
assert what was sent and what was not. Point boto3 at it with ``AWS_ENDPOINT_URL_SECURITYHUB``.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Refuse = Callable[[dict[str, Any]], tuple[str, str] | None]  # a finding -> (ErrorCode, ErrorMessage) or None


class SecurityHubStandIn:
    """``with SecurityHubStandIn() as hub:``; ``hub.url`` is the endpoint."""

    def __init__(self) -> None:
        self.enabled = True
        self.refuse: Refuse = lambda finding: None
        self.findings: dict[str, dict[str, Any]] = {}  # what it imported, by Id (later imports replace)
        self.calls: list[list[str]] = []  # the Ids of every BatchImportFindings call, answered or not
        self.bodies: list[bytes] = []  # every request body, as sent
        self.throttled_calls: set[int] = set()  # the imports (1 = the first) answered 429, whatever they hold
        self.on_import: Callable[[], None] | None = None  # told of every import before it is answered
        self.bad: Callable[[dict[str, Any]], bool] = lambda finding: False  # a batch holding one: 400, whole
        self.stall = False  # imports are processed, then answered only once ``release()`` (or exit)
        self._released = threading.Event()
        self._script: deque[tuple[int, dict[str, Any]]] = deque()  # the next answers, ahead of the rest
        self._lock = threading.Lock()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                stalled = stand_in.stall and self.path.rstrip("/") == "/findings/import"
                status, answer = stand_in._answer(self.path, body)
                if stalled:  # imported, but the client has given up waiting by the time it is told
                    stand_in._released.wait(timeout=60)
                data = json.dumps(answer).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    if status >= 400:
                        self.send_header("x-amzn-ErrorType", answer["Code"])
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client timed out and closed the connection
                    pass

            def log_message(self, *args: object) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> SecurityHubStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # -- scripting ------------------------------------------------------------------------------

    def throttle_next(self, count: int, code: str = "TooManyRequestsException") -> None:
        """The next ``count`` imports answer 429 with ``code``."""
        for _ in range(count):
            self._script.append((429, {"Code": code, "Message": "Rate exceeded"}))

    def release(self) -> None:
        """Answer the held imports (``stall``) and hold no more."""
        self.stall = False
        self._released.set()

    def answer_next(self, status: int, answer: dict[str, Any]) -> None:
        """The next import gets this answer as it is, whatever it was sent."""
        self._script.append((status, answer))

    @property
    def imports(self) -> int:
        return len(self.calls)

    def sent_ids(self) -> list[str]:
        return [finding_id for call in self.calls for finding_id in call]

    # -- serving --------------------------------------------------------------------------------

    def _answer(self, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.bodies.append(body)
            request = json.loads(body or b"{}")
            if path.rstrip("/") == "/findings/import":
                return self._import(request.get("Findings") or [])
            if path.rstrip("/") == "/findings":
                return 200, {"Findings": list(self.findings.values())}
            return 404, {"Code": "ResourceNotFoundException", "Message": f"no {path}"}

    def _import(self, findings: list[dict[str, Any]]) -> tuple[int, dict[str, Any]]:
        self.calls.append([finding["Id"] for finding in findings])
        if self.on_import is not None:
            self.on_import()
        if self._script:
            return self._script.popleft()
        if len(self.calls) in self.throttled_calls:
            return 429, {"Code": "TooManyRequestsException", "Message": "Rate exceeded"}
        if not self.enabled:
            return 401, {
                "Code": "InvalidAccessException",
                "Message": "Account 123456789012 is not subscribed to AWS Security Hub",
            }
        if any(self.bad(finding) for finding in findings):
            return 400, {"Code": "InvalidInputException", "Message": "Finding is malformed"}
        failed = []
        for finding in findings:
            refused = self.refuse(finding)
            if refused is None:
                self.findings[finding["Id"]] = finding
            else:
                failed.append({"Id": finding["Id"], "ErrorCode": refused[0], "ErrorMessage": refused[1]})
        return 200, {
            "FailedCount": len(failed),
            "SuccessCount": len(findings) - len(failed),
            "FailedFindings": failed,
        }
