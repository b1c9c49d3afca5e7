"""The HTTP side of the emulator: routes, the order checks happen in, and HSS/APIG/IAM-shaped answers.

Order for ListImageLocal, as a gateway in front of HSS would do it: latency → gateway fault (reset,
429, 5xx, slow) → authentication (401) → project (403) → parameters (400) → listing → answer faults →
triggers (token expiry, fleet mutation) → answer. Every answer carries ``X-Request-Id``.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import struct
import uuid
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import msgspec

from imagewatch.emulator.auth import Denied
from imagewatch.emulator.faults import Fault, Target
from imagewatch.emulator.filters import QueryError, parse_query
from imagewatch.hss import signer

if TYPE_CHECKING:
    from imagewatch.emulator.server import Emulator

log = logging.getLogger("imagewatch.emulator")

LIST_PATH = re.compile(r"^/v5/(?P<project>[^/]+)/image/local-repositories/?$")
IAM_PATH = "/v3/auth/tokens"
CONTROL_PREFIX = "/_emulator/"
MAX_BODY = 1 << 20
JSON_TYPE = "application/json;charset=UTF-8"

# Bodies of injected gateway errors; 502/504 as the API gateway words them, 500/503 our choice.
ERROR_BODIES: dict[int, tuple[str, str]] = {
    500: ("HSS.0500", "Internal server error (injected by the emulator)"),
    502: ("APIG.0201", "Backend unavailable"),
    503: ("APIG.0201", "Backend unavailable: service temporarily overloaded"),
    504: ("APIG.0203", "Backend timeout"),
}
THROTTLE_MSG = (
    "The throttling threshold has been reached: policy user over ratelimit, limit:100, time:1 minute"
)


def hss_error(code: str, message: str) -> dict[str, str]:
    return {"error_code": code, "error_msg": message}


def iam_error(denied: Denied) -> dict[str, Any]:
    """IAM's answer: its error code and message, plus the Keystone ``error`` object IAM also sends."""
    title = {400: "Bad Request", 401: "Unauthorized"}.get(denied.status, "Error")
    return {
        "error_code": denied.code,
        "error_msg": denied.message,
        "error": {"code": denied.status, "message": denied.message, "title": title},
    }


class Handler(BaseHTTPRequestHandler):
    """One connection; ``server.emulator`` is the Emulator it serves."""

    protocol_version = "HTTP/1.1"  # keep-alive, as the SDK and httpx expect
    server_version = "HSS-Emulator"
    sys_version = ""
    timeout = 30  # idle keep-alive connections give up after this

    _request_id: str | None = None
    _counted = False  # a request is counted in stats until it is finished

    def setup(self) -> None:
        """No Nagle delay: headers and body go out as two writes, and a kept-alive client would
        otherwise wait for a delayed ACK (40 ms) on every answer."""
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    @property
    def emulator(self) -> Emulator:
        return self.server.emulator  # type: ignore[attr-defined,no-any-return]

    # -- plumbing --------------------------------------------------------------------------------

    def request_id(self) -> str:
        if self._request_id is None:
            self._request_id = uuid.uuid4().hex
        return self._request_id

    def send_response(self, code: int, message: str | None = None) -> None:
        super().send_response(code, message)
        self.send_header("X-Request-Id", self.request_id())

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Protocol errors (bad request line, unknown method) as HSS JSON, not the stdlib's HTML."""
        self.close_connection = True
        self.send_json(code, hss_error("HSS.0002", f"failed to parse request: {message or code}"))

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def send_json(self, status: int, body: object, headers: Mapping[str, str] | None = None) -> int:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.finish_stats(status)
        try:
            self.send_response(status)
            self.send_header("Content-Type", JSON_TYPE)
            self.send_header("Content-Length", str(len(raw)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(raw)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (e.g. a timeout during a slow fault)
        return status

    def reset_connection(self) -> None:
        """Close the socket with RST and no answer at all."""
        self.finish_stats(None)
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        finally:
            self.connection.close()

    def finish_stats(self, status: int | None) -> None:
        """Count the request as done *before* its answer leaves: a client that has its answer sees
        complete stats (no race between reading ``emulator.stats`` and this thread)."""
        if self._counted:
            self._counted = False
            self.emulator.stats_recorder.end(status)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise ValueError(f"request body of {length} bytes exceeds {MAX_BODY}")
        return self.rfile.read(length) if length > 0 else b""

    # -- routing ---------------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def handle_one_request(self) -> None:
        self._request_id = None  # a new id for every request on a kept-alive connection
        super().handle_one_request()

    def _serve(self) -> None:
        raw_path, _, raw_query = self.path.partition("?")
        listing = LIST_PATH.match(raw_path) if self.command == "GET" else None
        if listing:
            route = "list"
        elif raw_path == IAM_PATH and self.command == "POST":
            route = "iam"
        elif raw_path.startswith(CONTROL_PREFIX):
            route = "control"
        else:
            route = "unknown"
        self.emulator.stats_recorder.begin(raw_path, route)
        self._counted = True
        try:
            try:
                body = self._body()
            except ValueError as exc:
                self.close_connection = True
                self.send_json(400, hss_error("HSS.0002", f"failed to parse request: {exc}"))
                return
            if route == "control":
                self._control(raw_path, body)
            elif route == "unknown":
                self.send_json(
                    404,
                    hss_error(
                        "APIG.0101", "The API does not exist or has not been published in the environment"
                    ),
                )
            else:
                self._gated("list" if listing else "iam", raw_path, raw_query, body, listing)
        except Exception:
            log.exception("emulator error serving %s %s", self.command, raw_path)
            if self._counted:  # nothing was answered yet: say so rather than drop the connection
                self.close_connection = True
                self.send_json(500, hss_error("HSS.0500", "emulator internal error (see its log)"))
        finally:
            self.finish_stats(None)  # only if no answer was sent (an unexpected error)

    def _gated(
        self, target: Target, raw_path: str, raw_query: str, body: bytes, listing: re.Match[str] | None
    ) -> None:
        """A request through the emulated gateway: latency and gateway faults first."""
        emulator = self.emulator
        if emulator.faults.latency_ms:
            emulator.pause(emulator.faults.latency_ms / 1000)
        fault = emulator.faults.on_arrival(target)
        if fault is not None and self._gateway_fault(fault):
            return
        if target == "iam":
            self._iam(body)
        elif listing is not None:
            self._list(unquote(listing["project"]), raw_path, raw_query, body)

    def _gateway_fault(self, fault: Fault) -> bool:
        """Apply a gateway fault; True when it ended the request (all but ``slow``)."""
        if fault.kind == "reset":
            self.reset_connection()
        elif fault.kind == "throttle":
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else None
            self.send_json(429, hss_error("APIG.0308", THROTTLE_MSG), headers)
        elif fault.kind == "error":
            code, message = ERROR_BODIES[fault.status]
            self.send_json(fault.status, hss_error(code, message if fault.message is None else fault.message))
        elif fault.kind == "trickle":
            self._trickle(fault.delay_s)
        else:
            self.emulator.pause(fault.delay_s)  # slow: then answer as usual
            return False
        return True

    def _trickle(self, delay_s: float) -> None:
        """A 200 whose body comes a byte every ``delay_s`` until the client hangs up or the emulator
        stops (pacing a peer in real time: the client's own deadline is what is under test)."""
        self.finish_stats(200)
        self.close_connection = True
        try:
            self.send_response(200)
            self.send_header("Content-Type", JSON_TYPE)
            self.send_header("Content-Length", str(10_000_000))
            self.end_headers()
            self.wfile.flush()
            while not self.emulator.stopping:
                self.emulator.pause(delay_s)
                self.wfile.write(b" ")
                self.wfile.flush()
        except OSError:
            pass

    # -- the three services ----------------------------------------------------------------------

    def _list(self, project: str, raw_path: str, raw_query: str, body: bytes) -> int:
        emulator = self.emulator
        granted = emulator.auth.check(self.command, raw_path, raw_query, dict(self.headers.items()), body)
        if isinstance(granted, Denied):
            return self.send_json(granted.status, hss_error(granted.code, granted.message))
        if not 1 <= len(project) <= 256:
            return self.send_json(
                400,
                hss_error(
                    "HSS.0001", f"invalid parameter 'project_id': got length {len(project)}, expected 1..256"
                ),
            )
        if project != emulator.credentials.project_id:
            return self.send_json(
                403,
                hss_error(
                    "HSS.0010",
                    f"access denied: project_id {project!r} is not the project of these credentials",
                ),
            )
        try:
            request = parse_query(signer.split_query(raw_query), emulator.semantics)
        except QueryError as exc:
            return self.send_json(400, hss_error("HSS.0001", str(exc)))
        lie = emulator.faults.on_lie()
        offset = 0 if lie is not None and lie.shape == "ignore_offset" else request.offset
        total, records = emulator.fleet.page(request.filter, offset, request.limit)
        corrupted = False
        for fault in emulator.faults.corruptions(request.offset, len(records)):
            position = fault.offset - request.offset
            corrupted = True
            if fault.field is None:
                records[position] = fault.value
            elif isinstance(records[position], dict):
                records[position][fault.field] = fault.value
        raw = _page_body(_told(lie, total, records), plain=not corrupted)
        if emulator.faults.on_answer() is not None:
            raw = raw[: max(1, len(raw) // 2)]  # cut mid-document: not JSON any more
        if granted.token is not None and emulator.faults.token_used():
            emulator.auth.expire(granted.token)
        mutation = emulator.faults.after_answer()
        if mutation is not None:
            emulator.fleet.delete_front(mutation.delete, request.filter)
            emulator.fleet.clone_front(mutation.insert, request.filter)
        return self.send_json(200, raw)

    def _iam(self, body: bytes) -> int:
        issued = self.emulator.auth.password_token(body)
        if isinstance(issued, Denied):
            return self.send_json(issued.status, iam_error(issued))
        token, answer = issued
        return self.send_json(201, answer, {"X-Subject-Token": token})

    def _control(self, raw_path: str, body: bytes) -> int:
        """``/_emulator/stats`` (GET), ``/_emulator/faults`` (GET, POST a spec or a list, DELETE)."""
        emulator = self.emulator
        name = raw_path[len(CONTROL_PREFIX) :].strip("/")
        if name == "stats" and self.command == "GET":
            return self.send_json(200, _stats_json(emulator))
        if name == "faults" and self.command == "GET":
            return self.send_json(
                200, {"faults": emulator.faults.pending(), "latency_ms": emulator.faults.latency_ms}
            )
        if name == "faults" and self.command == "DELETE":
            emulator.faults.clear()
            return self.send_json(200, {"faults": []})
        if name == "faults" and self.command == "POST":
            try:
                specs = json.loads(body or b"null")
                for spec in specs if isinstance(specs, list) else [specs]:
                    if not isinstance(spec, Mapping):
                        raise ValueError(f"expected a fault object, got {spec!r}")
                    emulator.faults.arm(spec)
            except ValueError as exc:
                return self.send_json(400, hss_error("HSS.0001", f"fault spec: {exc}"))
            return self.send_json(200, {"faults": emulator.faults.pending()})
        return self.send_json(404, hss_error("APIG.0101", f"no control endpoint {self.command} {raw_path}"))


def _stats_json(emulator: Emulator) -> dict[str, Any]:
    stats = emulator.stats
    return {
        "requests": stats.requests,
        "in_flight": stats.in_flight,
        "max_in_flight": stats.max_in_flight,
        "by_path": stats.by_path,
        "by_route": stats.by_route,
        "by_status": {str(status): count for status, count in stats.by_status.items()},
    }


_encode_page = msgspec.json.Encoder().encode


def _page_body(document: dict[str, Any], *, plain: bool) -> bytes:
    """A page's JSON. msgspec's encoder takes ~0.1 ms for 200 records where ``json.dumps`` takes ~0.6:
    on one machine the emulator's CPU competes with the client it serves, and the paging benchmark
    should measure the client. A page carrying a corruption fault keeps ``json.dumps``, which writes
    what msgspec refuses or rewrites (``NaN``, integers beyond 64 bits, lone surrogates)."""
    if plain:
        try:
            return _encode_page(document)
        except (TypeError, OverflowError, UnicodeEncodeError, msgspec.EncodeError):
            pass
    return json.dumps(document).encode()


def _told(lie: Fault | None, total: int, records: list[Any]) -> dict[str, Any]:
    """The answer's body: the page as it is, or as a ``lie`` fault tells it."""
    if lie is None or lie.shape == "ignore_offset":
        return {"total_num": total, "data_list": records}
    if lie.shape == "null_list":
        return {"total_num": total, "data_list": None}
    if lie.shape == "short":
        return {"total_num": total, "data_list": records[: lie.keep]}
    if lie.shape == "low_total":
        return {"total_num": len(records) // 2, "data_list": records}
    return {"total_num": total, "data_list": records + records[:1] * 5}  # long
