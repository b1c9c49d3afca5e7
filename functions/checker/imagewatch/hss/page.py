"""One ListImageLocal answer, parsed: typed records, the ones that failed their type checks, and how
many attempts it took. Parsing runs in the thread that fetched the page, beside the others in flight.

Most pages decode in one step: msgspec checks every documented type and bound while it decodes
(``_WirePage``); a page it refuses is parsed record by record instead, so each bad record is named and
each over-long string clipped (``hss/model.py``).

An answer is refused (a transport problem: retried, then the listing fails) when its shape cannot be a
page of this listing: not a JSON object, nested past any real answer, ``total_num`` not a count,
``data_list`` not an array — or missing/null while ``total_num`` says records remain at this offset —
or more records than the ``limit`` asked for. Before decoding, the body's commas and brackets are
counted: a page of ``limit`` records cannot hold more than ``MAX_ELEMENTS_PER_RECORD`` values or
``MAX_CONTAINERS_PER_RECORD`` objects/arrays per record, so a hostile answer is refused before it can
become millions of Python objects (docs/hss.md, "Answers that cannot be a page").
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import Meta, Struct

from imagewatch.hss.errors import HssTransportError, RecordError
from imagewatch.hss.model import Image, check_identity, parse_image
from imagewatch.untrusted_json import UntrustedJsonError, decode

# A record has ~21 documented fields plus a few unknown ones: these leave room for growth, and still
# keep the decode of any accepted body to a few MB of Python objects.
MAX_ELEMENTS_PER_RECORD = 256
MAX_CONTAINERS_PER_RECORD = 16
MAX_DEPTH = 8  # {"data_list": [{record: {an unknown field's object}}]} is 4 deep


class Page(Struct):
    """One ListImageLocal answer: valid records, the ones that failed type checks, and how it went."""

    total_num: int
    size: int  # records in data_list, valid or not: what the offset advances by
    images: list[Image]
    record_errors: list[RecordError]
    request_id: str | None
    attempts: int
    throttled: int = 0  # attempts answered 429
    offset: int = 0


def parse_page(
    body: bytes,
    offset: int,
    limit: int,
    request_id: str | None,
    attempts: int,
    throttled: int = 0,
) -> Page:
    """Check the answer's shape (a transport problem when wrong: retried) and type every record (a
    record problem when wrong: reported, never coerced)."""
    where = f"ListImageLocal answer at offset {offset}"
    if body.count(b",") > limit * MAX_ELEMENTS_PER_RECORD or (
        body.count(b"{") + body.count(b"[") > limit * MAX_CONTAINERS_PER_RECORD
    ):
        raise HssTransportError(f"{where}: holds far more values than {limit} records can; refused unread")
    try:
        wire = _decode_typed(body)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        wire = None  # some record is not as documented, or holds bytes that are not UTF-8: one by one
    if wire is None or wire.data_list is None:  # (and a list that is missing or null, said precisely)
        return _parse_careful(body, offset, limit, request_id, attempts, throttled, where)
    records = _records(wire.data_list, wire.total_num, offset, limit, where, True)
    images, errors = [], []
    for index, image in enumerate(records):
        try:
            images.append(check_identity(image, offset=offset + index))
        except RecordError as exc:
            errors.append(exc)
    return Page(wire.total_num, len(records), images, errors, request_id, attempts, throttled, offset)


def _parse_careful(
    body: bytes, offset: int, limit: int, request_id: str | None, attempts: int, throttled: int, where: str
) -> Page:
    """The answer decoded as plain JSON and each record typed on its own: each bad record a
    ``RecordError``, each over-long string clipped."""
    try:
        data = decode(body, max_depth=MAX_DEPTH)
    except UntrustedJsonError as exc:
        raise HssTransportError(f"{where} is not usable JSON: {exc}") from None
    if not isinstance(data, dict):
        raise HssTransportError(f"{where} is not a JSON object")
    total = data.get("total_num")
    if isinstance(total, bool) or not isinstance(total, int) or total < 0:
        shown = total if isinstance(total, int | float | None) else type(total).__name__
        raise HssTransportError(f"{where}: total_num is {shown!r}, expected an integer ≥ 0")
    records = data.get("data_list")
    if records is not None and not isinstance(records, list):
        raise HssTransportError(f"{where}: data_list is not an array")
    records = _records(records, total, offset, limit, where, "data_list" in data)
    images, errors = [], []
    for index, record in enumerate(records):
        try:
            images.append(check_identity(parse_image(record, offset=offset + index), offset=offset + index))
        except RecordError as exc:
            errors.append(exc)
    return Page(total, len(records), images, errors, request_id, attempts, throttled, offset)


def _records(
    records: list[Any] | None, total: int, offset: int, limit: int, where: str, present: bool
) -> list[Any]:
    """The page's records, or the reason it cannot be a page of this listing."""
    if records is None:
        if offset < total:
            state = "null" if present else "missing"
            raise HssTransportError(
                f"{where}: data_list is {state} while total_num {total} says records remain"
            )
        return []
    if len(records) > limit:
        raise HssTransportError(f"{where}: data_list holds {len(records)} records, more than limit {limit}")
    return records


class _WirePage(Struct):
    """A page as documented: msgspec checks every type and bound while it decodes (in C)."""

    total_num: Annotated[int, Meta(ge=0)]
    data_list: list[Image] | None = None


_decode_typed = msgspec.json.Decoder(_WirePage).decode
