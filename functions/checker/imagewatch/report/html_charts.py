"""The HTML report's charts as geometry: pure functions from counts to SVG shapes.

The template draws what these return (rectangles, lines, text) inside ``<svg viewBox>``; every text
stays a template variable, so autoescape covers it like any other. Coordinates are in the viewBox's
units; the page scales the SVG to its card's width.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from msgspec import Struct, field

from imagewatch.violation import SEVERITIES

WIDTH = 480  # every chart's viewBox width
LABEL_CHARS = 28  # a bar's label is cut to this (the whole text is in its tooltip)
BAR = 18  # a horizontal bar's height
GAP = 8
LABEL_W = 192  # room for the labels left of horizontal bars
VALUE_W = 56  # room for the figure right of them


class Rect(Struct, frozen=True):
    x: float
    y: float
    w: float
    h: float
    severity: str  # colours it (a CSS class)
    tip: str = ""


class Text(Struct, frozen=True):
    x: float
    y: float
    text: str
    anchor: str = "start"
    tip: str = ""
    kind: str = "label"  # label | value | axis


class Chart(Struct):
    """One SVG: its viewBox height, shapes, gridlines and an accessible summary."""

    height: float
    summary: str
    rects: list[Rect] = field(default_factory=list)
    texts: list[Text] = field(default_factory=list)
    lines: list[tuple[float, float, float, float]] = field(default_factory=list)
    empty: str = ""  # said instead of a chart when there is nothing to draw


def clip(text: str, limit: int = LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _split(counts: Sequence[int], x: float, y: float, width: float, total: int, tip: str) -> list[Rect]:
    """One horizontal bar of ``width`` for ``total``, in segments per severity (worst first)."""
    rects, left = [], x
    for rank, count in enumerate(counts):
        if count:
            w = width * count / total
            rects.append(Rect(round(left, 2), y, round(max(w, 0.5), 2), BAR, SEVERITIES[rank], tip))
            left += w
    return rects


def horizontal_bars(
    items: Sequence[tuple[str, Sequence[int], str]], *, summary: str, empty: str, more: int = 0
) -> Chart:
    """Bars of (label, counts per severity, tooltip), longest first as given; ``more``: items not shown."""
    chart = Chart(height=0, summary=summary, empty=empty if not items else "")
    biggest = max((sum(counts) for _, counts, _ in items), default=0) or 1
    span = WIDTH - LABEL_W - VALUE_W
    y = 4.0
    for label, counts, tip in items:
        total = sum(counts)
        chart.texts.append(Text(LABEL_W - 8, y + BAR - 5, clip(label), "end", tip or label))
        chart.rects.extend(_split(counts, LABEL_W, y, max(span * total / biggest, 1.0), total, tip or label))
        end = LABEL_W + span * total / biggest
        chart.texts.append(Text(end + 6, y + BAR - 5, f"{total:,}", kind="value"))
        y += BAR + GAP
    if more:
        chart.texts.append(Text(LABEL_W, y + BAR - 6, f"…and {more:,} more", kind="axis"))
        y += BAR
    chart.height = y + 4
    return chart


def policy_chart(
    counts: Sequence[Sequence[int]], policies: Sequence[str], titles: Mapping[str, str], limit: int = 12
) -> Chart:
    """Violations found per policy, most first (coloured by severity)."""
    ranked = sorted(
        ((policies[i], c) for i, c in enumerate(counts) if sum(c)), key=lambda item: (-sum(item[1]), item[0])
    )
    items = [(pid, c, f"{pid}: {titles.get(pid, pid)} ({sum(c):,})") for pid, c in ranked[:limit]]
    return horizontal_bars(
        items,
        summary="Violations by policy: " + ", ".join(f"{pid} {sum(c)}" for pid, c in ranked[:limit]),
        empty="No policy found a violation.",
        more=max(0, len(ranked) - limit),
    )


def images_chart(images: Sequence[object]) -> Chart:
    """The worst images (``WorstImages.top``): their open violations per severity."""
    items = []
    for image in images:
        counts = image.counts  # type: ignore[attr-defined]
        detail = ", ".join(f"{SEVERITIES[r]} {n}" for r, n in enumerate(counts) if n)
        hosts = image.hosts  # type: ignore[attr-defined]
        tip = f"{image.name}: {detail}" + (f"; up to {hosts} hosts" if hosts else "")  # type: ignore[attr-defined]
        items.append((image.name, counts, tip))  # type: ignore[attr-defined]
    return horizontal_bars(
        items,
        summary="Worst images: " + "; ".join(tip for _, _, tip in items),
        empty="No image has an open violation.",
    )


class Point(Struct, frozen=True):
    """One run in the trend: when (ms), how it went, what was open per severity."""

    at: int
    status: str
    open_by_severity: dict[str, int]


def _day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


def trend_chart(points: Sequence[Point], height: float = 190) -> Chart:
    """Open violations per severity over the recent runs: a stacked column per run, oldest left."""
    chart = Chart(height=height, summary="", empty="" if points else "No run history yet.")
    if not points:
        return chart
    top, bottom, left, right = 10.0, height - 26, 44.0, WIDTH - 8
    totals = [sum(p.open_by_severity.get(s, 0) for s in SEVERITIES) for p in points]
    ceiling = _nice(max(totals) or 1)
    for tick in range(5):
        value = ceiling * tick / 4
        y = bottom - (bottom - top) * tick / 4
        chart.lines.append((left, round(y, 2), right, round(y, 2)))
        chart.texts.append(Text(left - 6, y + 4, f"{value:,.0f}", "end", kind="axis"))
    slot = (right - left) / max(len(points), 1)
    width = max(min(slot * 0.7, 36), 2)
    for index, point in enumerate(points):
        x = left + slot * index + (slot - width) / 2
        y = bottom
        counts = [(s, n) for s in SEVERITIES if (n := point.open_by_severity.get(s, 0))]
        tip = f"{_day(point.at)} UTC, {point.status}: " + (
            ", ".join(f"{s} {n:,}" for s, n in counts) or "none open"
        )
        for severity in reversed(SEVERITIES):  # least severe on top
            count = point.open_by_severity.get(severity, 0)
            if count:
                h = (bottom - top) * count / ceiling
                y -= h
                rect = Rect(round(x, 2), round(y, 2), round(width, 2), round(max(h, 0.5), 2), severity, tip)
                chart.rects.append(rect)
    chart.texts.append(Text(left, height - 8, _day(points[0].at), kind="axis"))
    if len(points) > 1:
        chart.texts.append(Text(right, height - 8, _day(points[-1].at), "end", kind="axis"))
    last = points[-1]
    chart.summary = (
        f"Open violations over the last {len(points)} run(s); now {totals[-1]:,} ({_day(last.at)} UTC)"
    )
    return chart


def _nice(value: float) -> float:
    """The smallest round number (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 × 10ⁿ) at or above ``value``: an
    axis' top."""
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude
