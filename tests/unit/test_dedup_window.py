"""De-duplication across neighbouring pages, in any arrival order, with bounded memory."""

from __future__ import annotations

import itertools

import pytest

from imagewatch.hss.dedup import DedupWindow
from imagewatch.hss.model import Image


def images(*ids: str) -> list[Image]:
    return [Image(image_id=i, host_id="h") for i in ids]


def ids(kept: list[Image]) -> list[str]:
    return [image.image_id or "" for image in kept]


def test_a_shifted_record_repeated_in_the_next_page_is_dropped() -> None:
    window = DedupWindow(span=2)
    assert window.keep(0, images("a", "b", "c")) == (images("a", "b", "c"), 0)
    kept, dropped = window.keep(1, images("c", "d", "e"))
    assert ids(kept) == ["d", "e"] and dropped == 1


def test_repeats_inside_one_page_are_dropped() -> None:
    kept, dropped = DedupWindow().keep(0, images("a", "a", "b"))
    assert ids(kept) == ["a", "b"] and dropped == 1


def test_whichever_copy_arrives_first_is_kept() -> None:
    window = DedupWindow(span=2)
    assert ids(window.keep(1, images("c", "d"))[0]) == ["c", "d"]  # page 1 completed first
    kept, dropped = window.keep(0, images("a", "b", "c"))
    assert ids(kept) == ["a", "b"] and dropped == 1


def test_pages_further_apart_than_the_span_are_not_compared() -> None:
    window = DedupWindow(span=2)
    window.keep(0, images("a"))
    window.keep(1, images("b"))
    window.keep(2, images("c"))
    assert ids(window.keep(3, images("a"))[0]) == ["a"]  # 3 pages away: a new record, not a repeat


@pytest.mark.parametrize("order", list(itertools.permutations(range(5))))
def test_every_arrival_order_keeps_each_record_once(order: tuple[int, ...]) -> None:
    """Five pages whose boundaries each repeat one record (inserts between requests)."""
    pages = {k: images(*(f"r{n}" for n in range(10 * k - (1 if k else 0), 10 * k + 10))) for k in range(5)}
    window = DedupWindow(span=2)
    seen: list[str] = []
    dropped = 0
    for k in order:
        kept, lost = window.keep(k, pages[k])
        seen += ids(kept)
        dropped += lost
    assert sorted(seen) == sorted(f"r{n}" for n in range(50)) and dropped == 4


def test_memory_follows_the_pages_in_flight_not_the_inventory() -> None:
    window = DedupWindow(span=2)
    for k in range(10_000):
        window.keep(k, images(f"x{k}"))
        assert len(window) <= 2  # only the sets the next pages still need
    # with page 10,000 late, its neighbours stay (2 each side) besides the head's 2, however far
    # the others go
    for k in range(10_001, 20_000):
        window.keep(k, images(f"x{k}"))
        assert len(window) <= 6


def test_a_page_is_counted_once() -> None:
    window = DedupWindow()
    window.keep(0, images("a"))
    with pytest.raises(ValueError, match="page 0 was already de-duplicated"):
        window.keep(0, images("a"))


def test_the_identity_tally_counts_far_repeats_in_memory_and_when_spilled(tmp_path, monkeypatch) -> None:
    """Past its memory bound the tally spills to a temporary file and counts the same (issue 13:
    memory bounded at any inventory size); the file is never visible (unlinked once open)."""
    import tempfile

    from imagewatch.hash_tally import HashTally

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    identities = [f"img{n}@h{n % 7}" for n in range(1_000)] + [f"img{n}@h{n % 7}" for n in range(0, 370, 10)]
    small, big = HashTally(in_memory=100), HashTally()
    for identity in identities:
        small.add(hash(identity))
        big.add(hash(identity))
    assert small._spill is not None and big._spill is None  # the small one spilled
    assert list(tmp_path.iterdir()) == []
    assert small.repeats() == big.repeats() == 37
    assert small.distinct() == big.distinct() == 1_000
    assert (small.added, big.added) == (1_037, 1_037)
    small.close()
    big.close()
    assert list(tmp_path.iterdir()) == []
