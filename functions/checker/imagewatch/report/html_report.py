"""The run's HTML report: one self-contained page beside the JSON and CSV, at ``{base}.html``.

What a person opens from chat: the run's status and why, open violations by severity, new, resolved
and overdue, charts (the trend over recent runs, violations by policy, the worst images), a table of
every violation that sorts, filters and pages in the browser, exemptions, fleet rules, and the
policies' hashes (docs/report.md).

Nothing on the page makes a request: the CSS, the script, the SVG charts and the data are inline, and a
``Content-Security-Policy`` meta tag allows no source but the page's own ``<style>`` and ``<script>``
blocks, named by their SHA-256 (computed here, from the files beside this one). The table's rows are
JSON in a ``<script type="application/json">`` block (data, never run), escaped so no inventory text
can close it (``html_rows.script_json``); every other text goes through Jinja2's autoescape.

Memory: ``HtmlRows`` spills the rows during the merge; ``write`` renders with ``generate`` and streams
the page into the sink a buffer at a time, the rows' bytes copied from their file where the template
marks their place (never decoded into text and encoded again: a fifth of the page's cost at
100,000). Jinja2 is imported only by ``write`` (never at cold start).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import secrets
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from imagewatch import __version__
from imagewatch.report.html_charts import Point, images_chart, policy_chart, trend_chart
from imagewatch.report.html_rows import COLUMNS, STATUSES, HtmlRows, encode_json, script_json
from imagewatch.violation import SEVERITIES

if TYPE_CHECKING:
    from imagewatch.report.sink import ReportSink, ReportStream

TEMPLATES = Path(__file__).resolve().parent / "templates"
CONTENT_TYPE = "text/html; charset=utf-8"
HISTORY_RUNS = 30  # runs the trend shows at most (the most recent)
HISTORY_WINDOW_MS = 30 * 86_400_000  # how far back the trend reads the run history
WRITE_BYTES = 256 * 1024  # rendered text gathered before one write to the stream
PAGE_SIZE = 100  # table rows in the DOM at once (the page's default; 25 to 500 to choose from)
EXEMPTED_SHOWN = 5  # labels listed per exemption (the JSON report has them all)
STATUS_WORDS = {"ok": "Complete", "partial": "Partial", "failed": "Failed"}
# A favicon the page carries itself: without one the browser asks for /favicon.ico
FAVICON = (
    "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'%3E%3Crect"
    " width='16' height='16' rx='3' fill='%231d4ed8'/%3E%3Cpath d='M4 8.5l2.5 2.5L12 5' stroke='white'"
    " stroke-width='2' fill='none'/%3E%3C/svg%3E"
)


class HtmlReport:
    """Collects the run's rows (``rows.add`` / ``rows.add_resolved`` are the merge's callbacks), then
    ``write`` puts the page; ``abort`` when the run fails. Either drops the temporary file."""

    def __init__(
        self, sink: ReportSink, key: str, titles: Mapping[str, str], not_images: Iterable[str] = ()
    ) -> None:
        self.sink = sink
        self.key = key
        self.titles = dict(titles)
        self.rows = HtmlRows(sorted(self.titles), not_images)

    def write(
        self,
        summary: Mapping[str, Any],
        *,
        policies: Sequence[Mapping[str, Any]] = (),
        exempted: Sequence[Mapping[str, Any]] = (),
        history: Sequence[Point] = (),
        history_note: str = "",
    ) -> str:
        """Render the page into ``{key}`` through the sink's stream; return where it is."""
        try:
            context = page_context(summary, self.rows, self.titles, policies, exempted, history, history_note)
            stream = self.sink.open_stream(self.key, CONTENT_TYPE)
            try:
                mark = f"imagewatch-rows-{secrets.token_hex(16)}"  # where the rows go: no text can guess it
                _write_all(stream, render({**context, "rows_json": mark}), mark, self.rows.blocks())
                return stream.close()
            except BaseException:
                stream.abort()
                raise
        finally:
            self.rows.close()

    def abort(self) -> None:
        """Drop the collected rows (idempotent)."""
        self.rows.close()


def _write_all(stream: ReportStream, pieces: Iterable[str], mark: str, rows: Iterable[bytes]) -> None:
    """The rendered text, UTF-8 (a lone surrogate from inventory text becomes ``?``), ``WRITE_BYTES`` at
    a time; where the template put ``mark``, the rows' bytes, copied from their file as they are."""
    buffer: list[str] = []
    held = 0

    def flush() -> None:
        nonlocal held
        if buffer:
            stream.write("".join(buffer).encode("utf-8", "replace"))
            buffer.clear()
            held = 0

    placed = False
    for piece in pieces:
        if not placed and mark in piece:
            before, _, after = piece.partition(mark)
            buffer.append(before)
            flush()
            for block in rows:
                stream.write(block)
            piece, placed = after, True
        buffer.append(piece)
        held += len(piece)
        if held >= WRITE_BYTES:
            flush()
    if not placed:  # a template without the rows' place would make a page that lists nothing
        raise RuntimeError("report.html.j2 has no place for the rows ({{ rows_json }})")
    flush()


# -- what the page says ----------------------------------------------------------------------------


def severity_bar(counts: Sequence[int]) -> list[tuple[str, float, float]]:
    """(severity, x, width) in percent: one bar split by severity, worst first."""
    total, left, out = sum(counts), 0.0, []
    for severity, count in zip(SEVERITIES, counts, strict=True):
        if count:
            width = 100 * count / total
            out.append((severity, round(left, 3), round(width, 3)))
            left += width
    return out


def history_points(records: Iterable[Any], summary: Mapping[str, Any], now_ms: int) -> list[Point]:
    """The trend's points: the last ``HISTORY_RUNS`` run records (``RunRecord``), this run last (added
    from the summary when the history does not hold it, e.g. its write failed)."""
    points: list[Point] = []
    for record in records:
        points.append(Point(record.at, record.status, dict(record.open_by_severity)))
        if len(points) > 4 * HISTORY_RUNS:  # bounded whatever the history holds
            del points[:-HISTORY_RUNS]
    if not any(point.at == now_ms for point in points[-HISTORY_RUNS:]):
        found = (summary.get("violations") or {}).get("by_severity") or {}
        points.append(Point(now_ms, str(summary.get("status", "")), dict(found)))
    return sorted(points[-HISTORY_RUNS:], key=lambda point: point.at)


def exemption_groups(exempted: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The exempted subjects (``write_report``'s ``exempted``), one entry per exemption."""
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for item in exempted:
        key = (str(item.get("policy_id", "")), str(item.get("pointer", "")))
        group = groups.get(key)
        if group is None:
            group = groups[key] = {
                "policy_id": key[0],
                "pointer": key[1],
                "reason": item.get("reason") or "",
                "owner": item.get("owner") or "",
                "expires": item.get("expires") or "",
                "count": 0,
                "labels": [],
            }
        group["count"] += 1
        if len(group["labels"]) < EXEMPTED_SHOWN:
            group["labels"].append(str(item.get("label") or item.get("subject") or ""))
    return sorted(groups.values(), key=lambda g: (g["policy_id"], g["pointer"]))


def page_context(
    summary: Mapping[str, Any],
    rows: HtmlRows,
    titles: Mapping[str, str],
    policies: Sequence[Mapping[str, Any]],
    exempted: Sequence[Mapping[str, Any]],
    history: Sequence[Point],
    history_note: str,
) -> dict[str, Any]:
    """Everything the template shows, from the summary and the bounded counts (no row is read here)."""
    status = str(summary.get("status") or "")
    found = (summary.get("violations") or {}).get("by_severity") or {}
    overdue = summary.get("overdue") or {}
    exemptions = summary.get("exemptions") or {}
    resolved_by_policy = [
        (rows.policies[i], counts) for i, counts in enumerate(rows.resolved_counts) if sum(counts)
    ]
    severity_of = {p["id"]: p.get("severity") for p in policies}
    meta = {
        "columns": COLUMNS,
        "severities": SEVERITIES,
        "statuses": STATUSES,
        "policies": [[pid, titles.get(pid, pid), severity_of.get(pid) or ""] for pid in rows.policies],
        "pageSize": PAGE_SIZE,
    }
    notifications = summary.get("notifications") or {}
    return {
        "title": f"imagewatch report: {summary.get('target_name') or summary.get('target') or ''}",
        "target": summary.get("target") or "",
        "target_name": summary.get("target_name") or "",
        "run_id": summary.get("run_id") or "",
        "started_at": summary.get("started_at") or "",
        "duration_s": (summary.get("duration_ms") or 0) / 1000,
        "trigger": summary.get("trigger") or "",
        "status": status,
        "status_word": STATUS_WORDS.get(status, status.capitalize() or "Unknown"),
        "why": [*(summary.get("errors") or []), *(summary.get("problems") or [])],
        "warnings": summary.get("warnings") or [],
        "records_read": summary.get("records_read") or 0,
        "images": summary.get("images") or 0,
        "severities": SEVERITIES,
        "found": {s: found.get(s, 0) for s in SEVERITIES},
        "found_total": sum(found.values()),
        "found_bar": severity_bar([found.get(s, 0) for s in SEVERITIES]),
        "new": summary.get("new") or 0,
        "resolved": summary.get("resolved") or 0,
        "still_open": summary.get("still_open") or 0,
        "overdue": overdue.get("total") or 0,
        "overdue_by_severity": overdue.get("by_severity") or {},
        "exempted_open": summary.get("exempted_open") or 0,
        "trend": trend_chart(history),
        "history_note": history_note,
        "by_policy": policy_chart(rows.open_counts, rows.policies, titles),
        "worst": images_chart(rows.worst.top()),
        "fleet_rules": summary.get("fleet_rules") or [],
        "exemptions_applied": exemptions.get("applied") or 0,
        "exemption_groups": exemption_groups(exempted),
        "expired": exemptions.get("expired") or [],
        "expiring": exemptions.get("expiring_soon") or [],
        "resolved_by_policy": [
            {"policy_id": pid, "title": titles.get(pid, pid), "total": sum(counts)}
            for pid, counts in sorted(resolved_by_policy, key=lambda item: (-sum(item[1]), item[0]))
        ],
        "policies": policies,
        "invalid_policies": (summary.get("policies") or {}).get("invalid") or [],
        "notifications": {"sent": notifications.get("sent") or 0, "failed": notifications.get("failed") or 0},
        "row_count": len(rows),
        "meta_json": script_json(encode_json(meta)).decode(),
        "version": __version__,
    }


# -- rendering ---------------------------------------------------------------------------------------


class Assets(msgspec.Struct, frozen=True):
    css: str
    js: str
    csp: str


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


@functools.cache
def assets() -> Assets:
    """The page's CSS and script, and the CSP that allows exactly them (read once per process)."""
    css = (TEMPLATES / "report.css").read_text(encoding="utf-8")
    js = (TEMPLATES / "report.js").read_text(encoding="utf-8")
    for name, text, end in (("report.css", css, "</style"), ("report.js", js, "</script")):
        if end in text.lower():  # would end its block early, and the hash would no longer match
            raise ValueError(f"{TEMPLATES / name}: must not contain {end}")
    csp = "; ".join(
        (
            "default-src 'none'",
            f"style-src {_sha256(css)}",
            f"script-src {_sha256(js)}",
            "img-src data:",
            "base-uri 'none'",
            "form-action 'none'",
        )
    )
    return Assets(css, js, csp)


@functools.cache
def _template() -> Any:
    import jinja2  # only a run that writes its report pays for it

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["num"] = lambda value: f"{value:,}" if isinstance(value, int) else value
    return environment.get_template("report.html.j2")


def render(context: Mapping[str, Any]) -> Iterator[str]:
    """The page, piece by piece (``Template.generate``); ``rows_json`` is the mark ``write`` puts the
    rows at (streamed from their spill file)."""
    from markupsafe import Markup  # Jinja2's own dependency

    page = assets()
    trusted = {
        "css": Markup(page.css),  # noqa: S704 (our file, checked by ``assets``)
        "js": Markup(page.js),  # noqa: S704
        "csp": page.csp,
        "favicon": FAVICON,
        "meta_json": Markup(context["meta_json"]),  # noqa: S704 (escaped by script_json)
        "rows_json": Markup(context["rows_json"]),  # noqa: S704 (``write``'s mark: the rows go there)
    }
    return _template().generate({**context, **trusted})
