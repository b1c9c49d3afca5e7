"""Which page offsets a listing still has to request, once its first page told ``total_num``.

Pages of ``limit`` records follow the first one, up to the largest ``total_num`` any page reported (an
inventory that grows while it is read is read to its new end, as a sequential pager would), never past
the API's offset ceiling (2,000,000), and not past a short page (the listing ended there). Offsets are
handed out in increasing order, so "after a short page" is simply "from now on".

A short page is only an ending when ``total_num`` agrees: a page at offset 400 holding 10 records while
``total_num`` says 1,000 is a lie or a loss, and the plan records it as a problem (the listing is then
incomplete and resolves nothing).
"""

from __future__ import annotations

from imagewatch.hss.page import Page
from imagewatch.hss.query import MAX_OFFSET


class OffsetPlan:
    """Hands out the offsets still to request; learns from every page that arrives."""

    def __init__(self, start: int, limit: int, first: Page) -> None:
        self.start = start
        self.limit = limit
        self.total = first.total_num  # the largest total_num seen
        self._next = start + limit
        self._ended = False
        self.problems: list[str] = []
        self.observe(first)

    def peek(self) -> int | None:
        """The offset ``next`` would hand out, without taking it."""
        return self._next if self.has_more() else None

    def next(self) -> int | None:
        """The next offset to request, or None when there is none (now or ever)."""
        offset = self.peek()
        if offset is not None:
            self._next += self.limit
        return offset

    def has_more(self) -> bool:
        """Whether ``next`` would hand out an offset."""
        offset = self._next
        return not (self._ended or offset >= self.total or offset > MAX_OFFSET)

    def observe(self, page: Page) -> None:
        """Learn ``total_num`` and where the listing ends; a short page that ``total_num`` contradicts
        is a problem."""
        self.total = max(self.total, page.total_num)
        if page.size < self.limit:
            self._ended = True
            remaining = min(page.total_num, self.reachable) - page.offset
            if page.size < min(remaining, self.limit):
                self.problems.append(
                    f"the page at offset {page.offset} held {page.size} records where total_num "
                    f"{page.total_num} says {min(remaining, self.limit)} remain there"
                )

    def index(self, offset: int) -> int:
        """The page's position in the listing (0 = the first page)."""
        return (offset - self.start) // self.limit

    @property
    def reachable(self) -> int:
        """Records the API can serve from offset 0: the last page starts at the ceiling at most."""
        return MAX_OFFSET + self.limit

    @property
    def expected(self) -> int:
        """Records this listing set out to read (from ``start``, up to the ceiling)."""
        return max(0, min(self.total, self.reachable) - self.start)
