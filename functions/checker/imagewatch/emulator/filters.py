"""ListImageLocal query parameters → a typed ``ImageFilter``, and what each filter means.

Bounds come from ``imagewatch.hss.query.PARAM_SPECS`` (the client's own table), so the emulator and
the client can never disagree on what is valid. The semantics of each filter are documented, with the
reason for each choice, in docs/emulator.md; in short:

* names (image, host, container, pod, app) match as substrings; ids and IPs match exactly;
* time windows are inclusive;
* ``enterprise_project_id`` defaults to "0" (the default project); ``all_granted_eps`` means all.

Where the API page is silent and the SDK's newer docstrings speak, the two readings are a
``Semantics`` switch (``DOC``: the emulator's first reading; ``SDK``: the docstrings), so tests run a
client under both: case of fuzzy names, ``image_size`` exact or a lower bound, ``image_version`` alone,
``has_vul``/scan window only for scanned images, one-sided windows, and enum values outside the list.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from imagewatch.emulator.entries import DEFAULT_ENTERPRISE_PROJECT, Relations
from imagewatch.hss.errors import InvalidQueryError
from imagewatch.hss.query import MIN_LIMIT, PARAM_SPECS

ALL_ENTERPRISE_PROJECTS = "all_granted_eps"
DEFAULT_LIMIT = MIN_LIMIT  # 10, as documented
_INTEGER = re.compile(r"^[+-]?[0-9]+$")


class QueryError(ValueError):
    """A query parameter the emulator refuses (HTTP 400, HSS.0001); the message names all three parts."""

    def __init__(self, parameter: str, value: object, expected: str) -> None:
        self.parameter = parameter
        super().__init__(f"invalid parameter {parameter!r}: got {value!r}, expected {expected}")


@dataclass(frozen=True, slots=True)
class Semantics:
    """How the filters the API page leaves unexplained behave (docs/emulator.md, "Where the sources
    disagree"). Each field is one disputed point; ``DOC`` and ``SDK`` are the two readings."""

    name: str = "sdk"
    case_sensitive_names: bool = True  # image_name, host_name, container/pod/app names
    exact_image_size: bool = True  # else: image_size is a lower bound
    version_needs_name: bool = True  # image_version is ignored without image_name
    scanned_only: bool = True  # has_vul and the scan window select only scan_status=success records
    window_needs_both_ends: bool = True  # else one side may be open; SDK: start < end or no filter
    enum_outside_list_is_empty: bool = True  # else: 400 HSS.0001


SDK = Semantics()
DOC = Semantics(
    name="doc",
    case_sensitive_names=False,
    exact_image_size=False,
    version_needs_name=False,
    scanned_only=False,
    window_needs_both_ends=False,
    enum_outside_list_is_empty=False,
)
SEMANTICS = {"sdk": SDK, "doc": DOC}
DEFAULT_SEMANTICS = DOC  # what the existing filter tests state; SDK is the truer reading (docs)
_ENUMS = ("scan_status", "local_image_type")


@dataclass(frozen=True, slots=True)
class ImageFilter:
    """Every ListImageLocal filter; ``None`` (or "") is "not filtered". Hashable: the listing cache key."""

    enterprise_project_id: str | None = DEFAULT_ENTERPRISE_PROJECT  # None = all projects
    image_name: str | None = None
    image_version: str | None = None
    scan_status: str | None = None  # as records say it: "waiting", not "waiting_for_scan"
    local_image_type: str | None = None
    min_image_size: int = 0
    update_window: tuple[int, int] = (0, 0)  # (start, end) ms, inclusive, 0 = open
    scan_window: tuple[int, int] = (0, 0)
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
    semantics: Semantics = DEFAULT_SEMANTICS
    nothing: bool = False  # an enum value outside its list, under "empty result" semantics

    @property
    def only_enterprise_project(self) -> bool:
        """True when nothing but the enterprise project narrows the listing."""
        return self == ImageFilter(enterprise_project_id=self.enterprise_project_id, semantics=self.semantics)

    def matches(self, record: Mapping[str, Any], relations: Callable[[], Relations]) -> bool:
        """Whether ``record`` is listed; ``relations`` is called only if a hidden relation is needed."""
        return self._matches_record(record) and self._matches_relations(relations)

    def _contains(self, value: object, needle: str | None) -> bool:
        return _contains(value, needle, case_sensitive=self.semantics.case_sensitive_names)

    def _window(self, window: tuple[int, int]) -> tuple[int, int]:
        """The window as applied: under SDK semantics one missing side, or start >= end, is no filter."""
        start, end = window
        if self.semantics.window_needs_both_ends and not (start and end and start < end):
            return (0, 0)
        return window

    def _matches_record(self, record: Mapping[str, Any]) -> bool:
        sem = self.semantics
        if self.nothing:
            return False
        if not self._contains(record.get("image_name"), self.image_name):
            return False
        version_applies = not sem.version_needs_name or bool(self.image_name)
        if version_applies and not self._contains(record.get("image_version"), self.image_version):
            return False
        if self.scan_status and record.get("scan_status") != self.scan_status:
            return False
        if self.local_image_type and record.get("local_image_type") != self.local_image_type:
            return False
        if self.min_image_size:
            size = _int(record.get("image_size"))
            fits = (
                size == self.min_image_size if sem.exact_image_size else _at_least(size, self.min_image_size)
            )
            if not fits:
                return False
        if not _within(record.get("latest_update_time"), self._window(self.update_window)):
            return False
        scan_window = self._window(self.scan_window)
        scanned = record.get("scan_status") == "success"
        if scan_window != (0, 0) and sem.scanned_only and not scanned:
            return False
        if not _within(record.get("latest_scan_time"), scan_window):
            return False
        if self.has_vul is not None:
            if sem.scanned_only and not scanned:
                return False
            if _positive(record.get("vul_num")) != self.has_vul:
                return False
        if self.has_container is not None and _positive(record.get("container_num")) != self.has_container:
            return False
        if not self._contains(record.get("host_name"), self.host_name):
            return False
        return not self.host_id or record.get("host_id") == self.host_id

    def _matches_relations(self, relations: Callable[[], Relations]) -> bool:
        needs = (
            self.enterprise_project_id,
            self.host_ip,
            self.container_id,
            self.container_name,
            self.pod_id,
            self.pod_name,
            self.app_name,
        )
        if not any(needs):
            return True
        rel = relations()
        if self.enterprise_project_id is not None and rel.enterprise_project_id != self.enterprise_project_id:
            return False
        if self.host_ip and self.host_ip not in rel.host_ips:
            return False
        if self.container_id and all(cid != self.container_id for cid, _ in rel.containers):
            return False
        if self.container_name and not any(
            self._contains(name, self.container_name) for _, name in rel.containers
        ):
            return False
        if self.pod_id and all(pid != self.pod_id for pid, _ in rel.pods):
            return False
        if self.pod_name and not any(self._contains(name, self.pod_name) for _, name in rel.pods):
            return False
        return not self.app_name or any(self._contains(app, self.app_name) for app in rel.apps)


def _contains(value: object, needle: str | None, *, case_sensitive: bool) -> bool:
    if not needle:
        return True
    if not isinstance(value, str):
        return False
    return needle in value if case_sensitive else needle.casefold() in value.casefold()


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _positive(value: object) -> bool:
    number = _int(value)
    return number is not None and number > 0


def _at_least(value: object, low: int) -> bool:
    number = _int(value)
    return number is not None and number >= low


def _within(value: object, window: tuple[int, int]) -> bool:
    start, end = window
    if not start and not end:
        return True
    number = _int(value)
    if number is None:
        return False
    return (not start or number >= start) and (not end or number <= end)


@dataclass(frozen=True, slots=True)
class ListRequest:
    """A parsed ListImageLocal query: what to list and which page."""

    filter: ImageFilter
    offset: int = 0
    limit: int = DEFAULT_LIMIT
    ignored: tuple[str, ...] = ()  # unknown parameter names, ignored like the real gateway does


def _typed(name: str, raw: str) -> object:
    """The raw query value as the type PARAM_SPECS expects; malformed values are a QueryError."""
    spec = PARAM_SPECS[name]
    if spec.kind == "int":
        if not _INTEGER.match(raw):
            raise QueryError(name, raw, spec.expected())
        return int(raw)
    if spec.kind == "bool":
        if raw.lower() not in ("true", "false"):
            raise QueryError(name, raw, spec.expected())
        return raw.lower() == "true"
    return raw


def parse_query(pairs: Iterable[tuple[str, str]], semantics: Semantics = DEFAULT_SEMANTICS) -> ListRequest:
    """Check every known parameter against PARAM_SPECS and build the request; unknown names are ignored.

    Under ``enum_outside_list_is_empty`` a ``scan_status``/``local_image_type`` outside its list (but
    within its length bound) lists nothing instead of being refused."""
    values: dict[str, object] = {}
    ignored: list[str] = []
    nothing = False
    for name, raw in pairs:
        if name not in PARAM_SPECS:
            ignored.append(name)
            continue
        if name in values:
            raise QueryError(name, raw, "the parameter at most once")
        value = _typed(name, raw)
        try:
            PARAM_SPECS[name].check(value)
        except InvalidQueryError as exc:
            if not (semantics.enum_outside_list_is_empty and name in _ENUMS and _within_length(name, value)):
                raise QueryError(exc.parameter, exc.value, exc.expected) from None
            nothing = True
        values[name] = value
    offset = cast(int, values.get("offset", 0))
    limit = cast(int, values.get("limit", DEFAULT_LIMIT))
    return ListRequest(_build_filter(values, semantics, nothing=nothing), offset, limit, tuple(ignored))


def _within_length(name: str, value: object) -> bool:
    """An enum value that is only outside its list, not outside the page's length bound."""
    return isinstance(value, str) and len(value) <= (32 if name == "scan_status" else 64)


def _build_filter(
    values: Mapping[str, Any], semantics: Semantics = DEFAULT_SEMANTICS, *, nothing: bool = False
) -> ImageFilter:
    ep = values.get("enterprise_project_id", DEFAULT_ENTERPRISE_PROJECT)
    status = values.get("scan_status")
    return ImageFilter(
        enterprise_project_id=None if ep == ALL_ENTERPRISE_PROJECTS else ep,
        image_name=values.get("image_name"),
        image_version=values.get("image_version"),
        scan_status="waiting" if status == "waiting_for_scan" else status,
        local_image_type=values.get("local_image_type"),
        min_image_size=values.get("image_size", 0),
        update_window=(values.get("start_latest_update_time", 0), values.get("end_latest_update_time", 0)),
        scan_window=(values.get("start_latest_scan_time", 0), values.get("end_latest_scan_time", 0)),
        has_vul=values.get("has_vul"),
        has_container=values.get("has_container"),
        host_name=values.get("host_name") or None,
        host_id=values.get("host_id") or None,
        host_ip=values.get("host_ip") or None,
        container_id=values.get("container_id") or None,
        container_name=values.get("container_name") or None,
        pod_id=values.get("pod_id") or None,
        pod_name=values.get("pod_name") or None,
        app_name=values.get("app_name") or None,
        semantics=semantics,
        nothing=nothing,
    )


def filter_from_params(params: Mapping[str, object], semantics: Semantics = DEFAULT_SEMANTICS) -> ImageFilter:
    """The filter for typed parameters, e.g. ``{"has_vul": True}`` (for tests comparing listings)."""
    pairs = [(k, ("true" if v else "false") if isinstance(v, bool) else str(v)) for k, v in params.items()]
    return parse_query(pairs, semantics).filter
