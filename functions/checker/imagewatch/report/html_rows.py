"""The HTML report's table rows, spilled as the merge reports them, and the few counts its charts need.

The merge hands every violation (``add``) and every entry it resolved (``add_resolved``) over once, in
fingerprint order. Each becomes one compact JSON array, written in batches to an anonymous temporary
file (``tempfile.TemporaryFile``: on Linux it never has a name, so not even a killed run leaves it
behind); only counts per policy and severity and the ``WorstImages`` tally stay in memory. ``blocks``
reads the file back as the bytes of one JSON array, already escaped for an HTML ``<script>`` block.

A row, in ``COLUMNS`` order: ``[severity rank, policy index, label, hosts, first seen (s), due (s) or
null, status index, message, overdue 0/1]``. Indexes into ``SEVERITIES``, ``policies`` and
``STATUSES`` keep the repeated words out of the 100,000 rows.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

import msgspec

from imagewatch.report.worst_images import WorstImages
from imagewatch.violation import SEVERITIES, SEVERITY_ORDER, Violation

if TYPE_CHECKING:
    from imagewatch.alerts.ledger import LedgerEntry

COLUMNS = ("severity", "policy", "label", "hosts", "first_seen", "due", "status", "message", "overdue")
STATUSES = ("new", "open", "resolved", "exempted")
BATCH = 1_000  # rows encoded and written at once
READ_BYTES = 256 * 1024  # what ``blocks`` reads at a time

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
    """Rows for the report's table. ``close`` (or ``with``) drops the temporary file; idempotent."""

    def __init__(self, policies: Iterable[str] = (), not_images: Iterable[str] = ()) -> None:
        """``policies``: the ids to index first (any other met is added); ``not_images``: policies whose
        subjects are no image (a broken policy file), left out of the worst images."""
        self.policies: list[str] = []
        self._policy_index: dict[str, int] = {}
        self.open_counts: list[list[int]] = []  # per policy index: violations found, per severity rank
        self.resolved_counts: list[list[int]] = []  # per policy index: entries resolved, per severity rank
        for policy_id in policies:
            self._policy(policy_id)
        self.rows = 0  # rows written to the file so far (``len`` counts the batch too)
        self.worst = WorstImages()
        self._worst = self.worst.add
        self._not_images = frozenset(self._policy(policy_id) for policy_id in not_images)
        self._batch: list[tuple[object, ...]] = []
        self._file = tempfile.TemporaryFile(prefix="imagewatch-html-")  # noqa: SIM115 (closed in close)
        self._written = False

    def __enter__(self) -> HtmlRows:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __len__(self) -> int:
        """Rows added so far."""
        return self.rows + len(self._batch)

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
        batch = self._batch
        batch.append(row)
        if len(batch) >= BATCH:
            self._flush()
        self.open_counts[policy][rank] += 1
        if not fleet and policy not in self._not_images:
            self._worst(v.label, rank, hosts)

    def add_resolved(self, entry: LedgerEntry) -> None:
        """One ledger entry this run resolved (the merge's ``on_resolved``)."""
        rank = _rank(entry.severity, 4)
        policy = self._policy(entry.policy_id)
        due = None if entry.due_at is None else entry.due_at // 1000
        first = entry.first_seen // 1000
        self._batch.append((rank, policy, entry.label, None, first, due, 2, entry.message, 0))
        if len(self._batch) >= BATCH:
            self._flush()
        self.resolved_counts[policy][rank] += 1

    def _flush(self) -> None:
        if not self._batch:
            return
        body = script_json(encode_json(self._batch))[1:-1]  # the rows, without the array's brackets
        self._file.write(b"," + body if self._written else body)
        self._written = True
        self.rows += len(self._batch)
        self._batch.clear()

    def blocks(self) -> Iterator[bytes]:
        """Every row as the UTF-8 text of one JSON array (``[...]``), already escaped for a script
        block, ``READ_BYTES`` at a time: copied into the page as they are, never decoded."""
        self._flush()
        self._file.seek(0)
        yield b"["
        while block := self._file.read(READ_BYTES):
            yield block
        yield b"]"

    def close(self) -> None:
        self._batch.clear()
        self.worst.close()
        self._file.close()
