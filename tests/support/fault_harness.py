"""Fault-injection harness: real runs with injected time, a store that fails on cue, and what each chat
stand-in actually received, read back per (channel, fingerprint, event).

``Harness.install(monkeypatch)`` swaps three factories the handler module uses (``build_client``,
``Deliverer``, ``build_store``) and wraps ``check`` so the run's clock is ours. Everything else is the
product as deployed: ``lambda_handler`` → ``handle`` → ``build_deps`` → ``check``. Nothing sleeps for
real: the HSS client and the Deliverer get ``FakeTime.sleep`` (which only moves a virtual offset), the
Deliverer and the webhook stand-ins share ``FakeTime.wall`` so signatures stay fresh however long the
virtual waits were.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from imagewatch.alerts.delivery import Channel, Deliverer, Outcome
from imagewatch.alerts.ledger import LedgerEntry
from imagewatch.alerts.store import StateStore, StateStoreError
from imagewatch.hss.client import HssClient
from imagewatch.hss.factory import build_auth
from imagewatch.http_deadline import bounded
from imagewatch.retry import RetryPolicy
from imagewatch.settings import Settings
from imagewatch.standins.webhook_sink import WebhookSink
from support.channel_checks import strings

HOUR = 3600.0


def fingerprint(policy_id: str, subject: str) -> str:
    """The ledger's fingerprint, computed from its documented definition (docs/channels.md), not by
    calling the product: the first 20 hex characters of SHA-256 over policy id, NUL, subject."""
    return hashlib.sha256(f"{policy_id}\0{subject}".encode()).hexdigest()[:20]


class FakeTime:
    """Virtual waiting: ``sleep`` records and moves ``wall`` forward, returning at once. Thread-safe
    (HSS page workers retry in their own threads)."""

    def __init__(self) -> None:
        self.offset = 0.0
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def wall(self) -> float:
        return time.time() + self.offset

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.offset += max(0.0, seconds)


class RunClock:
    """The run's wall clock (``RunDeps.clock``): moves only when told."""

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


# -- the store, failing on cue ----------------------------------------------------------------------

STORE_POINTS = ("acquire", "load", "save", "save_after_send", "forget", "release", "history")


class InjectedStoreError(StateStoreError):
    """What ``FaultyStore`` raises: the product sees an ordinary ``StateStoreError``."""


@dataclass
class StoreFaults:
    """Armed store failures, shared by every ``FaultyStore`` a harness builds (one per run).

    ``save`` is the reconcile write (the first save of a run: nothing was sent yet);
    ``save_after_send`` is the confirmation write right after a channel said yes — the crash between
    "sent" and "recorded". ``kill``: the crash is a dead process, so the lease is not given back either.
    """

    armed: Counter[str] = field(default_factory=Counter)
    kill: bool = False
    tripped: list[str] = field(default_factory=list)
    crashed_after: list[str] = field(default_factory=list)  # channel whose confirmation was lost

    def arm(self, point: str, times: int = 1, *, kill: bool = False) -> None:
        if point not in STORE_POINTS:
            raise ValueError(point)
        self.armed[point] += times
        self.kill = self.kill or kill

    def clear(self) -> None:
        self.armed.clear()
        self.kill = False


class FaultyStore:
    """A ``StateStore`` that fails where ``StoreFaults`` says, else passes through."""

    def __init__(self, inner: StateStore, faults: StoreFaults) -> None:
        self.inner = inner
        self.faults = faults
        self._sent: str | None = None  # the channel that just confirmed, if its save is next
        self._killed = False

    def note_sent(self, channel: str) -> None:
        self._sent = channel

    def _trip(self, point: str) -> None:
        if self.faults.armed[point] > 0:
            self.faults.armed[point] -= 1
            self.faults.tripped.append(point)
            raise InjectedStoreError(f"state store unavailable (injected at {point})")

    def acquire(self, target: str, run_id: str, now_ms: int, ttl_ms: int) -> None:
        self._trip("acquire")
        self.inner.acquire(target, run_id, now_ms, ttl_ms)

    def release(self, target: str, run_id: str) -> None:
        if self._killed:
            return  # a killed process gives nothing back: the lease lapses on its own
        self._trip("release")
        self.inner.release(target, run_id)

    def load(self, target: str) -> dict[str, LedgerEntry]:
        self._trip("load")
        return self.inner.load(target)

    def scan(self, target: str, *, page_size: int = 500) -> Iterator[LedgerEntry]:
        self._trip("load")
        return self.inner.scan(target, page_size=page_size)

    def marker(self, target: str, name: str) -> str | None:
        return self.inner.marker(target, name)

    def set_marker(self, target: str, name: str, value: str) -> None:
        self.inner.set_marker(target, name, value)

    def save(self, target: str, entries: Iterable[LedgerEntry]) -> None:
        entries = list(entries)
        sent, self._sent = self._sent, None
        if sent is not None:
            if self.faults.armed["save_after_send"] > 0:
                self.faults.crashed_after.append(sent)
                self._killed = self.faults.kill
                self.faults.kill = False
            self._trip("save_after_send")
        else:
            self._trip("save")
        self.inner.save(target, entries)

    def forget(self, target: str, fingerprints: Iterable[str]) -> None:
        self._trip("forget")
        self.inner.forget(target, fingerprints)

    def append_history(self, record: Any) -> None:
        self._trip("history")
        self.inner.append_history(record)

    def history(self, target: str, since_ms: int, **kwargs: Any) -> Iterator[Any]:
        return self.inner.history(target, since_ms, **kwargs)

    def close(self) -> None:
        self.inner.close()


class RecordingDeliverer(Deliverer):
    """The product's Deliverer; tells the store which channel just confirmed (for ``save_after_send``)."""

    def __init__(self, on_sent: Callable[[str], None] | None = None, **options: Any) -> None:
        super().__init__(**options)
        self.on_sent = on_sent
        self.outcomes: list[Outcome] = []

    def send(self, channel: Channel, payload: dict[str, object]) -> Outcome:
        outcome = super().send(channel, payload)
        self.outcomes.append(outcome)
        if outcome.ok and self.on_sent is not None:
            self.on_sent(channel.name)
        return outcome


# -- the harness ------------------------------------------------------------------------------------


@dataclass
class RunRecord:
    """One invocation: its summary or the exception it raised, and which requests each sink accepted."""

    index: int
    at: float  # the run clock
    summary: dict[str, Any] | None
    error: BaseException | None
    received: dict[str, tuple[int, int]]  # sink name -> (len(received) before, after)
    crashed_after: str | None = None  # the channel whose confirmation the injected crash lost

    def messages(self, sinks: Mapping[str, WebhookSink], name: str) -> list[Any]:
        before, after = self.received[name]
        return [request.json() for request in sinks[name].received[before:after]]


class Harness:
    """Runs the real handler against the emulator and stand-ins with injected time and store faults."""

    def __init__(
        self,
        sinks: Mapping[str, WebhookSink],
        *,
        fake: FakeTime | None = None,
        clock: RunClock | None = None,
        page_size: int = 200,
        max_in_flight: int = 4,
        max_rps: float = 1000.0,
        hss_retry: RetryPolicy | None = None,
        hss_timeout: httpx.Timeout | None = None,
        hss_exchange_deadline_s: float | None = None,
        delivery_timeout: httpx.Timeout | None = None,
        loopback_transport: bool = False,
        hss_class: type[HssClient] = HssClient,
        hss_monotonic: Callable[[], Callable[[], float]] | None = None,
        store_factory: Callable[[Settings], StateStore] | None = None,
    ) -> None:
        self.sinks = dict(sinks)
        self.fake = fake or FakeTime()
        self.clock = clock or RunClock()
        self.page_size = page_size
        self.max_in_flight = max_in_flight
        self.max_rps = max_rps
        self.hss_retry = hss_retry
        self.hss_timeout = hss_timeout
        self.hss_exchange_deadline_s = hss_exchange_deadline_s  # real seconds: a trickling page's cost
        self.delivery_timeout = delivery_timeout
        self.loopback_transport = loopback_transport  # skip loading the CA bundle (plain http only)
        self.hss_class = hss_class  # a subclass can shim what a run cannot reach cheaply (start_offset)
        self.hss_monotonic = hss_monotonic  # a factory of the client's monotonic clock (time budgets)
        self.store_factory = store_factory  # e.g. a DynamoDbStore over a flaky boto3 client
        self.store_faults = StoreFaults()
        self.records: list[RunRecord] = []
        self.hss_clients: list[HssClient] = []
        self.deliverers: list[RecordingDeliverer] = []
        self.stores: list[FaultyStore] = []

    # factories the handler module calls (installed with monkeypatch)

    def build_client(self, settings: Settings, **_: Any) -> HssClient:
        options: dict[str, Any] = {}
        if self.hss_timeout is not None:
            options["timeout"] = self.hss_timeout
        if self.hss_exchange_deadline_s is not None:
            options["exchange_deadline_s"] = self.hss_exchange_deadline_s
        if self.loopback_transport:
            options["transport"] = bounded(httpx.HTTPTransport(verify=False))
        if self.hss_monotonic is not None:
            options["monotonic"] = self.hss_monotonic()
        client = self.hss_class(
            settings.hss_endpoint,
            settings.hss_project_id,
            build_auth(settings),
            retry=self.hss_retry,
            page_size=self.page_size,
            max_in_flight=self.max_in_flight,
            max_rps=self.max_rps,
            sleep=self.fake.sleep,
            **options,
        )
        self.hss_clients.append(client)
        return client

    def build_deliverer(self, **_: Any) -> RecordingDeliverer:
        options: dict[str, Any] = {"sleep": self.fake.sleep, "clock": self.fake.wall}
        if self.delivery_timeout is not None:
            options["timeout"] = self.delivery_timeout
        if self.loopback_transport:
            options["transport"] = bounded(httpx.HTTPTransport(verify=False))
        deliverer = RecordingDeliverer(**options)
        self.deliverers.append(deliverer)
        return deliverer

    def wrap_store(self, store: StateStore) -> FaultyStore:
        faulty = FaultyStore(store, self.store_faults)
        self.stores.append(faulty)
        return faulty

    def install(self, monkeypatch: pytest.MonkeyPatch) -> Harness:
        from imagewatch import handler, run

        real_build_store, real_check = handler.build_store, run.check

        def build_store(settings: Settings) -> StateStore:
            return self.wrap_store((self.store_factory or real_build_store)(settings))

        def check(request: Any, deps: Any) -> dict[str, Any]:
            deps.clock = self.clock
            if isinstance(deps.deliverer, RecordingDeliverer) and isinstance(deps.store, FaultyStore):
                deps.deliverer.on_sent = deps.store.note_sent
            return real_check(request, deps)

        monkeypatch.setattr(handler, "build_client", self.build_client)
        monkeypatch.setattr(handler, "Deliverer", self.build_deliverer)
        monkeypatch.setattr(handler, "build_store", build_store)
        monkeypatch.setattr(handler, "check", check)
        return self

    # running

    def invoke(self, event: Mapping[str, Any] | None = None, context: Any = None) -> RunRecord:
        """``lambda_handler`` once (with a Lambda-like ``context``, 15 minutes left unless given); an
        exception is kept in the record, never raised."""
        from imagewatch.handler import lambda_handler
        from imagewatch.local_context import LocalContext

        event = event or {"source": "schedule", "scheduled_time": "2026-01-01T00:00:00Z"}
        before = {name: len(sink.received) for name, sink in self.sinks.items()}
        crashes = len(self.store_faults.crashed_after)
        summary: dict[str, Any] | None = None
        error: BaseException | None = None
        try:
            summary = lambda_handler(dict(event), context or LocalContext())
        except Exception as exc:  # every failure mode is what the caller inspects
            error = exc
            summary = getattr(exc, "summary", None)
        crashed = self.store_faults.crashed_after[crashes:]
        record = RunRecord(
            index=len(self.records),
            at=self.clock(),
            summary=summary,
            error=error,
            received={name: (before[name], len(sink.received)) for name, sink in self.sinks.items()},
            crashed_after=crashed[0] if crashed else None,
        )
        self.records.append(record)
        return record


# -- reading what the stand-ins received ------------------------------------------------------------

KINDS = {"NEW": "new", "STILL OPEN": "reminder", "OVERDUE": "overdue", "RESOLVED": "resolved"}
_TOKEN = re.compile(r"\b(NEW|STILL OPEN|OVERDUE|RESOLVED)\b|soakmark-(\w+) (\S+) on (\S+) \.")


def marked_items(body: object) -> set[tuple[str, str, str, str]]:
    """(kind, tag, image_id, host_id) of every item of a rendered digest whose message carries the
    marker ``soakmark-{tag} {image_id} on {host_id} .`` — read from the text the platform got, whatever
    its markup: each marker belongs to the last heading word before it (``NEW``, ``STILL OPEN``,
    ``RESOLVED``). A set: a platform's fallback text may repeat an item."""
    text = "\n".join(strings(body)).replace("\\", "")
    found: set[tuple[str, str, str, str]] = set()
    kind: str | None = None
    for match in _TOKEN.finditer(text):
        if match.group(1):
            kind = KINDS[match.group(1)]
        elif kind is not None:
            found.add((kind, match.group(2), match.group(3), match.group(4)))
    return found


def more_line(body: object) -> bool:
    """Whether a digest says "…and N more" (items that are counted but not listed)."""
    return any("…and " in text and " more (" in text for text in strings(body))


# -- secrets ----------------------------------------------------------------------------------------


@contextmanager
def captured_output() -> Iterator[dict[str, io.StringIO]]:
    """Everything a run can print or log: stdout (EMF metrics), stderr, the handler's JSON log stream,
    and every log record of every logger (with its extra fields) at DEBUG."""
    out, err, logs, records = io.StringIO(), io.StringIO(), io.StringIO(), io.StringIO()

    class Everything(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            try:
                message = record.getMessage()
            except Exception:  # a malformed record is still searched by its raw parts
                message = repr(record.msg)
            records.write(f"{message} {record.__dict__!r} {record.exc_text or ''}\n")

    root = logging.getLogger()
    service = logging.getLogger("imagewatch")
    swapped = [(h, h.setStream(logs)) for h in service.handlers if isinstance(h, logging.StreamHandler)]
    catcher = Everything(logging.DEBUG)
    old_level = root.level
    root.addHandler(catcher)
    root.setLevel(logging.DEBUG)
    try:
        with redirect_stdout(out), redirect_stderr(err):
            yield {"stdout": out, "stderr": err, "logs": logs, "records": records}
    finally:
        root.removeHandler(catcher)
        root.setLevel(old_level)
        for handler, previous in swapped:
            if previous is not None:
                handler.setStream(previous)


def leaks(haystack: str, secrets: Iterable[str]) -> list[str]:
    """The secrets (and URL-encoded forms of them) that appear in ``haystack``."""
    from urllib.parse import quote

    found = []
    for secret in secrets:
        if not secret:
            continue
        forms = {secret, quote(secret, safe=""), json.dumps(secret)[1:-1]}
        if any(form in haystack for form in forms):
            found.append(secret)
    return found


def clear_chat_faults(sink: WebhookSink) -> None:
    """Drop answers queued with ``fail_next``/``throttle_next`` that no request has used yet.
    ``WebhookSink`` has no public way to do that; this reaches into its script queue."""
    with sink._lock:
        sink._script.clear()


def route_to_sinks(monkeypatch: pytest.MonkeyPatch, harness: Any, sinks: Mapping[str, WebhookSink]) -> None:
    """Make every stand-in a channel of its own platform (``CHANNELS_JSON``, signed where it can be)."""
    channels = [
        {"name": name, "url": f"${{{name.upper()}_URL}}", "platform": name, "secret": "${WEBHOOK_SECRET}"}
        for name in sinks
    ]
    monkeypatch.delenv("WEBHOOK_URL")
    monkeypatch.setenv("CHANNELS_JSON", json.dumps({"channels": channels}))
    for name, sink in sinks.items():
        monkeypatch.setenv(f"{name.upper()}_URL", sink.url)
    harness.sinks = sinks
