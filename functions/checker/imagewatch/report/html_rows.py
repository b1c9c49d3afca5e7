"""The HTML report's table rows, spilled as the merge reports them, and the few counts its charts need.

The merge hands every violation (``add``) and every entry it resolved (``add_resolved``) over once,
query by query, each query's in fingerprint order. Each becomes one compact JSON array, written in
batches to an anonymous temporary file per severity (resolved entries in a sixth)
(``tempfile.TemporaryFile``: on Linux it never has a name, so not even a killed run leaves it behind);
only counts per policy and severity and the ``WorstImages`` tally stay in memory. ``blocks`` reads the
files back, critical first and resolved last, as the bytes of one JSON array, already escaped for an
HTML ``<script>`` block.

The table holds at most ``max_rows`` rows (``MAX_ROWS``), the worst ones: the page stays quick to
open and a browser's memory bounded whatever the fleet (the CSV has every row, and the counts and
charts cover every row too). A batch no room is left for (the worse severities fill the cap) is
dropped instead of written, and lines of a less severe file that worse rows have made useless are cut
off it (``_trim``), so the temporary files hold about the cap, not the run.

A row, in ``COLUMNS`` order: ``[severity rank, policy index, label, hosts, first seen (s), due (s) or
null, status index, message, overdue 0/1]``. Indexes into ``SEVERITIES``, ``policies`` and
``STATUSES`` keep the repeated words out of the 100,000 rows.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable, Iterator
from typing import IO, TYPE_CHECKING

import msgspec

from imagewatch.report.worst_images import WorstImages
from imagewatch.violation import SEVERITIES, SEVERITY_ORDER, Violation

if TYPE_CHECKING:
    from imagewatch.alerts.ledger import LedgerEntry

COLUMNS = ("severity", "policy", "label", "hosts", "first_seen", "due", "status", "message", "overdue")
STATUSES = ("new", "open", "resolved", "exempted")
BATCH = 1_000  # rows encoded and written at once (a line of a spill file)
READ_BYTES = 256 * 1024  # what ``blocks`` reads at a time
# Rows the table holds at most, the worst: 200,000 rows are a page of about 37 MB that opens in about
# 2 s and costs Chromium about 0.4 GB (docs/report.md, "A table of 100,000 rows").
MAX_ROWS = 200_000
RESOLVED = len(SEVERITIES)  # the resolved entries' stream, after every severity's

_encode = msgspec.json.Encoder().encode
_rank = SEVERITY_ORDER.get
# What must not appear raw in a <script> block's JSON: "<" ("</script>", "<!--"), ">" and "&" for good
# measure, and U+2028/U+2029 (line breaks to older JavaScript). Each is only ever inside a JSON
# string, where its \u escape decodes to the same text.
_ESCAPES = ((b"<", b"\\u003c"), (b">", b"\\u003e"), (b"&", b"\\u0026"),
            ("\u2028".encode(), b"\\u2028"), ("\u2029".encode(), b"\\u2029"))  # fmt: skip


def script_json(data: bytes) -> bytes:
    """JSON bytes made safe inside ``<script type="application/json">``: no inventory text can close
    the block or start a comment. (Each test is a one-byte scan; U+2028/U+2029 are looked for only
    when a byte they end with is there, since a three-byte search costs ten times more.)"""
    for raw, escaped in _ESCAPES[:3]:
        if raw in data:
            data = data.replace(raw, escaped)
    if b"\xa8" in data or b"\xa9" in data:
        for raw, escaped in _ESCAPES[3:]:
            data = data.replace(raw, escaped)
    return data


def encode_json(value: object) -> bytes:
    """``value`` as compact JSON. Text msgspec cannot encode (a lone surrogate from inventory text)
    falls back to ``json.dumps``, whose ``\\ud800`` escape the browser decodes to the same text."""
    try:
        return _encode(value)
    except (UnicodeEncodeError, TypeError, msgspec.EncodeError):
        return json.dumps(value, default=str, separators=(",", ":")).encode()


class HtmlRows:
    """Rows for the report's table. ``close`` (or ``with``) drops the temporary files; idempotent."""

    def __init__(
        self, policies: Iterable[str] = (), not_images: Iterable[str] = (), max_rows: int = MAX_ROWS
    ) -> None:
        """``policies``: the ids to index first (any other met is added); ``not_images``: policies whose
        subjects are no image (a broken policy file), left out of the worst images; ``max_rows``: the
        most rows the table holds (the worst)."""
        self.policies: list[str] = []
        self._policy_index: dict[str, int] = {}
        self.open_counts: list[list[int]] = []  # per policy index: violations found, per severity rank
        self.resolved_counts: list[list[int]] = []  # per policy index: entries resolved, per severity rank
        for policy_id in policies:
            self._policy(policy_id)
        self.max_rows = max(0, max_rows)
        self.worst = WorstImages()
        self._worst = self.worst.add
        self._not_images = frozenset(self._policy(policy_id) for policy_id in not_images)
        streams = RESOLVED + 1  # one per severity rank, then the resolved entries
        self._batches: list[list[tuple[object, ...]]] = [[] for _ in range(streams)]
        self._files: list[IO[bytes] | None] = [None] * streams  # made when a stream first writes
        self._written = [0] * streams  # rows written to each stream's file
        self._ends: list[list[int]] = [[] for _ in range(streams)]  # where each line ends (≤ cap/BATCH+1)

    def __enter__(self) -> HtmlRows:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __len__(self) -> int:
        """Rows added so far (every one: the table shows ``shown`` of them)."""
        return sum(map(sum, self.open_counts)) + sum(map(sum, self.resolved_counts))

    @property
    def shown(self) -> int:
        """Rows the table holds: every one, up to ``max_rows``."""
        return min(len(self), self.max_rows)

    @property
    def spilled(self) -> int:
        """Rows written to the temporary files so far."""
        return sum(self._written)

    def _policy(self, policy_id: str) -> int:
        index = self._policy_index.get(policy_id)
        if index is None:
            index = self._policy_index[policy_id] = len(self.policies)
            self.policies.append(policy_id)
            self.open_counts.append([0] * len(SEVERITIES))
            self.resolved_counts.append([0] * len(SEVERITIES))
        return index

    def add(
        self, violation: Violation, status: str, entry: LedgerEntry | None = None, now_ms: int = 0
    ) -> None:
        """One violation the run found, with its ledger ``status`` (``new``/``open``) and entry (the
        merge's ``on_current``). Runs once per row: kept to plain local operations."""
        v = violation
        rank = _rank(v.severity, 4)
        policy = self._policy_index.get(v.policy_id)
        if policy is None:
            policy = self._policy(v.policy_id)
        kind = v.kind  # a fleet rule's one violation has the subject "fleet" (and no image, no host)
        fleet = kind == "fleet" or v.subject == "fleet"
        hosts = v.hosts if kind == "image" else 0 if fleet else 1
        if entry is None:
            row = (rank, policy, v.label, hosts, None, None, 0 if status == "new" else 1, v.message, 0)
        else:
            due, late = entry.due_at, 0
            if due is not None:  # sla.overdue_ms, inlined
                if now_ms > due and entry.status == "open" and entry.paused_since is None:
                    late = int(now_ms >= entry.first_seen)
                due //= 1000
            code = 3 if entry.status == "exempted" else 0 if status == "new" else 1
            row = (rank, policy, v.label, hosts, entry.first_seen // 1000, due, code, v.message, late)
        batch = self._batches[rank]
        batch.append(row)
        if len(batch) >= BATCH:
            self._flush(rank)
        self.open_counts[policy][rank] += 1
        if not fleet and policy not in self._not_images:
            self._worst(v.label, rank, hosts)

    def add_resolved(self, entry: LedgerEntry) -> None:
        """One ledger entry this run resolved (the merge's ``on_resolved``)."""
        rank = _rank(entry.severity, 4)
        policy = self._policy(entry.policy_id)
        due = None if entry.due_at is None else entry.due_at // 1000
        first = entry.first_seen // 1000
        batch = self._batches[RESOLVED]
        batch.append((rank, policy, entry.label, None, first, due, 2, entry.message, 0))
        if len(batch) >= BATCH:
            self._flush(RESOLVED)
        self.resolved_counts[policy][rank] += 1

    def _before(self, stream: int) -> int:
        """Rows added so far to the streams the table shows before ``stream``."""
        if stream == RESOLVED:
            return sum(map(sum, self.open_counts))
        return sum(sum(counts[:stream]) for counts in self.open_counts)

    def _flush(self, stream: int) -> None:
        """The stream's batch as one line of its file: ``,row,row…\\n``. Only the rows the cap may still
        show: the worse streams only grow, so a stream cut once is never written again, and every line
        of a file but its last holds ``BATCH`` rows (``_read`` counts on it)."""
        batch = self._batches[stream]
        room = self.max_rows - self._before(stream) - self._written[stream]
        if room < len(batch):
            del batch[max(room, 0) :]
        if batch:
            file = self._files[stream]
            if file is None:
                file = self._files[stream] = tempfile.TemporaryFile(prefix="imagewatch-html-")  # noqa: SIM115 (closed in close)
            file.write(b"," + script_json(encode_json(batch))[1:-1] + b"\n")
            self._ends[stream].append(file.tell())
            self._written[stream] += len(batch)
            batch.clear()
            if sum(self._written) > self.max_rows + BATCH:
                self._trim()

    def _trim(self) -> None:
        """Drop whole last lines of the least severe streams while the files still hold ``max_rows``
        rows without them: rows the table can no longer show (the rows before them are at least as
        severe), so the files hold at most about ``max_rows + 2 * BATCH`` rows. A stream trimmed has no
        room left (its worse rows and its own fill the cap), so it is never written again."""
        excess = sum(self._written) - self.max_rows
        for stream in reversed(range(len(self._files))):
            ends, file = self._ends[stream], self._files[stream]
            while ends and file is not None:
                last = self._written[stream] - BATCH * (len(ends) - 1)  # rows in its last line
                if last > excess:
                    return
                ends.pop()
                file.truncate(ends[-1] if ends else 0)
                file.seek(0, 2)
                self._written[stream] -= last
                excess -= last

    def blocks(self) -> Iterator[bytes]:
        """The rows the table shows (``shown``: critical first, resolved last) as the UTF-8 text of one
        JSON array (``[...]``), already escaped for a script block, ``READ_BYTES`` at a time: copied
        into the page as they are, never decoded (but the one line the cap cuts)."""
        for stream in range(len(self._batches)):
            self._flush(stream)
        yield b"["
        left, first = self.max_rows, True
        for stream, file in enumerate(self._files):
            if file is None or left <= 0:
                continue
            take = min(self._written[stream], left)
            left -= take
            file.seek(0)
            for block in _read(file, take, self._written[stream]):
                if first:  # the array's first row has no comma before it
                    block, first = block[1:], False
                yield block
        yield b"]"

    def close(self) -> None:
        for batch in self._batches:
            batch.clear()
        self.worst.close()
        for file in self._files:
            if file is not None:
                file.close()


def _read(file: IO[bytes], take: int, held: int) -> Iterator[bytes]:
    """The first ``take`` of the ``held`` rows of a spill file: the whole file as it is, else its
    first full lines and the first rows of the next one, decoded and encoded again."""
    if take == held:
        while block := file.read(READ_BYTES):
            yield block
        return
    for _ in range(take // BATCH):
        yield file.readline()
    rest = take % BATCH
    if rest:
        line = b"[" + file.readline()[1:] + b"]"
        try:
            rows = msgspec.json.decode(line)
        except msgspec.DecodeError:  # a lone surrogate's escape, which only json reads
            rows = json.loads(line)
        yield b"," + script_json(encode_json(rows[:rest]))[1:-1]
