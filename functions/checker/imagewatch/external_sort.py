"""Sorting more records than should be held: sorted runs spilled to temporary files, merged lazily.

``ExternalSort(LedgerEntry, key)`` takes records one at a time (``add``); every ``run_size`` of them are
sorted in memory and written to an anonymous temporary file as JSON lines (msgspec: the type comes
back exactly). Iterating merges the runs with ``heapq.merge``, one record per run in memory. A listing
as small as one run never touches the disk. Memory is ``run_size`` records, whatever the total.
"""

from __future__ import annotations

import heapq
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import IO, Any, Generic, TypeVar

import msgspec

T = TypeVar("T")
RUN_SIZE = 10_000


class ExternalSort(Generic[T]):
    """Add records, then iterate them in ``key`` order (once). Close it, or use it as a context."""

    def __init__(self, kind: type[T], key: Callable[[T], Any], *, run_size: int = RUN_SIZE) -> None:
        if run_size < 1:
            raise ValueError(f"run_size must be positive, not {run_size}")
        self.key = key
        self.run_size = run_size
        self.count = 0
        self._encode = msgspec.json.Encoder().encode
        self._decode = msgspec.json.Decoder(kind).decode
        self._buffer: list[T] = []
        self._runs: list[IO[bytes]] = []
        self._files = ExitStack()

    def add(self, item: T) -> None:
        self._buffer.append(item)
        self.count += 1
        if len(self._buffer) >= self.run_size:
            self._spill()

    def _spill(self) -> None:
        self._buffer.sort(key=self.key)
        run = self._files.enter_context(tempfile.TemporaryFile())  # noqa: SIM115 - closed by close()
        for item in self._buffer:
            run.write(self._encode(item) + b"\n")  # JSON escapes newlines inside strings
        run.seek(0)
        self._runs.append(run)
        self._buffer = []

    def __iter__(self) -> Iterator[T]:
        if not self._runs:
            self._buffer.sort(key=self.key)
            yield from self._buffer
            return
        if self._buffer:
            self._spill()
        yield from heapq.merge(*(self._read(run) for run in self._runs), key=self.key)

    def _read(self, run: IO[bytes]) -> Iterator[T]:
        for line in run:
            yield self._decode(line)

    def close(self) -> None:
        self._buffer = []
        self._files.close()

    def __enter__(self) -> ExternalSort[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
