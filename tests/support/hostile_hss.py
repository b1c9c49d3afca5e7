"""A ListImageLocal server on 127.0.0.1 that answers whatever a test scripts: the shapes a broken or
hostile HSS (or something posing as it) can send, which the emulator — faithful by design — never
would. ``script(offset, limit)`` returns the status and the body, or ``None`` for a well-formed page
of ``fleet``. Every request is recorded, so tests can assert what the client asked for."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

Answer = tuple[int, bytes] | None
Script = Callable[[int, int], Answer]


def record(index: int, **changes: Any) -> dict[str, Any]:
    """A well-formed ImageLocalInfo record; every one violates "no High severity images"."""
    return {
        "image_id": f"img-{index:05d}",
        "image_name": f"app-{index % 50}",
        "image_version": "1.0",
        "host_id": f"host-{index:05d}",
        "host_name": f"ecs-{index:05d}",
        "scan_status": "success",
        "severity_level": "High",
        "vul_num": 3,
        "latest_scan_time": 1_796_000_000_000,
        **changes,
    }


def page_body(records: list[Any] | None, total: int, *, with_list: bool = True) -> bytes:
    body: dict[str, Any] = {"total_num": total}
    if with_list:
        body["data_list"] = records
    return json.dumps(body).encode()


class HostileHss:
    """``fleet`` records served faithfully, except where ``script`` says otherwise."""

    def __init__(self, fleet: list[dict[str, Any]], script: Script | None = None) -> None:
        self.fleet = fleet
        self.script: Script = script or (lambda offset, limit: None)
        self.requests: list[tuple[int, int]] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                query = parse_qs(urlsplit(self.path).query)
                offset, limit = int(query.get("offset", ["0"])[0]), int(query.get("limit", ["10"])[0])
                with server._lock:
                    server.requests.append((offset, limit))
                answer = server.script(offset, limit)
                if answer is None:
                    answer = 200, page_body(server.fleet[offset : offset + limit], len(server.fleet))
                status, body = answer
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("X-Request-Id", "hostile")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> HostileHss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
