"""Which offsets a listing still requests once its first page told total_num."""

from __future__ import annotations

from imagewatch.hss.offsets import OffsetPlan
from imagewatch.hss.page import Page


def page(total: int, size: int = 200) -> Page:
    return Page(total, size, [], [], None, 1)


def drain(plan: OffsetPlan) -> list[int]:
    offsets = []
    while (offset := plan.next()) is not None:
        offsets.append(offset)
    return offsets


def test_pages_follow_the_first_up_to_total_num() -> None:
    plan = OffsetPlan(0, 200, page(1000))
    assert drain(plan) == [200, 400, 600, 800]
    assert plan.expected == 1000 and plan.index(800) == 4


def test_a_short_first_page_is_the_whole_listing() -> None:
    assert drain(OffsetPlan(0, 200, page(150, size=150))) == []


def test_a_growing_total_extends_the_listing_and_a_short_page_ends_it() -> None:
    plan = OffsetPlan(0, 200, page(500))
    assert [plan.next(), plan.next()] == [200, 400]
    plan.observe(page(700))  # inserts while paging: read to the new end
    assert plan.peek() == 600
    plan.observe(page(700, size=120))  # a short page: the listing ended there
    assert plan.next() is None and not plan.has_more()


def test_never_past_the_offset_ceiling() -> None:
    plan = OffsetPlan(1_999_800, 200, page(2_000_450))
    assert drain(plan) == [2_000_000]
    assert plan.reachable == 2_000_200 and plan.expected == 400
