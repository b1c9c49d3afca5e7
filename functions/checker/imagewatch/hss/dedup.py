"""De-duplication of records across neighbouring pages, whatever order the pages arrive in.

Offsets shift when HSS inserts records before the read position between two requests, so a record at
the end of page k shows up again at the start of page k+1 (docs/hss.md). Pages are read concurrently
and complete in any order, so a page is compared with the pages up to ``span`` before *and after* it
that were already seen: whichever of two copies arrives first is kept, the other dropped.

Only identities are kept, and a page's set is dropped as soon as every page within ``span`` of it has
been seen: memory follows the pages in flight, never the inventory.
"""

from __future__ import annotations

from imagewatch.hss.model import Image


class DedupWindow:
    """Identity sets of recent pages, keyed by page index (0 = the listing's first page)."""

    def __init__(self, span: int = 2) -> None:
        if span < 1:
            raise ValueError(f"dedup span: got {span!r}, expected ≥ 1")
        self.span = span
        self._seen: dict[int, set[str]] = {}
        self._floor = 0  # every page below this index has been seen
        self._above: set[int] = set()  # pages seen at or above the floor

    def __len__(self) -> int:
        """Pages whose identities are still held."""
        return len(self._seen)

    def keep(self, index: int, images: list[Image]) -> tuple[list[Image], int]:
        """The images of page ``index`` not seen in it or its neighbours, and how many were dropped."""
        if index < self._floor or index in self._above:
            raise ValueError(f"page {index} was already de-duplicated")
        neighbours = [
            seen for j in range(index - self.span, index + self.span + 1) if (seen := self._seen.get(j))
        ]
        current: set[str] = set()
        kept: list[Image] = []
        for image in images:
            identity = image.identity
            if identity in current or any(identity in seen for seen in neighbours):
                continue
            current.add(identity)
            kept.append(image)
        self._seen[index] = current
        self._mark_seen(index)
        self._forget()
        return kept, len(images) - len(kept)

    def _mark_seen(self, index: int) -> None:
        self._above.add(index)
        while self._floor in self._above:
            self._above.discard(self._floor)
            self._floor += 1

    def _done(self, index: int) -> bool:
        return index < self._floor or index in self._above

    def _forget(self) -> None:
        """Drop the sets no page still to come can need."""
        span = self.span
        for index in [i for i in self._seen if all(self._done(j) for j in range(i - span, i + span + 1))]:
            del self._seen[index]
