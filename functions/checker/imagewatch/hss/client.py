"""The ListImageLocal client: one page at a time with retries, paced; listings read pages concurrently.

``HssClient.fetch_page`` GETs one page, retrying throttling, gateway errors and lost answers, each
attempt admitted by the client's ``Gate`` (at most ``max_in_flight`` at once, at most ``max_rps`` a
second, everything slowed after a 429). ``HssClient.list_images(query)`` returns a ``Listing``
(``hss.paging``): iterate it to receive ``Image`` records as pages arrive; afterwards it tells whether
the read was complete — and an incomplete read must never resolve an alert.

Threads, not asyncio: the run is synchronous (``for image in listing``), ``httpx.Client`` is
thread-safe, the auth flows and retries stay plain blocking code, and a page's JSON parsing runs in its
worker thread while the caller evaluates the previous one.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from urllib.parse import quote

import httpx
from msgspec import Struct

from imagewatch import __version__, allocator, http_deadline
from imagewatch.hss.budget import Budget
from imagewatch.hss.errors import HssApiError, HssThrottledError, HssTransportError, error_fields, redact
from imagewatch.hss.gate import Gate
from imagewatch.hss.pacing import DEFAULT_MAX_IN_FLIGHT, DEFAULT_MAX_RPS, Outcome, PacingPolicy, Ticket
from imagewatch.hss.page import Page, parse_page
from imagewatch.hss.paging import DEDUP_WINDOW_PAGES, Listing, ListingStats
from imagewatch.hss.query import MAX_LIMIT, ImageQuery
from imagewatch.hss.signer import encode_query
from imagewatch.retry import RetryPolicy, parse_retry_after
from imagewatch.untrusted_json import UntrustedJsonError, decode

__all__ = ["DEDUP_WINDOW_PAGES", "HssClient", "Listing", "ListingStats", "Page"]

DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=30.0, write=10.0, pool=10.0)
# One exchange (connect, send, headers, body; an IAM token request inside it too) ends within this,
# however slowly the peer trickles: a page of 200 records is ~0.1-1 MB, seconds on any link.
EXCHANGE_DEADLINE_S = 60.0
# A page of 200 records with every string at its documented bound is ~1 MB (more with \u escapes);
# anything past this is not a ListImageLocal page and is refused before it is read whole.
MAX_BODY_BYTES = 4 * 1024 * 1024
# Retried: 429 (APIG.0308) and 502/503/504, plus answers that never arrived (connection errors,
# timeouts, non-JSON bodies). Other 4xx are final: the same request would fail the same way, and
# repeated AK/SK failures lock the AK for five minutes.
RETRYABLE_STATUS = frozenset({429, 502, 503, 504})


class _Retry(Struct, frozen=True):
    """An attempt that may be tried again: what went wrong, its status, the server's Retry-After."""

    problem: Exception
    status: int | None = None
    retry_after: float | None = None


class HssClient:
    """A ListImageLocal client for one project; safe to share between threads."""

    def __init__(
        self,
        endpoint: str,
        project_id: str,
        auth: httpx.Auth,
        *,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        page_size: int = MAX_LIMIT,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        max_rps: float = DEFAULT_MAX_RPS,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        transport: httpx.BaseTransport | None = None,
        exchange_deadline_s: float = EXCHANGE_DEADLINE_S,
    ) -> None:
        """``max_in_flight`` requests at once and ``max_rps`` a second at most (``hss.pacing`` says
        why 8 and 50). ``sleep`` waits between retries (default: real time, cut short when a listing
        stops); ``clock`` is wall time (``Retry-After`` dates), ``monotonic`` times deadlines and pacing.
        Each exchange ends within ``exchange_deadline_s`` of real time, and by a listing's deadline.
        """
        if not project_id:
            raise ValueError("HSS_PROJECT_ID: a project id is required")
        if not endpoint.startswith(("https://", "http://")):
            raise ValueError(f"HSS endpoint: got {endpoint!r}, expected an http(s) URL")
        self.endpoint = endpoint.rstrip("/")
        self.project_id = project_id
        self.retry = retry or RetryPolicy()
        self.page_size = page_size
        ImageQuery(limit=page_size)  # bounds check: 10..200
        self.pacing = PacingPolicy(max_in_flight=max_in_flight, max_rps=max_rps)
        self.max_in_flight = max_in_flight
        self.monotonic = monotonic
        self.gate = Gate(self.pacing, clock=monotonic)
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        connections = max_in_flight + 2  # the pages in flight, plus IAM token requests
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        self._auth = auth
        self.exchange_deadline_s = exchange_deadline_s
        self._http = httpx.Client(
            auth=auth,
            timeout=timeout,
            transport=transport or http_deadline.transport(limits),
            limits=limits,
            verify=True,
            follow_redirects=False,
            headers={"User-Agent": f"imagewatch/{__version__}"},
        )
        self._path = f"/v5/{quote(project_id, safe='')}/image/local-repositories"

    def __repr__(self) -> str:
        return f"HssClient(endpoint={self.endpoint!r}, project_id={self.project_id!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> HssClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- one page -------------------------------------------------------------------------------

    def fetch_page(
        self, query: ImageQuery, offset: int, limit: int | None = None, *, budget: Budget | None = None
    ) -> Page:
        """GET one page, retrying throttling, gateway errors and lost answers within the policy.

        Each attempt waits for the gate; with a ``budget``, no attempt starts once it has expired
        (``ListingStopped``), and waits between attempts end early.
        """
        page_query = query.page(offset, limit or self.page_size)
        url = f"{self.endpoint}{self._path}?{encode_query(page_query.to_params())}"
        attempt = throttled = 0
        holding = False  # our 429 holds the other requests back until we retry or give up
        try:
            while True:
                attempt += 1
                ticket = self.gate.acquire(budget, resuming=holding)
                holding = False
                answer = self._attempt(url, ticket, offset, page_query.limit, budget, attempt, throttled)
                if isinstance(answer, Page):
                    return answer
                holding = answer.status == 429  # the gate holds the others until we go again
                throttled += holding
                if attempt >= self.retry.max_attempts:
                    raise HssTransportError(
                        f"ListImageLocal offset {offset}: no usable answer after {attempt} attempts: "
                        f"{answer.problem}"
                    ) from None
                delay = self.retry.delay(
                    attempt, status=answer.status, retry_after=answer.retry_after, rng=self._rng
                )
                self._wait(delay, budget)
        finally:
            if holding:
                self.gate.abandon()

    def _secrets(self) -> tuple[str, ...]:
        """The credentials an error message must not repeat (the gateway quotes the AK at times)."""
        values = getattr(self._auth, "secret_values", None)
        return tuple(values()) if callable(values) else ()

    def _attempt(
        self,
        url: str,
        ticket: Ticket,
        offset: int,
        limit: int,
        budget: Budget | None,
        attempt: int,
        throttled: int,
    ) -> Page | _Retry:
        """One GET: the page, what to retry, or a final error raised."""
        try:
            status, headers, body = self._send(
                url, ticket, budget, retries_left=attempt < self.retry.max_attempts
            )
        except httpx.TimeoutException as exc:
            return _Retry(
                HssTransportError(
                    f"timed out ({exc.__class__.__name__}; an exchange may take "
                    f"{self.exchange_deadline_s:g} s at most, and ends at the run's fetch deadline)"
                )
            )
        except (httpx.TransportError, HssTransportError) as exc:
            return _Retry(exc)
        request_id = _header(headers, "X-Request-Id")
        if status == 200:
            try:
                return parse_page(body, offset, limit, request_id, attempt, throttled)
            except HssTransportError as exc:
                return _Retry(exc)
        code, msg = _decode_error(body)
        code, msg = redact(code, self._secrets(), 64), redact(msg, self._secrets())
        if status not in RETRYABLE_STATUS or attempt >= self.retry.max_attempts:
            error_type = HssThrottledError if status == 429 else HssApiError
            raise error_type(status, code, msg, request_id, attempts=attempt)
        retry_after = parse_retry_after(headers.get("Retry-After"), self._clock())
        return _Retry(HssApiError(status, code, msg, request_id), status, retry_after)

    def _wait(self, seconds: float, budget: Budget | None) -> None:
        if self._sleep is not None:
            self._sleep(seconds)
        elif budget is not None:
            budget.sleep(seconds)
        else:
            time.sleep(seconds)

    def _send(
        self, url: str, ticket: Ticket, budget: Budget | None, *, retries_left: bool
    ) -> tuple[int, httpx.Headers, bytes]:
        """One attempt; the gate hears how it went, whatever happens (a 429 with retries left holds
        the other requests back until this one goes again). The whole exchange ends by its own
        deadline or the listing's, whichever comes first, however slowly the answer trickles."""
        outcome = Outcome.OTHER
        deadline = time.monotonic() + self.exchange_deadline_s
        if budget is not None and budget.deadline is not None:  # on the client's monotonic clock
            deadline = min(deadline, time.monotonic() + budget.remaining())
        try:
            with http_deadline.within(deadline):
                status, headers, body = self._get(url)
            if status == 200:
                outcome = Outcome.OK
            elif status == 429:
                outcome = Outcome.THROTTLED
            return status, headers, body
        finally:
            self.gate.release(ticket, outcome, hold=outcome is Outcome.THROTTLED and retries_left)

    def _get(self, url: str) -> tuple[int, httpx.Headers, bytes]:
        with self._http.stream("GET", url) as response:
            chunks, size = [], 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    raise HssTransportError(f"answer larger than {MAX_BODY_BYTES} bytes; refusing to read it")
                chunks.append(chunk)
            return response.status_code, response.headers, b"".join(chunks)

    # -- all pages ------------------------------------------------------------------------------

    def list_images(
        self, query: ImageQuery | None = None, *, start_offset: int = 0, deadline: float | None = None
    ) -> Listing:
        """A streaming listing of every image matching ``query`` (from ``start_offset``, to resume).

        ``deadline`` is a ``time.monotonic()`` value (on this client's ``monotonic`` clock): once it
        passes, no new page is requested and the listing ends incomplete, saying how far it got.
        The allocator is set for streaming first (``imagewatch.allocator``), if the run has not already.
        """
        allocator.configure()
        return Listing(self, query or ImageQuery(), start_offset, deadline)


def _decode_error(body: bytes) -> tuple[str | None, str | None]:
    """(error_code, error_msg) of an error answer; unclipped (the caller redacts, then clips)."""
    try:
        return error_fields(decode(body))
    except UntrustedJsonError:
        return None, body[:4096].decode("utf-8", "replace") or None


def _header(headers: httpx.Headers, name: str) -> str | None:
    """A header of an outside answer, bounded: it ends up in messages and reports."""
    value = headers.get(name)
    return value[:128] if value else None
