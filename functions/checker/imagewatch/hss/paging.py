"""``Listing``: every page of one ListImageLocal query, read concurrently, handed over as it arrives.

The first page is read alone: it tells ``total_num`` (so the offsets to read are known) and, with IAM
password auth, fetches the token the other pages share. The remaining pages are then requested with at
most ``max_in_flight`` in flight, each paced by the client's ``Gate`` (rate cap, 429 back-off for the
whole listing). Pages complete in any order but are handed to the caller in offset order, as soon as
their turn comes: the same inventory then always yields the same sequence (reports, fleet examples and
tests are reproducible), at the cost of holding a page that arrived early — bounded, since requests
never run more than ``REORDER_SLOTS × max_in_flight`` pages ahead of the next page to hand over.

Memory holds those pages and the de-duplication window's identity sets, never the inventory (plus an
8-byte hash per record, to find repeats the window cannot see). An incomplete read — a malformed
record, ``total_num`` changing while paging, answers that do not add up to ``total_num`` (a short or
missing page, a page longer than the rest, repeats), an inventory beyond the offset ceiling, the time
budget running out — is reported in ``problems`` and must resolve nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING

from msgspec import Struct

from imagewatch import allocator
from imagewatch.hash_tally import HashTally
from imagewatch.hss.budget import Budget
from imagewatch.hss.dedup import DedupWindow
from imagewatch.hss.errors import InventoryTooLargeError, ListingStopped, RecordError
from imagewatch.hss.model import Image
from imagewatch.hss.offsets import OffsetPlan
from imagewatch.hss.page import Page
from imagewatch.hss.query import ImageQuery

if TYPE_CHECKING:
    from imagewatch.hss.client import HssClient

# Repeats caused by offset shifts show up right after a page boundary: two pages either side suffice.
DEDUP_WINDOW_PAGES = 2
# A listing of broken records keeps this many of their errors (and counts them all).
MAX_RECORD_ERRORS = 100
# Requests run at most this many times max_in_flight pages ahead of the next page to hand over.
REORDER_SLOTS = 2


class ListingStats(Struct):
    """What a listing did; filled in while it is iterated."""

    pages: int = 0
    records: int = 0
    duplicates: int = 0
    retries: int = 0
    throttled: int = 0  # attempts answered 429 (each slowed the whole listing down)
    first_total: int | None = None
    last_total: int | None = None  # total_num of the page that arrived last


class Listing:
    """Iterate for images; then ``complete`` and ``problems`` tell whether the read can be trusted."""

    def __init__(
        self, client: HssClient, query: ImageQuery, start_offset: int = 0, deadline: float | None = None
    ) -> None:
        ImageQuery(offset=start_offset)  # bounds check
        self.client = client
        self.query = query
        self.start_offset = start_offset
        self.deadline = deadline  # on the client's monotonic clock
        self.stats = ListingStats()
        self.record_errors: list[RecordError] = []  # the first MAX_RECORD_ERRORS kept; all counted
        self.record_error_count = 0
        self.problems: list[str] = []
        self.progress: Callable[[Listing], None] | None = None  # told after each page is counted
        self.finished = False
        self._changed_total: int | None = None
        # Every identity kept, as a hash: a repeat further apart than the dedup window can see (a server
        # ignoring the offset) hides a record that was not read while total_num stays unchanged.
        self._identities = HashTally()
        self._clipped_identities = 0

    @property
    def complete(self) -> bool:
        """Every record was read, typed and counted against an unchanged ``total_num``."""
        return self.finished and not self.problems and not self.record_error_count

    def __iter__(self) -> Iterator[Image]:
        try:
            yield from self._read()
        finally:
            self._identities.close()  # its spill file, if the hashes outgrew memory

    def _read(self) -> Iterator[Image]:
        client, limit = self.client, self.client.page_size
        budget = Budget(self.deadline, client.monotonic)
        window = DedupWindow(DEDUP_WINDOW_PAGES)
        try:
            try:
                first = client.fetch_page(self.query, self.start_offset, limit, budget=budget)
            except ListingStopped:
                self.problems.append(
                    "stopped at the time budget after 0 records, before the first page told total_num"
                )
                self.finished = True
                return
            plan = OffsetPlan(self.start_offset, limit, first)
            if first.total_num > plan.reachable:  # known from the first page: say so at once
                self.problems.append(str(InventoryTooLargeError(first.total_num, plan.reachable)))
            yield from self._accept(0, first, window)
            stopped = yield from self._rest(plan, window, budget)
        finally:
            budget.cancel()  # worker threads stop at their next attempt
            client.gate.wake()
        if stopped:
            self.problems.append(
                f"stopped at the time budget after {self.stats.records} of {plan.expected} records"
            )
        if plan.total > plan.reachable and first.total_num <= plan.reachable:
            self.problems.append(str(InventoryTooLargeError(plan.total, plan.reachable)))
        if self._changed_total is not None:
            self.problems.append(
                f"total_num changed while paging ({self.stats.first_total} → {self._changed_total}): "
                "records may have been missed or repeated"
            )
        else:
            self.problems.extend(plan.problems)
            if not stopped:
                self.problems.extend(self._unaccounted(plan))
        self.finished = True

    def _unaccounted(self, plan: OffsetPlan) -> list[str]:
        """What the read fails to account for, ``total_num`` having stayed the same: records read that
        do not add up to it, repeats (with an unchanged total, a repeat means a record was missed),
        and records whose identity fields had to be clipped (they may merge two records)."""
        stats, problems = self.stats, []
        if not plan.problems and stats.records != plan.expected:
            problems.append(
                f"read {stats.records} records where total_num {plan.total} says {plan.expected}: "
                "the answers do not account for the inventory"
            )
        far = self._identities.repeats()
        if stats.duplicates or far:
            problems.append(
                f"{stats.duplicates + far} records came twice ({far} more than {DEDUP_WINDOW_PAGES} "
                "pages apart) while total_num stayed the same: as many others were not read"
            )
        if self._clipped_identities:
            problems.append(
                f"{self._clipped_identities} records had identity fields longer than documented "
                "(clipped): distinct records may have been merged"
            )
        return problems

    def _rest(self, plan: OffsetPlan, window: DedupWindow, budget: Budget) -> Generator[Image, None, bool]:
        """Every page after the first, ``max_in_flight`` at a time, handed over in offset order.

        A page that arrives before an earlier one waits for it; requests run at most
        ``REORDER_SLOTS × max_in_flight`` pages ahead of the next page to hand over, so the pages held
        stay bounded even when one page is slow. Returns True when the deadline cut the listing short.
        """
        pending: dict[Future[Page], int] = {}  # in flight: future → page index
        ready: dict[int, Page] = {}  # arrived, waiting for an earlier page
        turn = 1  # the next page index to hand over
        ahead = REORDER_SLOTS * self.client.max_in_flight
        pool = ThreadPoolExecutor(max_workers=self.client.max_in_flight, thread_name_prefix="hss-page")
        abandoned = False
        try:
            while True:
                self._fill(pool, pending, plan, budget, turn + ahead)
                if not pending:
                    break
                remaining = budget.remaining()
                done, _ = wait(pending, None if remaining == math.inf else remaining, FIRST_COMPLETED)
                if not done:  # the deadline passed with requests in flight: abandon them
                    break
                for future in done:
                    index = pending.pop(future)
                    try:
                        ready[index] = future.result()
                    except ListingStopped:
                        abandoned = True
                        continue
                    plan.observe(ready[index])
                deliverable = []
                while turn in ready:
                    deliverable.append((turn, ready.pop(turn)))
                    turn += 1
                self._fill(pool, pending, plan, budget, turn + ahead)  # keep requests going meanwhile
                for index, page in deliverable:
                    yield from self._accept(index, page, window)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        for index in sorted(ready):  # stopped short: what arrived after a page that never will
            yield from self._accept(index, ready.pop(index), window)
        return budget.timed_out() and bool(abandoned or pending or plan.has_more())

    def _fill(
        self,
        pool: ThreadPoolExecutor,
        pending: dict[Future[Page], int],
        plan: OffsetPlan,
        budget: Budget,
        horizon: int,
    ) -> None:
        """Request more pages: up to ``max_in_flight`` in flight, none at or past page ``horizon``."""
        client = self.client
        while len(pending) < client.max_in_flight and not budget.expired():
            offset = plan.peek()
            if offset is None or plan.index(offset) >= horizon:
                return
            plan.next()
            future = pool.submit(client.fetch_page, self.query, offset, plan.limit, budget=budget)
            pending[future] = plan.index(offset)

    def _accept(self, index: int, page: Page, window: DedupWindow) -> list[Image]:
        """Count the page, keep its record errors, and return its images not seen nearby."""
        stats = self.stats
        stats.pages += 1
        if stats.pages % allocator.TRIM_EVERY_PAGES == 0:
            allocator.release_free_pages()
        stats.records += page.size
        stats.retries += page.attempts - 1
        stats.throttled += page.throttled
        if stats.first_total is None:
            stats.first_total = page.total_num
        elif page.total_num != stats.first_total:
            self._changed_total = page.total_num
        stats.last_total = page.total_num
        self.record_error_count += len(page.record_errors)
        room = MAX_RECORD_ERRORS - len(self.record_errors)
        if room > 0:
            self.record_errors.extend(page.record_errors[:room])
        kept, dropped = window.keep(index, page.images)
        stats.duplicates += dropped
        for image in kept:
            self._identities.add(hash(image.identity))
            self._clipped_identities += image.identity_clipped
        if self.progress is not None:
            self.progress(self)
        return kept
