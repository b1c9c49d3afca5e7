"""One fleet entry: the ImageLocalInfo record HSS shows, plus the hidden relations it filters on.

HSS filters ListImageLocal by host IP, container, pod, app and enterprise project, none of which are
fields of the record it returns. An ``Entry`` keeps those relations beside the record so the emulator
can apply every filter. A ``Source`` is a read-only, indexable run of entries: a list loaded from JSON
(``ListSource``) or the synthetic generator (``emulator.synthetic``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from imagewatch.hss.model import Image

DEFAULT_ENTERPRISE_PROJECT = "0"
RELATIONS_KEY = "_emulator"  # key of the hidden relations inside a record of a fleet file


@dataclass(frozen=True, slots=True)
class Relations:
    """What an image record is related to but does not show: used only for filtering."""

    enterprise_project_id: str = DEFAULT_ENTERPRISE_PROJECT
    host_ips: tuple[str, ...] = ()
    containers: tuple[tuple[str, str], ...] = ()  # (container_id, container_name)
    pods: tuple[tuple[str, str], ...] = ()  # (pod_id, pod_name)
    apps: tuple[str, ...] = ()  # software inside the image

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str) -> Relations:
        """Read the ``_emulator`` object of a fleet file record; ``where`` names it in errors."""
        known = {"enterprise_project_id", "host_ips", "containers", "pods", "apps"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{where}: unknown relation keys {unknown}, expected some of {sorted(known)}")

        def pairs(name: str) -> tuple[tuple[str, str], ...]:
            items = data.get(name, [])
            try:
                return tuple((str(item["id"]), str(item["name"])) for item in items)
            except (TypeError, KeyError):
                raise ValueError(f"{where}.{name}: expected a list of {{'id': ..., 'name': ...}}") from None

        return cls(
            enterprise_project_id=str(data.get("enterprise_project_id", DEFAULT_ENTERPRISE_PROJECT)),
            host_ips=tuple(str(ip) for ip in data.get("host_ips", [])),
            containers=pairs("containers"),
            pods=pairs("pods"),
            apps=tuple(str(app) for app in data.get("apps", [])),
        )

    def to_json(self) -> dict[str, Any]:
        """The ``_emulator`` object for a fleet file (inverse of ``from_json``)."""
        return {
            "enterprise_project_id": self.enterprise_project_id,
            "host_ips": list(self.host_ips),
            "containers": [{"id": cid, "name": name} for cid, name in self.containers],
            "pods": [{"id": pid, "name": name} for pid, name in self.pods],
            "apps": list(self.apps),
        }


@dataclass(frozen=True, slots=True)
class Entry:
    """A served record (kept as given, even when deliberately malformed) and its relations."""

    record: Mapping[str, Any]
    relations: Relations = field(default_factory=Relations)

    @property
    def identity(self) -> str:
        """The key our client de-duplicates on: ``imagewatch.hss.model.Image.identity``."""
        return identity_of(self.record)


def identity_of(record: Mapping[str, Any]) -> str:
    """``Image.identity`` of a raw record, without type-checking it (fleets may hold broken records)."""
    return Image(
        image_id=record.get("image_id"),
        image_digest=record.get("image_digest"),
        image_name=record.get("image_name"),
        image_version=record.get("image_version"),
        host_id=record.get("host_id"),
    ).identity


class Source(Protocol):
    """An immutable, indexable run of entries."""

    def __len__(self) -> int: ...

    def entry(self, index: int) -> Entry:
        """The entry at ``index`` (0 ≤ index < len)."""
        ...

    def record(self, index: int) -> dict[str, Any]:
        """A fresh copy of the record at ``index`` (cheaper than ``entry`` when relations are not needed)."""
        ...

    def relations(self, index: int) -> Relations:
        """The hidden relations of the record at ``index``."""
        ...

    def candidates(self, enterprise_project_id: str | None) -> tuple[Sequence[int], bool]:
        """Indices that may belong to the enterprise project (None = all) and whether that is exact."""
        ...


class ListSource:
    """Entries held in a list: a fleet loaded from a file or built from records in a test."""

    def __init__(self, entries: Iterable[Entry]) -> None:
        self._entries = list(entries)
        check_unique(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def entry(self, index: int) -> Entry:
        return self._entries[index]

    def record(self, index: int) -> dict[str, Any]:
        return dict(self._entries[index].record)

    def relations(self, index: int) -> Relations:
        return self._entries[index].relations

    def candidates(self, enterprise_project_id: str | None) -> tuple[Sequence[int], bool]:
        return range(len(self._entries)), enterprise_project_id is None


def check_unique(entries: Iterable[Entry]) -> None:
    """Refuse two records with the same identity: our client would treat them as one."""
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries):
        key = entry.identity
        if key in seen:
            raise ValueError(
                f"fleet records {seen[key]} and {index} share the identity {key!r} (image_id@host_id); "
                "each (image_id, host_id) must be unique"
            )
        seen[key] = index


def entry_from_json(item: object, index: int) -> Entry:
    """One fleet file item: a record object, optionally with its relations under ``_emulator``."""
    if not isinstance(item, Mapping):
        raise ValueError(f"fleet record {index}: expected a JSON object, got {type(item).__name__}")
    record = {key: value for key, value in item.items() if key != RELATIONS_KEY}
    hidden = item.get(RELATIONS_KEY, {})
    if not isinstance(hidden, Mapping):
        raise ValueError(f"fleet record {index}.{RELATIONS_KEY}: expected a JSON object")
    return Entry(record, Relations.from_json(hidden, f"fleet record {index}.{RELATIONS_KEY}"))


def load_entries(path: str | Path) -> list[Entry]:
    """Read a fleet file: a JSON list of records, or an object with a ``data_list`` list."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"fleet file {path}: cannot read it as JSON ({exc})") from None
    if isinstance(data, Mapping):
        data = data.get("data_list")
    if not isinstance(data, list):
        raise ValueError(f"fleet file {path}: expected a JSON list of records or an object with 'data_list'")
    return [entry_from_json(item, index) for index, item in enumerate(data)]
