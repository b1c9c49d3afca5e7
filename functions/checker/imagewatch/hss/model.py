"""``Image``: one ListImageLocal record (ImageLocalInfo), typed.

Unknown fields are kept in ``extra`` (the API grows); a known field with the wrong type is a
``RecordError`` naming the field and the value, never a silent coercion. Absent or null fields are
``None``.

Identity: a record is one image on one host, so its identity is ``image_id`` (or, when HSS leaves it
empty, ``image_digest``, then ``image_name:image_version``) joined with ``host_id`` by ``@``. The pager
de-duplicates on it and the alert ledger fingerprints violations with it (docs/hss.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from msgspec import Struct, field

from imagewatch.hss.errors import RecordError

FieldKind = Literal["str", "int", "timestamp"]

# Every documented ImageLocalInfo field (plus the SDK's non_scan_reason) and how it is typed.
IMAGE_FIELDS: dict[str, FieldKind] = {
    "image_name": "str",
    "image_id": "str",
    "image_digest": "str",
    "image_version": "str",
    "local_image_type": "str",
    "scan_status": "str",
    "image_size": "int",
    "latest_update_time": "timestamp",
    "latest_scan_time": "timestamp",
    "vul_num": "int",
    "unsafe_setting_num": "int",
    "malicious_file_num": "int",
    "host_num": "int",
    "container_num": "int",
    "component_num": "int",
    "scan_failed_desc": "str",
    "severity_level": "str",
    "host_name": "str",
    "host_id": "str",
    "agent_id": "str",
    "non_scan_reason": "str",
}

SEVERITY_RANK: dict[str, int] = {"Security": 0, "Low": 1, "Medium": 2, "High": 3}


class Image(Struct):
    """One image on one host, as HSS reports it."""

    image_name: str | None = None
    image_id: str | None = None
    image_digest: str | None = None
    image_version: str | None = None
    local_image_type: str | None = None
    scan_status: str | None = None
    image_size: int | None = None
    latest_update_time: int | None = None
    latest_scan_time: int | None = None
    vul_num: int | None = None
    unsafe_setting_num: int | None = None
    malicious_file_num: int | None = None
    host_num: int | None = None
    container_num: int | None = None
    component_num: int | None = None
    scan_failed_desc: str | None = None
    severity_level: str | None = None
    host_name: str | None = None
    host_id: str | None = None
    agent_id: str | None = None
    non_scan_reason: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def identity(self) -> str:
        """Stable key of this record: ``{image_id or digest or name:version}@{host_id}``."""
        image = self.image_id or self.image_digest or f"{self.image_name or ''}:{self.image_version or ''}"
        return f"{image}@{self.host_id or ''}"

    @property
    def label(self) -> str:
        """How people name the image: ``name:version``."""
        return f"{self.image_name or '?'}:{self.image_version or '?'}"

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON-ready data (known fields that are set, then unknown ones)."""
        out = {name: getattr(self, name) for name in IMAGE_FIELDS if getattr(self, name) is not None}
        out.update(self.extra)
        return out


def parse_image(record: object, *, offset: int | None = None) -> Image:
    """Type-check one ImageLocalInfo object; ``offset`` only sharpens the error message."""
    if not isinstance(record, Mapping):
        raise RecordError("(record)", record, "a JSON object", offset=offset)
    known: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for name, value in record.items():
        kind = IMAGE_FIELDS.get(name)
        if kind is None:
            extra[name] = value
            continue
        if value is None:
            continue
        if kind == "str":
            if not isinstance(value, str):
                raise RecordError(name, value, "a string", offset=offset)
        elif isinstance(value, bool) or not isinstance(value, int):
            raise RecordError(name, value, "an integer", offset=offset)
        elif value < 0:
            raise RecordError(name, value, "an integer ≥ 0", offset=offset)
        known[name] = value
    return Image(**known, extra=extra)
