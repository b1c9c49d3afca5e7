"""Stage 5 overlapped with stage 3: each query's share of the ledger merged while the next is read.

A run reads its queries one after the other, and a steady run's merge came after the last page: at
100,000 records, most of the time a second run took beyond reading the inventory (docs/deployment.md,
"Sizing"). Each policy is judged by one query (``plan``), so once a query's listing has ended its
policies' findings are final: a thread of its own merges them with their ledger entries then, while
the reader waits for the next query's pages. What is left — the last query's policies and every
ledger entry no query judges (a broken policy file, a policy removed or not chosen for this run) — is
merged after the read, in the caller's thread.

Every fingerprint still meets ``settle`` once: the groups split the ledger by policy. Merges run one
at a time, in query order, so the store, the workspace's bookkeeping and the report see one writer
at a time; the channels' digests and the resolution tally are shared by the groups, and the report's
rows come group by group, each in fingerprint order. A group's read that ended incomplete resolves
nothing (its policies are not judged), as before.

Leaving the ``with`` stops a merge in flight at its next item and waits for it, so no thread touches
the workspace, the ledger copy or the store once the run has left; a merge's failure is raised by the
next ``stage`` or by ``finish``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

from imagewatch.alerts.digest import DigestCollector
from imagewatch.alerts.ledger_copy import LedgerCopy
from imagewatch.alerts.merge import FoundSource, Merged
from imagewatch.history import ResolutionTally
from imagewatch.violation import Violation
from imagewatch.workspace import Workspace

# merge_ledger with the run's keyword arguments bound: (entries, work, *, judged, found, collectors, tally)
MergeGroup = Callable[..., Merged]


class MergeStopped(Exception):
    """The run left while a group's merge was in flight (raised in the merge's thread only)."""


class StagedMerge:
    """``stage`` each query's policies as its listing ends (but the last); ``finish`` once every
    query is read. Use as a context manager."""

    def __init__(
        self, ledger: LedgerCopy, work: Workspace, merge: MergeGroup, collectors: dict[str, DigestCollector]
    ) -> None:
        self._ledger, self._work, self._merge = ledger, work, merge
        self._collectors, self._tally = collectors, ResolutionTally()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="merge")
        self._pending: list[Future[Merged]] = []
        self._staged: set[str] = set()
        self._stop = threading.Event()

    def __enter__(self) -> StagedMerge:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop a merge in flight (at its next item) and wait for it. Idempotent."""
        self._stop.set()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def stage(self, policy_ids: Collection[str], complete: bool) -> None:
        """A query's listing has ended: its policies' findings (sealed now) are merged with their ledger
        entries in the background, judged when the read was ``complete``."""
        self._raise_failed()
        found = self._work.seal_group()
        policies = frozenset(policy_ids)
        self._staged |= policies
        self._pending.append(
            self._pool.submit(
                self._merge,
                self._checked(self._ledger.entries(only=policies)),
                self._work,
                judged=set(policies) if complete else set(),
                found=_Checked(found, self._checked),
                collectors=self._collectors,
                tally=self._tally,
            )
        )

    def finish(self, judged: set[str]) -> Merged:
        """Every query is read: wait for the staged merges, then merge the rest here; every group's
        figures together."""
        total = Merged(collectors=self._collectors, tally=self._tally)
        for pending in self._pending:
            total.absorb(pending.result())
        self._pending.clear()
        rest = self._merge(
            self._ledger.entries(besides=self._staged),
            self._work,
            judged=judged,
            found=self._work.last_group(),
            collectors=self._collectors,
            tally=self._tally,
        )
        total.absorb(rest)
        return total

    def _raise_failed(self) -> None:
        for pending in self._pending:
            if pending.done() and pending.exception() is not None:
                pending.result()

    def _checked(self, items: Iterable) -> Iterator:
        for item in items:
            if self._stop.is_set():
                raise MergeStopped
            yield item


class _Checked:
    """A group's findings, read through ``check`` (which stops when the run leaves)."""

    def __init__(self, found: FoundSource, check: Callable[[Iterable], Iterator]) -> None:
        self._found, self._check = found, check

    def found_keyed(self) -> Iterator[tuple[str, Violation]]:
        return self._check(self._found.found_keyed())

    def exempted(self) -> Iterator[str]:
        return self._found.exempted()
