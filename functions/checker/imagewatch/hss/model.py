"""``Image``: one ListImageLocal record (ImageLocalInfo), typed.

Unknown fields are tolerated and not kept (the API grows; nothing may depend on a field the reference
does not document, and keeping them let a hostile answer cost memory); a known field with the wrong
type is a ``RecordError`` naming the field and the value, never a silent coercion. Absent or null
fields are ``None``.

Identity: a record is one image on one host, so its identity is ``image_id`` (or, when HSS leaves it
empty, ``image_digest``, then ``image_name:image_version``) joined with ``host_id`` by ``@``. The pager
de-duplicates on it and the alert ledger fingerprints violations with it (docs/hss.md). A record from
HSS that does not name its image (no id, digest or name) or its host (no ``host_id``) has no identity:
``check_identity`` makes it a ``RecordError``, since records without one would collapse into each other.

Bounds: every string is clipped at parse time to its documented maximum length (``STRING_BOUNDS``), so
a hostile answer cannot make one record cost megabytes in memory, the ledger or a report. A clipped
record says which fields were clipped in ``clipped``.

Two ways to a record, one result: a page whose every record is well-formed and within bounds is
decoded by msgspec straight into ``Image`` (typed, in C: ~1 µs a record, where the field-by-field
``parse_image`` costs ~25 µs); any page msgspec refuses is parsed record by record by ``parse_image``,
which names each bad record and clips what is too long (``hss/page.py``).
"""

# No ``from __future__ import annotations`` here, unlike elsewhere: this module's annotations are read
# at import, by ``_string_bounds`` and by msgspec when ``hss/page.py`` builds its decoder. As objects they
# are read as they are; as strings each of Image's 22 fields would be compiled and evaluated twice
# (4.1 M of imagewatch's ~90 M cold-start instructions, counted by callgrind as ``make bench`` does).
from collections.abc import Mapping
from typing import Annotated, Any, Literal, get_args, get_type_hints

from msgspec import Meta, Struct, field

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

# The reference's bounds, as types: msgspec enforces them when it decodes a page, and ``parse_image``
# clips to them (STRING_BOUNDS, read from these annotations).
Count = Annotated[int, Meta(ge=0)]  # every documented integer is a count or a time, never negative
Text64 = Annotated[str, Meta(max_length=64)]
Text128 = Annotated[str, Meta(max_length=128)]
Text256 = Annotated[str, Meta(max_length=256)]  # non_scan_reason is undocumented: 256 too

SEVERITY_RANK: dict[str, int] = {"Security": 0, "Low": 1, "Medium": 2, "High": 3}


class Image(Struct):
    """One image on one host, as HSS reports it."""

    image_name: Text256 | None = None
    image_id: Text64 | None = None
    image_digest: Text128 | None = None
    image_version: Text256 | None = None
    local_image_type: Text256 | None = None
    scan_status: Text256 | None = None
    image_size: Count | None = None
    latest_update_time: Count | None = None
    latest_scan_time: Count | None = None
    vul_num: Count | None = None
    unsafe_setting_num: Count | None = None
    malicious_file_num: Count | None = None
    host_num: Count | None = None
    container_num: Count | None = None
    component_num: Count | None = None
    scan_failed_desc: Text64 | None = None
    severity_level: Text256 | None = None
    host_name: Text128 | None = None
    host_id: Text128 | None = None
    agent_id: Text128 | None = None
    non_scan_reason: Text256 | None = None
    # fields cut to their documented bound; named so no HSS field can fill it on the fast path
    clipped: tuple[str, ...] = field(default=(), name="imagewatch_clipped")

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
        if self.clipped:
            out["imagewatch_clipped"] = list(self.clipped)
        return out


def _string_bounds() -> dict[str, int]:
    """Each string field's documented maximum length, read from ``Image``'s annotations."""
    bounds = {}
    for name, hint in get_type_hints(Image, include_extras=True).items():
        for option in get_args(hint):
            for meta in getattr(option, "__metadata__", ()):
                if isinstance(meta, Meta) and meta.max_length is not None:
                    bounds[name] = meta.max_length
    return bounds


STRING_BOUNDS = _string_bounds()


def parse_image(record: object, *, offset: int | None = None) -> Image:
    """Type-check one ImageLocalInfo object and clip it to its bounds; ``offset`` only sharpens the
    error message."""
    if not isinstance(record, Mapping):
        raise RecordError("(record)", record, "a JSON object", offset=offset)
    known: dict[str, Any] = {}
    clipped: list[str] = []
    for name, value in record.items():
        kind = IMAGE_FIELDS.get(name)
        if kind is None:  # tolerated, not kept
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
    return Image(**known, clipped=tuple(clipped))


def check_identity(image: Image, *, offset: int | None = None) -> Image:
    """``image`` if it names its image and its host; records from HSS must (policy examples need not):
    without both, distinct records would share one identity and collapse into each other."""
    if not (image.image_id or image.image_digest or image.image_name):
        raise RecordError("(identity)", None, "image_id, image_digest or image_name", offset=offset)
    if not image.host_id:
        raise RecordError("host_id", image.host_id, "a host id (1..128 characters)", offset=offset)
    return image
