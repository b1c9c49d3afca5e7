"""The ListImageLocal client: one page at a time with retries, and a streaming listing over all pages.

``HssClient.list_images(query)`` returns a ``Listing``: iterate it to receive ``Image`` records as pages
arrive (never the whole inventory in memory); afterwards it tells whether the read was complete. A read
is incomplete when a record was malformed, ``total_num`` changed while paging, or the inventory is
larger than the API's offset ceiling — and an incomplete read must never resolve an alert.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import quote

import httpx

from imagewatch import __version__
from imagewatch.hss.errors import (
    HssApiError,
    HssThrottledError,
    HssTransportError,
    InventoryTooLargeError,
    RecordError,
    error_fields,
)
from imagewatch.hss.model import Image, parse_image
from imagewatch.hss.query import MAX_LIMIT, MAX_OFFSET, ImageQuery
from imagewatch.hss.signer import encode_query
from imagewatch.retry import RetryPolicy, parse_retry_after

DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=30.0, write=10.0, pool=10.0)
MAX_BODY_BYTES = 32 * 1024 * 1024  # a full page is well under 1 MB; anything near this is not HSS
DEDUP_WINDOW_PAGES = 2
# Retried: 429 (APIG.0308) and 502/503/504, plus answers that never arrived (connection errors,
# timeouts, non-JSON bodies). Other 4xx are final: the same request would fail the same way, and
# repeated AK/SK failures lock the AK for five minutes.
RETRYABLE_STATUS = frozenset(
    {429, 502, 503, 504}
)  # repeats caused by offset shifts show up right after a page boundary


@dataclass(slots=True)
class Page:
    """One ListImageLocal answer: valid records, the ones that failed type checks, and how it went."""

    total_num: int
    size: int  # records in data_list, valid or not: what the offset advances by
    images: list[Image]
    record_errors: list[RecordError]
    request_id: str | None
    attempts: int


@dataclass(slots=True)
class ListingStats:
    """What a listing did; filled in while it is iterated."""

    pages: int = 0
    records: int = 0
    duplicates: int = 0
    retries: int = 0
    first_total: int | None = None
    last_total: int | None = None


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
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not project_id:
            raise ValueError("HSS_PROJECT_ID: a project id is required")
        if not endpoint.startswith(("https://", "http://")):
            raise ValueError(f"HSS endpoint: got {endpoint!r}, expected an http(s) URL")
        self.endpoint = endpoint.rstrip("/")
        self.project_id = project_id
        self.retry = retry or RetryPolicy()
        self.page_size = page_size
        ImageQuery(limit=page_size)  # bounds check: 10..200
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._http = httpx.Client(
            auth=auth,
            timeout=timeout,
            transport=transport,
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

    def fetch_page(self, query: ImageQuery, offset: int, limit: int | None = None) -> Page:
        """GET one page, retrying throttling, gateway errors and lost answers within the policy."""
        page_query = query.page(offset, limit or self.page_size)
        url = f"{self.endpoint}{self._path}?{encode_query(page_query.to_params())}"
        attempt = 0
        while True:
            attempt += 1
            try:
                status, headers, body = self._get(url)
            except (httpx.TransportError, HssTransportError) as exc:
                problem: Exception = exc
                status, retry_after = None, None
            else:
                request_id = headers.get("X-Request-Id")
                if status == 200:
                    try:
                        return self._parse_page(body, offset, request_id, attempt)
                    except HssTransportError as exc:
                        problem, retry_after = exc, None
                else:
                    code, msg = _decode_error(body)
                    if status not in RETRYABLE_STATUS or attempt >= self.retry.max_attempts:
                        error_type = HssThrottledError if status == 429 else HssApiError
                        raise error_type(status, code, msg, request_id, attempts=attempt)
                    problem = HssApiError(status, code, msg, request_id)
                    retry_after = parse_retry_after(headers.get("Retry-After"), self._clock())
            if attempt >= self.retry.max_attempts:
                raise HssTransportError(
                    f"ListImageLocal offset {offset}: no usable answer after {attempt} attempts: {problem}"
                ) from None
            self._sleep(self.retry.delay(attempt, status=status, retry_after=retry_after, rng=self._rng))

    def _get(self, url: str) -> tuple[int, httpx.Headers, bytes]:
        with self._http.stream("GET", url) as response:
            chunks, size = [], 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    raise HssTransportError(f"answer larger than {MAX_BODY_BYTES} bytes; refusing to read it")
                chunks.append(chunk)
            return response.status_code, response.headers, b"".join(chunks)

    @staticmethod
    def _parse_page(body: bytes, offset: int, request_id: str | None, attempts: int) -> Page:
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise HssTransportError(f"ListImageLocal answer is not JSON ({exc.__class__.__name__})") from None
        if not isinstance(data, dict):
            raise HssTransportError("ListImageLocal answer is not a JSON object")
        total = data.get("total_num")
        records = data.get("data_list") or []
        if isinstance(total, bool) or not isinstance(total, int) or total < 0:
            raise HssTransportError(f"ListImageLocal answer: total_num is {total!r}, expected an integer ≥ 0")
        if not isinstance(records, list):
            raise HssTransportError("ListImageLocal answer: data_list is not an array")
        images, errors = [], []
        for index, record in enumerate(records):
            try:
                images.append(parse_image(record, offset=offset + index))
            except RecordError as exc:
                errors.append(exc)
        return Page(total, len(records), images, errors, request_id, attempts)

    # -- all pages ------------------------------------------------------------------------------

    def list_images(self, query: ImageQuery | None = None, *, start_offset: int = 0) -> Listing:
        """A streaming listing of every image matching ``query`` (from ``start_offset``, to resume)."""
        return Listing(self, query or ImageQuery(), start_offset)


class Listing:
    """Iterate for images; then ``complete`` and ``problems`` tell whether the read can be trusted."""

    def __init__(self, client: HssClient, query: ImageQuery, start_offset: int = 0) -> None:
        ImageQuery(offset=start_offset)  # bounds check
        self.client = client
        self.query = query
        self.start_offset = start_offset
        self.stats = ListingStats()
        self.record_errors: list[RecordError] = []
        self.problems: list[str] = []
        self.finished = False

    @property
    def complete(self) -> bool:
        """Every record was read, typed and counted against an unchanged ``total_num``."""
        return self.finished and not self.problems and not self.record_errors

    def __iter__(self) -> Iterator[Image]:
        client, stats = self.client, self.stats
        limit = client.page_size
        recent: list[set[str]] = []
        offset = self.start_offset
        too_large_reported = False
        while True:
            page = client.fetch_page(self.query, offset, limit)
            stats.pages += 1
            stats.retries += page.attempts - 1
            stats.records += page.size
            if stats.first_total is None:
                stats.first_total = page.total_num
                if page.total_num > MAX_OFFSET + limit:  # known from the first page: say so at once
                    self.problems.append(str(InventoryTooLargeError(page.total_num, MAX_OFFSET + limit)))
                    too_large_reported = True
            stats.last_total = page.total_num
            self.record_errors.extend(page.record_errors)
            current: set[str] = set()
            for image in page.images:
                identity = image.identity
                if identity in current or any(identity in seen for seen in recent):
                    stats.duplicates += 1
                    continue
                current.add(identity)
                yield image
            recent = [*recent, current][-DEDUP_WINDOW_PAGES:]
            offset += page.size
            if page.size < limit or offset >= page.total_num:
                break
            if offset > MAX_OFFSET:  # the API serves no page beyond this offset
                if not too_large_reported:
                    self.problems.append(str(InventoryTooLargeError(page.total_num, offset)))
                break
        if stats.first_total != stats.last_total:
            self.problems.append(
                f"total_num changed while paging ({stats.first_total} → {stats.last_total}): "
                "records may have been missed or repeated"
            )
        self.finished = True


def _decode_error(body: bytes) -> tuple[str | None, str | None]:
    try:
        return error_fields(json.loads(body))
    except ValueError:
        return None, body[:200].decode("utf-8", "replace") or None
