"""The emulator's inventory: an immutable ``Source`` of entries, plus the changes tests make to it.

Order as served: entries inserted at the front (newest first), then the source's entries not deleted
(updated ones in place), then entries appended at the back. A filtered listing keeps, per distinct
filter, an ``array('I')`` of the matching source indices (4 bytes each), so paging a big fleet
generates only the records of the page asked for. Updates patch those arrays in place; deletions are
applied on top of them.

Thread-safe: the server answers requests concurrently while a test mutates the fleet.
"""

from __future__ import annotations

import json
import threading
import uuid
from array import array
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from imagewatch.emulator.entries import (
    RELATIONS_KEY,
    Entry,
    ListSource,
    Relations,
    Source,
    check_unique,
    entry_from_json,
    identity_of,
    load_entries,
)
from imagewatch.emulator.filters import ImageFilter, filter_from_params
from imagewatch.emulator.synthetic import DEFAULT_EP_CYCLE, SyntheticSource, seeded

CACHED_FILTERS = 64
DEFAULT_FLEET_SIZE = 3000
_IDENTITY_CHECK_LIMIT = 100_000  # inserts check identity clashes against sources up to this size

FilterLike = ImageFilter | Mapping[str, object] | None
_Ref = int | Entry  # a source index, or an entry held by the fleet itself


def default_now_ms() -> int:
    """Midnight UTC today, in ms: "now" for a synthetic fleet, stable for a whole day of runs."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return int(today.timestamp()) * 1000


def as_filter(selection: FilterLike) -> ImageFilter:
    """An ``ImageFilter`` from a filter, typed query parameters (``{"has_vul": True}``), or None (all)."""
    if selection is None:
        return ImageFilter(enterprise_project_id=None)
    if isinstance(selection, ImageFilter):
        return selection
    return filter_from_params(selection)


class Fleet:
    """The records the emulator serves, with the mutations tests and faults apply."""

    def __init__(self, source: Source, *, now_ms: int | None = None) -> None:
        self.source = source
        self.now_ms = now_ms
        self._lock = threading.RLock()
        self._head: list[Entry] = []
        self._tail: list[Entry] = []
        self._deleted: set[int] = set()
        self._overrides: dict[int, Entry] = {}
        self._matching: OrderedDict[ImageFilter, array[int]] = OrderedDict()
        self._visible: dict[ImageFilter, array[int]] = {}
        self._clones = 0

    # -- construction ----------------------------------------------------------------------------

    @classmethod
    def synthetic(
        cls,
        size: int = DEFAULT_FLEET_SIZE,
        seed: int = 0,
        *,
        now_ms: int | None = None,
        enterprise_projects: Sequence[str] = DEFAULT_EP_CYCLE,
    ) -> Fleet:
        """``size`` records generated on the fly from ``seed`` (same seed and now → same records)."""
        now = default_now_ms() if now_ms is None else now_ms
        return cls(SyntheticSource(size, seed, now, enterprise_projects), now_ms=now)

    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, Any] | Entry]) -> Fleet:
        """A fleet of given records (a record may carry its relations under ``_emulator``)."""
        entries = [
            item if isinstance(item, Entry) else entry_from_json(item, index)
            for index, item in enumerate(records)
        ]
        return cls(ListSource(entries))

    @classmethod
    def load(cls, path: str | Path) -> Fleet:
        """A fleet file: a JSON list of records, or ``{"data_list": [...]}``."""
        return cls(ListSource(load_entries(path)))

    def dump(self, path: str | Path, selection: FilterLike = None) -> int:
        """Write the (filtered) fleet as a fleet file with relations; returns the record count."""
        items = [
            {**entry.record, RELATIONS_KEY: entry.relations.to_json()} for entry in self.entries(selection)
        ]
        Path(path).write_text(json.dumps(items, indent=1), encoding="utf-8")
        return len(items)

    # -- reading ---------------------------------------------------------------------------------

    def __len__(self) -> int:
        with self._lock:
            return len(self._head) + len(self.source) - len(self._deleted) + len(self._tail)

    def page(self, selection: FilterLike, offset: int, limit: int) -> tuple[int, list[dict[str, Any]]]:
        """(total_num, records) of one page of a filtered listing; records are fresh dicts."""
        chosen = as_filter(selection)
        with self._lock:
            head, base, tail = self._parts(chosen)
            total = len(head) + len(base) + len(tail)
            refs: list[_Ref] = []
            end = min(total, offset + limit)
            for position in range(offset, end):
                if position < len(head):
                    refs.append(head[position])
                elif position < len(head) + len(base):
                    index = base[position - len(head)]
                    refs.append(self._overrides.get(index, index))
                else:
                    refs.append(tail[position - len(head) - len(base)])
        return total, [self._record(ref) for ref in refs]  # generated outside the lock

    def total(self, selection: FilterLike = None) -> int:
        """How many records a listing with this filter holds."""
        return self.page(selection, 0, 0)[0]

    def entries(self, selection: FilterLike = None) -> Iterator[Entry]:
        """Every entry of a filtered listing, in served order (a snapshot taken when called)."""
        chosen = as_filter(selection)
        with self._lock:
            head, base, tail = self._parts(chosen)
            refs: list[_Ref] = [*head, *(self._overrides.get(i, i) for i in base), *tail]
        for ref in refs:
            yield ref if isinstance(ref, Entry) else self.source.entry(ref)

    def listing(self, selection: FilterLike = None) -> list[dict[str, Any]]:
        """All records a filtered listing holds, in served order: what a correct pager must receive."""
        return [dict(entry.record) for entry in self.entries(selection)]

    def find(self, identity: str) -> Entry | None:
        """The entry with this identity (``image_id@host_id``), or None. Scans big sources: tests only."""
        with self._lock:
            where = self._locate(identity)
            if where is None:
                return None
            kind, key = where
            if kind == "source":
                return self._overrides.get(key) or self.source.entry(key)
            return (self._head if kind == "head" else self._tail)[key]

    # -- mutations -------------------------------------------------------------------------------

    def insert(self, records: Iterable[Mapping[str, Any] | Entry], *, front: bool = True) -> list[str]:
        """Add records at the front (default; shifts every offset) or the back; returns their identities."""
        new = [
            item if isinstance(item, Entry) else entry_from_json(item, n) for n, item in enumerate(records)
        ]
        return self._insert(new, front=front, check=True)

    def _insert(self, new: list[Entry], *, front: bool, check: bool) -> list[str]:
        with self._lock:
            if check:
                identities = [entry.identity for entry in new]
                check_unique(new)
                scan = len(self.source) <= _IDENTITY_CHECK_LIMIT
                clashes = self._locate_all(set(identities), scan_source=scan)
                if clashes:
                    raise ValueError(f"fleet already holds a record with identity {sorted(clashes)[0]!r}")
            if front:
                self._head[:0] = new
            else:
                self._tail.extend(new)
            return [entry.identity for entry in new]

    def delete(self, identities: Iterable[str]) -> int:
        """Remove records by identity; returns how many were found and removed."""
        with self._lock:
            found = self._locate_all(set(identities))
            sources = {key for kind, key in found.values() if kind == "source"}
            for kind, entries in (("head", self._head), ("tail", self._tail)):
                doomed = {key for where, key in found.values() if where == kind}
                entries[:] = [entry for position, entry in enumerate(entries) if position not in doomed]
            if sources:
                self._deleted |= sources
                for key in sources:
                    self._overrides.pop(key, None)
                self._visible.clear()
            return len(found)

    def delete_front(self, count: int, selection: FilterLike = None) -> list[str]:
        """Remove the first ``count`` records of a filtered listing; returns their identities."""
        with self._lock:
            doomed = [entry.identity for _, entry in zip(range(count), self.entries(selection), strict=False)]
            self.delete(doomed)
            return doomed

    def clone_front(self, count: int, selection: FilterLike = None) -> list[str]:
        """Insert, at the front, copies of the first ``count`` records of a filtered listing under new
        image ids: they match the same filter, so that listing's offsets shift by ``count``."""
        with self._lock:
            originals = [entry for _, entry in zip(range(count), self.entries(selection), strict=False)]
            clones = []
            for entry in originals:
                self._clones += 1
                rng = seeded("clone", self._clones)
                record = dict(entry.record)
                record["image_id"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
                record["image_digest"] = f"sha256:{rng.getrandbits(256):064x}"
                clones.append(Entry(record, entry.relations))
            return self._insert(clones, front=True, check=False)  # fresh random ids: no clash to look for

    def update(self, identity: str, **fields: Any) -> Entry:
        """Change fields of one record in place (relations stay); the identity may not change."""
        with self._lock:
            where = self._locate(identity)
            if where is None:
                raise KeyError(f"no record with identity {identity!r} in the fleet")
            kind, key = where
            old = self.find(identity)
            assert old is not None
            entry = Entry({**old.record, **fields}, old.relations)
            if entry.identity != identity:
                raise ValueError(f"update would change the identity {identity!r} to {entry.identity!r}")
            if kind == "source":
                self._overrides[key] = entry
                self._patch_indexes(key, entry)
            else:
                (self._head if kind == "head" else self._tail)[key] = entry
            return entry

    # -- internals -------------------------------------------------------------------------------

    def _record(self, ref: _Ref) -> dict[str, Any]:
        return dict(ref.record) if isinstance(ref, Entry) else self.source.record(ref)

    def _relations(self, index: int) -> Relations:
        override = self._overrides.get(index)
        return override.relations if override else self.source.relations(index)

    def _source_matches(self, chosen: ImageFilter, index: int) -> bool:
        override = self._overrides.get(index)
        if override is not None:
            return chosen.matches(override.record, lambda: override.relations)
        return chosen.matches(self.source.record(index), lambda: self._relations(index))

    def _parts(self, chosen: ImageFilter) -> tuple[list[Entry], Sequence[int], list[Entry]]:
        head = [e for e in self._head if chosen.matches(e.record, lambda e=e: e.relations)]
        tail = [e for e in self._tail if chosen.matches(e.record, lambda e=e: e.relations)]
        return head, self._base(chosen), tail

    def _base(self, chosen: ImageFilter) -> Sequence[int]:
        """Ascending source indices the filter lists, deletions applied."""
        candidates, exact = self.source.candidates(chosen.enterprise_project_id)
        if exact and chosen.only_enterprise_project:
            matching: Sequence[int] = candidates
        else:
            cached = self._matching.get(chosen)
            if cached is None:
                cached = array("I", (i for i in candidates if self._source_matches(chosen, i)))
                self._matching[chosen] = cached
                while len(self._matching) > CACHED_FILTERS:
                    dropped, _ = self._matching.popitem(last=False)
                    self._visible.pop(dropped, None)
            self._matching.move_to_end(chosen)
            matching = cached
        if not self._deleted:
            return matching
        visible = self._visible.get(chosen)
        if visible is None:
            visible = array("I", (i for i in matching if i not in self._deleted))
            self._visible[chosen] = visible
        return visible

    def _patch_indexes(self, index: int, entry: Entry) -> None:
        """Keep cached filter arrays right after one source record changed."""
        for chosen, indices in self._matching.items():
            position = bisect_left(indices, index)
            present = position < len(indices) and indices[position] == index
            wanted = chosen.matches(entry.record, lambda: entry.relations)
            if wanted and not present:
                indices.insert(position, index)
            elif present and not wanted:
                del indices[position]
        self._visible.clear()

    def _locate(self, identity: str) -> tuple[str, int] | None:
        return self._locate_all({identity}).get(identity)

    def _locate_all(self, identities: set[str], *, scan_source: bool = True) -> dict[str, tuple[str, int]]:
        """Where each identity is held: ("head"|"tail", position) or ("source", index). One pass."""
        found: dict[str, tuple[str, int]] = {}
        for kind, entries in (("head", self._head), ("tail", self._tail)):
            for position, entry in enumerate(entries):
                if entry.identity in identities:
                    found[entry.identity] = (kind, position)
        if not scan_source:
            return found
        for index in range(len(self.source)):
            if len(found) == len(identities):
                break
            if index in self._deleted:
                continue
            override = self._overrides.get(index)
            identity = identity_of(override.record if override else self.source.record(index))
            if identity in identities and identity not in found:
                found[identity] = ("source", index)
        return found
