"""ListImageLocal query parameters: one typed value, checked against the documented bounds before sending.

The table below is the API page's (../shared/reference/hss-list-image-local.zh.txt), plus
``has_container`` that the SDKs know. Two deliberate departures, both documented in docs/hss.md:

* The page caps the four time-window parameters at 2147483547, smaller than any millisecond timestamp
  after January 1970, while the records carry real ms timestamps up to 4070880000000. We accept up to
  that record bound and send the value as given; we never clamp silently.
* ``scan_status`` and ``local_image_type`` are checked against their listed values: a typo would
  otherwise match nothing and report a clean fleet.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from msgspec import Struct, structs

from imagewatch.hss.errors import InvalidQueryError

MAX_OFFSET = 2_000_000
MAX_LIMIT = 200
MIN_LIMIT = 10
MAX_TIMESTAMP_MS = 4_070_880_000_000
SCAN_STATUSES = ("unscan", "success", "scanning", "failed", "waiting_for_scan")
LOCAL_IMAGE_TYPES = ("other_image", "swr_image")

Kind = Literal["str", "int", "bool"]


class ParamSpec(Struct, frozen=True):
    """How one query parameter is typed and bounded."""

    name: str
    kind: Kind
    low: int | None = None  # min length for strings, min value for ints
    high: int | None = None  # max length for strings, max value for ints
    choices: tuple[str, ...] = ()

    def expected(self) -> str:
        if self.kind == "bool":
            return "a boolean (true/false)"
        if self.choices:
            return "one of " + ", ".join(self.choices)
        if self.kind == "str":
            return f"a string of length {self.low}..{self.high}"
        return f"an integer in {self.low}..{self.high}"

    def check(self, value: object) -> None:
        """Raise InvalidQueryError unless ``value`` fits this parameter."""
        if self.kind == "bool":
            ok = isinstance(value, bool)
        elif self.kind == "int":
            ok = isinstance(value, int) and not isinstance(value, bool) and self.low <= value <= self.high
        elif self.choices:
            ok = value in self.choices
        else:
            ok = isinstance(value, str) and self.low <= len(value) <= self.high
        if not ok:
            expected = self.expected()
            if self.name == "scan_status" and value == "waiting":
                expected += " (records say 'waiting', the query says 'waiting_for_scan')"
            raise InvalidQueryError(self.name, value, expected)


def _s(name: str, low: int, high: int) -> ParamSpec:
    return ParamSpec(name, "str", low, high)


def _i(name: str, low: int, high: int) -> ParamSpec:
    return ParamSpec(name, "int", low, high)


PARAM_SPECS: dict[str, ParamSpec] = {
    spec.name: spec
    for spec in (
        _s("enterprise_project_id", 1, 256),
        _s("image_name", 1, 128),
        _s("image_version", 1, 64),
        _i("offset", 0, MAX_OFFSET),
        _i("limit", MIN_LIMIT, MAX_LIMIT),
        ParamSpec("scan_status", "str", 0, 32, SCAN_STATUSES),
        ParamSpec("local_image_type", "str", 0, 64, LOCAL_IMAGE_TYPES),
        _i("image_size", 0, 2_147_483_547),
        _i("start_latest_update_time", 0, MAX_TIMESTAMP_MS),
        _i("end_latest_update_time", 0, MAX_TIMESTAMP_MS),
        _i("start_latest_scan_time", 0, MAX_TIMESTAMP_MS),
        _i("end_latest_scan_time", 0, MAX_TIMESTAMP_MS),
        ParamSpec("has_vul", "bool"),
        ParamSpec("has_container", "bool"),
        _s("host_name", 0, 128),
        _s("host_id", 0, 128),
        _s("host_ip", 0, 128),
        _s("container_id", 0, 128),
        _s("container_name", 0, 128),
        _s("pod_id", 0, 128),
        _s("pod_name", 0, 128),
        _s("app_name", 0, 128),
    )
}

# Parameters a policy's ``select`` may push down: paging belongs to the client.
FILTER_PARAMS = tuple(name for name in PARAM_SPECS if name not in ("offset", "limit"))


class ImageQuery(Struct, frozen=True):
    """The filters of one ListImageLocal listing; unset (None) parameters are not sent.

    Frozen and hashable, so policies with equal filters share one paged fetch.
    """

    enterprise_project_id: str | None = None
    image_name: str | None = None
    image_version: str | None = None
    offset: int | None = None
    limit: int | None = None
    scan_status: str | None = None
    local_image_type: str | None = None
    image_size: int | None = None
    start_latest_update_time: int | None = None
    end_latest_update_time: int | None = None
    start_latest_scan_time: int | None = None
    end_latest_scan_time: int | None = None
    has_vul: bool | None = None
    has_container: bool | None = None
    host_name: str | None = None
    host_id: str | None = None
    host_ip: str | None = None
    container_id: str | None = None
    container_name: str | None = None
    pod_id: str | None = None
    pod_name: str | None = None
    app_name: str | None = None

    def __post_init__(self) -> None:
        for name, spec in PARAM_SPECS.items():
            value = getattr(self, name)
            if value is not None:
                spec.check(value)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> ImageQuery:
        """Build from a JSON object (a policy's ``select``); unknown names are an error."""
        for name in values:
            if name not in PARAM_SPECS:
                raise InvalidQueryError(name, values[name], "a ListImageLocal query parameter")
        return cls(**dict(values))

    def filters(self) -> dict[str, object]:
        """The set parameters other than paging, as a plain dict (for reports and plan keys)."""
        return {name: getattr(self, name) for name in FILTER_PARAMS if getattr(self, name) is not None}

    def page(self, offset: int, limit: int = MAX_LIMIT) -> ImageQuery:
        """This query at another page (bounds are checked again)."""
        return structs.replace(self, offset=offset, limit=limit)

    def to_params(self) -> list[tuple[str, str]]:
        """The query string pairs, sorted by name as the SDK sends them; booleans as true/false."""
        pairs: list[tuple[str, str]] = []
        for name in sorted(PARAM_SPECS):
            value = getattr(self, name)
            if value is None:
                continue
            pairs.append((name, ("true" if value else "false") if isinstance(value, bool) else str(value)))
        return pairs

    def describe(self) -> str:
        """A short human label such as ``has_vul=true scan_status=success`` (or ``all images``)."""
        pairs = [(k, v) for k, v in self.to_params() if k not in ("offset", "limit")]
        return " ".join(f"{k}={v}" for k, v in pairs) or "all images"
