"""Fault injection, deterministic by count: "the next 3 ListImageLocal requests get 429", never by time.

Three kinds, each counted on its own stream of events (docs/emulator.md has the full table):

* gateway faults (``throttle``, ``error``, ``slow``, ``reset``) hit requests as they arrive, before
  authentication, like an API gateway in front of HSS: ``after`` requests pass, then ``times`` get it;
* answer faults (``malformed``, ``corrupt``, ``lie``) alter successful ListImageLocal answers — ``lie``
  plays the shapes a broken or hostile server sends: ``data_list`` null, a short page, a ``total_num``
  lower than the records, a page longer than ``limit``, the first page served whatever the offset;
* triggers (``expire_token_after``, ``mutate_after``) fire after the K-th successful answer.

``times=None`` keeps a fault armed until ``clear()``. Plus ``latency_ms``, added to every request.
All methods are thread-safe; the same plan can be armed from Python, CLI flags or the control endpoint.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

Target = Literal["list", "iam"]
GATEWAY_KINDS = ("throttle", "error", "slow", "reset", "trickle")
LIE_SHAPES = ("null_list", "short", "low_total", "long", "ignore_offset")
ERROR_STATUSES = (500, 502, 503, 504)
TARGETS = ("list", "iam")


@dataclass(slots=True)
class Fault:
    """One armed fault and its remaining counts."""

    kind: str
    target: Target = "list"
    after: int = 0  # matching events to let pass first
    times: int | None = 1  # events to hit; None = until cleared
    status: int = 0  # error
    retry_after: int | None = None  # throttle: Retry-After seconds
    delay_s: float = 0.0  # slow
    offset: int = 0  # corrupt: position in the listing
    field: str | None = "vul_num"  # corrupt: None replaces the whole record
    value: Any = "many"  # corrupt
    insert: int = 0  # mutate
    delete: int = 0  # mutate
    message: str | None = None  # error: its error_msg instead of the gateway's usual wording
    shape: str = ""  # lie: one of LIE_SHAPES
    keep: int = 0  # lie "short": records kept from the page

    def describe(self) -> dict[str, Any]:
        """JSON-ready, in the shape ``Faults.arm`` accepts (with the remaining ``after``/``times``)."""
        if self.kind == "mutate_after":
            return {
                "kind": self.kind,
                "requests": self.after + 1,
                "insert": self.insert,
                "delete": self.delete,
            }
        if self.kind == "corrupt":
            return {
                "kind": self.kind,
                "offset": self.offset,
                "field": self.field,
                "value": self.value,
                "times": self.times,
            }
        shown: dict[str, Any] = {"kind": self.kind, "after": self.after, "times": self.times}
        if self.kind in GATEWAY_KINDS:
            shown["target"] = self.target
        values = asdict(self)
        shown.update({key: values[key] for key in _DETAILS.get(self.kind, ())})
        if self.message is not None:
            shown["message"] = self.message
        return shown


_DETAILS = {
    "throttle": ("retry_after",),
    "error": ("status",),
    "slow": ("delay_s",),
    "trickle": ("delay_s",),
    "lie": ("shape", "keep"),
    "corrupt": ("offset", "field", "value"),
}


def _count(name: str, value: object, *, allow_none: bool = False, low: int = 0) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"fault {name}: got {value!r}, expected an integer ≥ {low}")


class Faults:
    """The armed faults of one emulator."""

    def __init__(self, *, latency_ms: float = 0.0) -> None:
        self._lock = threading.Lock()
        self._armed: list[Fault] = []
        self.latency_ms = latency_ms
        self._token_countdown: int | None = None

    # -- arming ----------------------------------------------------------------------------------

    def _arm(self, fault: Fault) -> Fault:
        _count("after", fault.after)
        _count("times", fault.times, allow_none=True, low=1)
        if fault.target not in TARGETS:
            raise ValueError(f"fault target: got {fault.target!r}, expected one of {', '.join(TARGETS)}")
        with self._lock:
            self._armed.append(fault)
        return fault

    def throttle(
        self,
        times: int | None = 1,
        *,
        retry_after: int | None = None,
        after: int = 0,
        target: Target = "list",
    ) -> Fault:
        """Answer 429 ``APIG.0308`` (with ``Retry-After: retry_after`` seconds when given)."""
        if retry_after is not None:
            _count("retry_after", retry_after)
        return self._arm(Fault("throttle", target, after, times, retry_after=retry_after))

    def error(
        self,
        status: int = 503,
        times: int | None = 1,
        *,
        after: int = 0,
        target: Target = "list",
        message: str | None = None,
    ) -> Fault:
        """Answer a server error: 500, 502 (``APIG.0201``), 503 or 504 (``APIG.0203``); ``message``
        replaces its ``error_msg`` (any text: a hostile peer's, for the client's and CLI's escaping)."""
        if status not in ERROR_STATUSES:
            raise ValueError(f"fault status: got {status!r}, expected one of {ERROR_STATUSES}")
        if message is not None and not isinstance(message, str):
            raise ValueError(f"fault message: got {message!r}, expected text")
        return self._arm(Fault("error", target, after, times, status=status, message=message))

    def slow(
        self, delay_s: float, times: int | None = 1, *, after: int = 0, target: Target = "list"
    ) -> Fault:
        """Wait ``delay_s`` seconds before answering normally (to trip client read timeouts)."""
        if not isinstance(delay_s, int | float) or delay_s <= 0:
            raise ValueError(f"fault delay_s: got {delay_s!r}, expected seconds > 0")
        return self._arm(Fault("slow", target, after, times, delay_s=float(delay_s)))

    def trickle(
        self, delay_s: float = 0.05, times: int | None = 1, *, after: int = 0, target: Target = "list"
    ) -> Fault:
        """Answer 200 with its headers at once and then one byte of body every ``delay_s`` seconds, for
        as long as the client keeps listening (a peer that never trips a per-read timeout)."""
        if not isinstance(delay_s, int | float) or delay_s <= 0:
            raise ValueError(f"fault delay_s: got {delay_s!r}, expected seconds > 0")
        return self._arm(Fault("trickle", target, after, times, delay_s=float(delay_s)))

    def lie(self, shape: str, times: int | None = 1, *, after: int = 0, keep: int = 1) -> Fault:
        """Alter a successful answer into a shape no faithful HSS sends (``LIE_SHAPES``): ``null_list``
        (``data_list: null``), ``short`` (only the first ``keep`` records of the page), ``low_total``
        (``total_num`` half the records in the page), ``long`` (5 repeats past ``limit``),
        ``ignore_offset`` (the listing's first page, whatever the offset asked)."""
        if shape not in LIE_SHAPES:
            raise ValueError(f"fault shape: got {shape!r}, expected one of {', '.join(LIE_SHAPES)}")
        _count("keep", keep)
        return self._arm(Fault("lie", "list", after, times, shape=shape, keep=keep))

    def reset(self, times: int | None = 1, *, after: int = 0, target: Target = "list") -> Fault:
        """Close the connection without any answer (TCP reset)."""
        return self._arm(Fault("reset", target, after, times))

    def malformed(self, times: int | None = 1, *, after: int = 0) -> Fault:
        """Answer 200 with a truncated, unparsable JSON body."""
        return self._arm(Fault("malformed", "list", after, times))

    def corrupt(
        self, offset: int, field: str | None = "vul_num", value: Any = "many", times: int | None = 1
    ) -> Fault:
        """In answers whose page covers listing position ``offset``, set that record's ``field`` to
        ``value`` (``field=None``: replace the whole record by ``value``)."""
        _count("offset", offset)
        return self._arm(Fault("corrupt", "list", 0, times, offset=offset, field=field, value=value))

    def mutate_after(self, requests: int, *, insert: int = 0, delete: int = 0) -> Fault:
        """After the ``requests``-th next successful listing, delete the first ``delete`` records of that
        listing and insert ``insert`` clones of its first records at the front (offsets shift)."""
        _count("requests", requests, low=1)
        _count("insert", insert)
        _count("delete", delete)
        return self._arm(Fault("mutate_after", "list", requests - 1, 1, insert=insert, delete=delete))

    def expire_token_after(self, requests: int) -> None:
        """The token used by the ``requests``-th next successful token-authenticated listing expires right
        after it: later requests with it get 401 ``APIG.0307``."""
        _count("requests", requests, low=1)
        with self._lock:
            self._token_countdown = requests

    def arm(self, spec: Mapping[str, Any]) -> None:
        """Arm from JSON (control endpoint, CLI): ``{"kind": "throttle", "times": 3, "retry_after": 2}``."""
        args = {key: value for key, value in spec.items() if key != "kind"}
        kind = spec.get("kind")
        methods = {
            "throttle": self.throttle,
            "error": self.error,
            "slow": self.slow,
            "trickle": self.trickle,
            "lie": self.lie,
            "reset": self.reset,
            "malformed": self.malformed,
            "corrupt": self.corrupt,
            "mutate_after": self.mutate_after,
            "expire_token_after": self.expire_token_after,
            "latency": self._set_latency,
        }
        if kind not in methods:
            raise ValueError(f"fault kind: got {kind!r}, expected one of {', '.join(methods)}")
        try:
            methods[kind](**args)
        except TypeError as exc:
            raise ValueError(f"fault {kind}: {exc}") from None

    def _set_latency(self, ms: float) -> None:
        if not isinstance(ms, int | float) or ms < 0:
            raise ValueError(f"fault latency ms: got {ms!r}, expected milliseconds ≥ 0")
        self.latency_ms = float(ms)

    def clear(self) -> None:
        """Disarm everything, latency included."""
        with self._lock:
            self._armed.clear()
            self._token_countdown = None
            self.latency_ms = 0.0

    def pending(self) -> list[dict[str, Any]]:
        """The armed faults, as JSON-ready descriptions."""
        with self._lock:
            described = [fault.describe() for fault in self._armed]
            if self._token_countdown is not None:
                described.append({"kind": "expire_token_after", "requests": self._token_countdown})
            return described

    # -- consuming (the server's side) -----------------------------------------------------------

    def _take(self, kinds: tuple[str, ...], target: Target) -> Fault | None:
        """Count one event for every armed fault of these kinds; return the first one due, consumed."""
        chosen: Fault | None = None
        with self._lock:
            for fault in list(self._armed):
                if fault.kind not in kinds or fault.target != target:
                    continue
                if fault.after > 0:
                    fault.after -= 1
                    continue
                if chosen is not None:
                    continue
                chosen = fault
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times == 0:
                        self._armed.remove(fault)
        return chosen

    def on_arrival(self, target: Target) -> Fault | None:
        """A request arrived: the gateway fault it gets, if any."""
        return self._take(GATEWAY_KINDS, target)

    def on_answer(self) -> Fault | None:
        """A listing succeeded: whether its body is to be malformed."""
        return self._take(("malformed",), "list")

    def on_lie(self) -> Fault | None:
        """A listing is about to be answered: the lie it tells, if any."""
        return self._take(("lie",), "list")

    def corruptions(self, offset: int, count: int) -> list[Fault]:
        """Corrupt faults covering positions offset..offset+count-1 of this answer, consumed."""
        hits: list[Fault] = []
        with self._lock:
            for fault in list(self._armed):
                if fault.kind == "corrupt" and offset <= fault.offset < offset + count:
                    hits.append(fault)
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times == 0:
                            self._armed.remove(fault)
        return hits

    def after_answer(self) -> Fault | None:
        """A listing was answered: the fleet mutation now due, if any."""
        return self._take(("mutate_after",), "list")

    def token_used(self) -> bool:
        """A token-authenticated listing succeeded: True when that token must now expire."""
        with self._lock:
            if self._token_countdown is None:
                return False
            self._token_countdown -= 1
            if self._token_countdown > 0:
                return False
            self._token_countdown = None
            return True
