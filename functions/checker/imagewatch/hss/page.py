"""One ListImageLocal answer, parsed: typed records, the ones that failed their type checks, and how
many attempts it took. Parsing runs in the thread that fetched the page, beside the others in flight.
"""

from __future__ import annotations

import json

from msgspec import Struct

from imagewatch.hss.errors import HssTransportError, RecordError
from imagewatch.hss.model import Image, parse_image


class Page(Struct):
    """One ListImageLocal answer: valid records, the ones that failed type checks, and how it went."""

    total_num: int
    size: int  # records in data_list, valid or not: what the offset advances by
    images: list[Image]
    record_errors: list[RecordError]
    request_id: str | None
    attempts: int
    throttled: int = 0  # attempts answered 429


def parse_page(body: bytes, offset: int, request_id: str | None, attempts: int, throttled: int = 0) -> Page:
    """Check the answer's shape (a transport problem when wrong: retried) and type every record (a
    record problem when wrong: reported, never coerced)."""
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
    return Page(total, len(records), images, errors, request_id, attempts, throttled)
