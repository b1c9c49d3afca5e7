"""The ledger copy: what the store yields, in fingerprint order, read while HSS is paged."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from imagewatch.alerts.ledger import Delivery, LedgerEntry
from imagewatch.alerts.ledger_copy import BATCH, LedgerCopy
from imagewatch.alerts.store import StateStoreError


def entry(n: int) -> LedgerEntry:
    return LedgerEntry(
        fingerprint=f"{n:020x}", policy_id="p", subject=f"img{n}", severity="high",
        label=f"img{n} on 2 hosts", message="m", status="open", first_seen=5, last_seen=6,
        deliveries={"chat": Delivery(new_at=6)}, due_at=99,
    )  # fmt: skip


def test_every_entry_comes_back_equal_and_in_fingerprint_order() -> None:
    entries = [entry(n) for n in range(2 * BATCH + 7)]
    with LedgerCopy() as copy:
        copy.start(iter(entries))
        assert list(copy.entries()) == entries
        assert copy.copied == len(entries)


def test_a_read_error_is_raised_after_the_entries_read_before_it() -> None:
    """As reading the store directly would: the merge settles what it got, then fails loudly."""

    def failing() -> Iterator[LedgerEntry]:
        yield from (entry(n) for n in range(BATCH + 3))
        raise StateStoreError("state table t: cannot read the ledger: ProvisionedThroughputExceeded")

    seen: list[LedgerEntry] = []
    with LedgerCopy() as copy:
        copy.start(failing())
        with pytest.raises(StateStoreError, match="ProvisionedThroughputExceeded"):
            for item in copy.entries():
                seen.append(item)
    assert len(seen) == BATCH + 3


def test_the_copy_runs_in_a_thread_of_its_own_while_the_caller_goes_on() -> None:
    """The store is read while the run pages HSS: the caller is not held up by a slow store."""
    release = threading.Event()
    reading = threading.Event()

    def slow() -> Iterator[LedgerEntry]:
        yield entry(1)
        reading.set()
        assert release.wait(10)
        yield entry(2)

    with LedgerCopy() as copy:
        copy.start(slow())
        assert reading.wait(10)  # start() returned while the store is still being read
        release.set()
        assert [e.fingerprint for e in copy.entries()] == [entry(1).fingerprint, entry(2).fingerprint]


def test_close_stops_a_copy_in_progress_and_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    pulled = 0

    def endless() -> Iterator[LedgerEntry]:
        nonlocal pulled
        while True:
            pulled += 1
            yield entry(pulled)

    copy = LedgerCopy()
    copy.start(endless())
    assert list(tmp_path.iterdir()) == []  # never visible, even while written
    copy.close()  # a run cut short: the thread ends at its next batch
    stopped_at = pulled
    assert stopped_at >= BATCH
    assert list(tmp_path.iterdir()) == []
    copy.close()  # idempotent


def test_entries_before_start_is_a_bug_said_plainly() -> None:
    with LedgerCopy() as copy, pytest.raises(RuntimeError, match="never started"):
        next(copy.entries())
