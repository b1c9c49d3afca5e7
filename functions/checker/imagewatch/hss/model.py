"""``Image``: one ListImageLocal record (ImageLocalInfo), typed.

Unknown fields are kept in ``extra`` (the API grows); a known field with the wrong type is a
``RecordError`` naming the field and the value, never a silent coercion. Absent or null fields are
``None``.

Identity: a record is one image on one host, so its identity is ``image_id`` (or, when HSS leaves it
empty, ``image_digest``, then ``image_name:image_version``) joined with ``host_id`` by ``@``. The pager
de-duplicates on it and the alert ledger fingerprints violations with it (docs/hss.md). A record from
HSS that does not name its image (no id, digest or name) or its host (no ``host_id``) has no identity:
``check_identity`` makes it a ``RecordError``, since records without one would collapse into each other.

Bounds: every string is clipped at parse time to its documented maximum length (``STRING_BOUNDS``), so
a hostile answer cannot make one record cost megabytes in memory, the ledger or a report. A clipped
record says which fields were clipped in ``clipped``; unknown fields are kept only as short scalars.
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

# Documented maximum lengths (the API page's ImageLocalInfo); non_scan_reason is undocumented.
STRING_BOUNDS: dict[str, int] = {
    "image_name": 256,
    "image_id": 64,
    "image_digest": 128,
    "image_version": 256,
    "local_image_type": 256,
    "scan_status": 256,
    "scan_failed_desc": 64,
    "severity_level": 256,
    "host_name": 128,
    "host_id": 128,
    "agent_id": 128,
    "non_scan_reason": 256,
}
# Unknown fields: kept for reports, but only small flat values, only so many, only so long.
MAX_EXTRA_FIELDS = 32
MAX_EXTRA_NAME = 64
MAX_EXTRA_STRING = 256
MAX_EXTRA_ITEMS = 16

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
    clipped: tuple[str, ...] = ()  # fields cut to their documented bound ("extra": unknown fields dropped)

    @property
    def identity(self) -> str:
        """Stable key of this record: ``{image_id or digest or name:version}@{host_id}``."""
        image = self.image_id or self.image_digest or f"{self.image_name or ''}:{self.image_version or ''}"
        return f"{image}@{self.host_id or ''}"

    @property
    def identity_clipped(self) -> bool:
        """Whether a field that makes up ``identity`` was clipped (two records may then share it)."""
        if not self.clipped:
            return False
        if self.image_id:
            used = ("image_id", "host_id")
        elif self.image_digest:
            used = ("image_digest", "host_id")
        else:
            used = ("image_name", "image_version", "host_id")
        return any(name in self.clipped for name in used)

    @property
    def label(self) -> str:
        """How people name the image: ``name:version``."""
        return f"{self.image_name or '?'}:{self.image_version or '?'}"

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON-ready data (known fields that are set, then unknown ones)."""
        out = {name: getattr(self, name) for name in IMAGE_FIELDS if getattr(self, name) is not None}
        out.update(self.extra)
        if self.clipped:
            out["imagewatch_clipped"] = list(self.clipped)
        return out


def parse_image(record: object, *, offset: int | None = None) -> Image:
    """Type-check one ImageLocalInfo object and clip it to its bounds; ``offset`` only sharpens the
    error message."""
    if not isinstance(record, Mapping):
        raise RecordError("(record)", record, "a JSON object", offset=offset)
    known: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    clipped: list[str] = []
    for name, value in record.items():
        kind = IMAGE_FIELDS.get(name)
        if kind is None:
            if _keep_extra(name, value, extra):
                extra[name] = value
            elif "extra" not in clipped:
                clipped.append("extra")
            continue
        if value is None:
            continue
        if kind == "str":
            if not isinstance(value, str):
                raise RecordError(name, value, "a string", offset=offset)
            bound = STRING_BOUNDS[name]
            if len(value) > bound:
                value = value[:bound]
                clipped.append(name)
        elif isinstance(value, bool) or not isinstance(value, int):
            raise RecordError(name, value, "an integer", offset=offset)
        elif value < 0:
            raise RecordError(name, value, "an integer ≥ 0", offset=offset)
        known[name] = value
    return Image(**known, extra=extra, clipped=tuple(clipped))


def check_identity(image: Image, *, offset: int | None = None) -> Image:
    """``image`` if it names its image and its host; records from HSS must (policy examples need not):
    without both, distinct records would share one identity and collapse into each other."""
    if not (image.image_id or image.image_digest or image.image_name):
        raise RecordError("(identity)", None, "image_id, image_digest or image_name", offset=offset)
    if not image.host_id:
        raise RecordError("host_id", image.host_id, "a host id (1..128 characters)", offset=offset)
    return image


def _keep_extra(name: object, value: object, extra: dict[str, Any]) -> bool:
    """Whether an unknown field is small enough to keep: a short name, and a scalar, a short string,
    or a flat list/object of at most ``MAX_EXTRA_ITEMS`` such values."""
    if len(extra) >= MAX_EXTRA_FIELDS or not isinstance(name, str) or len(name) > MAX_EXTRA_NAME:
        return False
    if isinstance(value, list):
        return len(value) <= MAX_EXTRA_ITEMS and all(_small_scalar(item) for item in value)
    if isinstance(value, dict):
        return len(value) <= MAX_EXTRA_ITEMS and all(
            len(key) <= MAX_EXTRA_NAME and _small_scalar(item) for key, item in value.items()
        )
    return _small_scalar(value)


def _small_scalar(value: object) -> bool:
    if isinstance(value, str):
        return len(value) <= MAX_EXTRA_STRING
    return value is None or isinstance(value, bool | int | float)
