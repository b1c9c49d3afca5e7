"""Inline example cases: reading the images a policy carries with the verdict it must reach on them.

An image rule's example is ``{"image": {...}, "expect": "violation"|"pass"|"exempt", "note"?, "now"?}``;
a fleet rule's is ``{"images": [{...}, ...], "expect": "violation"|"pass", "note"?, "now"?}``.
Images are partial ImageLocalInfo records (absent fields are absent). Every example runs at a fixed
moment: its own ``now``, else the policy's ``examples_now``, else ``DEFAULT_EXAMPLES_NOW``, so a
shipped example gives the same verdict on every day it is run.
"""

from __future__ import annotations

from typing import Literal

from msgspec import Struct

from imagewatch.hss.errors import RecordError
from imagewatch.hss.model import IMAGE_FIELDS, Image, parse_image
from imagewatch.policy.conditions import Problems
from imagewatch.policy.errors import BadValue, child, got, show
from imagewatch.policy.instants import parse_instant

Verdict = Literal["violation", "pass", "exempt"]
VERDICTS: tuple[Verdict, ...] = ("violation", "pass", "exempt")
DEFAULT_EXAMPLES_NOW = parse_instant("2026-01-01T00:00:00Z")


class Example(Struct, frozen=True):
    index: int
    pointer: str  # "/examples/2"
    expect: Verdict
    note: str | None
    now_ms: int
    images: tuple[Image, ...]  # one for image rules

    @property
    def name(self) -> str:
        """``example 2 ("High is flagged")`` — how failures refer to it."""
        return f"example {self.index}" + (f" ({show(self.note)})" if self.note else "")


def _instants(record: dict[str, object], pointer: str, problems: Problems) -> dict[str, object] | None:
    """``record`` with its timestamp fields in epoch ms: an example may write them as conditions do
    (``"2026-01-01"``, ``"2026-01-01T08:00:00Z"``), by the one parser of instants (``instants.py``)."""
    converted = dict(record)
    ok = True
    for name, value in record.items():
        if IMAGE_FIELDS.get(name) == "timestamp" and isinstance(value, str):
            try:
                converted[name] = parse_instant(value)
            except BadValue as error:
                problems.append((child(pointer, name), error.message))
                ok = False
    return converted if ok else None


def _image(record: object, pointer: str, problems: Problems) -> Image | None:
    if not isinstance(record, dict):
        return None
    unknown = [name for name in record if name not in IMAGE_FIELDS]
    if unknown:
        from imagewatch.suggest import did_you_mean  # only a broken example needs it

        for name in unknown:
            hint = did_you_mean(name, IMAGE_FIELDS)
            problems.append((child(pointer, name), "not an ImageLocalInfo field" + hint))
    known = _instants(
        {name: value for name, value in record.items() if name in IMAGE_FIELDS}, pointer, problems
    )
    if known is None:
        return None
    try:
        image = parse_image(known)
    except RecordError as error:
        problems.append((child(pointer, error.field), got(error.value, error.expected)))
        return None
    return None if unknown else image


def read_now(raw: object, pointer: str, problems: Problems) -> int | None:
    try:
        return parse_instant(raw)
    except BadValue as error:
        problems.append((pointer, error.message))
        return None


def read_examples(raw: object, *, fleet: bool, default_now: int, problems: Problems) -> tuple[Example, ...]:
    """The ``examples`` list of one policy; problems go to ``problems``."""
    if not isinstance(raw, list):
        return ()
    examples: list[Example] = []
    for index, item in enumerate(raw):
        pointer = child("/examples", index)
        if not isinstance(item, dict):
            continue
        # Everything is read before anything is judged, so one pass reports every problem.
        now = read_now(item["now"], child(pointer, "now"), problems) if "now" in item else default_now
        expect, note = item.get("expect"), item.get("note")
        if fleet:
            records = item.get("images")
            records = records if isinstance(records, list) else []
            base = child(pointer, "images")
            images = [_image(record, child(base, n), problems) for n, record in enumerate(records)]
        else:
            images = [_image(item.get("image"), child(pointer, "image"), problems)]
        if expect not in VERDICTS or (fleet and expect == "exempt"):
            if isinstance(expect, str):
                allowed = (
                    "violation or pass (fleet rules have no exemptions)"
                    if fleet
                    else "violation, pass or exempt"
                )
                problems.append((child(pointer, "expect"), got(expect, allowed)))
            continue
        if (
            now is None
            or any(image is None for image in images)
            or not (note is None or isinstance(note, str))
        ):
            continue
        kept = tuple(image for image in images if image is not None)
        examples.append(Example(index, pointer, expect, note, now, kept))  # type: ignore[arg-type]
    return tuple(examples)
