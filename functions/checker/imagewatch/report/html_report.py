"""The run's HTML report: one self-contained page beside the JSON and CSV, at ``{base}.html``.

What a person opens from chat: the run's status and why, open violations by severity, new, resolved
and overdue, charts (the trend over recent runs, violations by policy, the worst images), a table of
the violations found (the worst ``MAX_ROWS``) that sorts, filters and pages in the browser,
exemptions, fleet rules, and the policies' hashes (docs/report.md).

Open means what the ledger holds open after the run (``merged.open_by_severity``: what the digest
and the run history say), overdue likewise; what this run found is its own, labelled figure. The rows
come from the merge's ``on_current``, which hears only what was found: open entries in a part the run
could not read, or of a policy it did not evaluate, are counted but not listed, and the page says so.

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
import logging
import secrets
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from imagewatch import __version__
from imagewatch.policy.evaluate import SUBJECTS_CAP
from imagewatch.report.html_charts import Point, images_chart, policy_chart, trend_chart
from imagewatch.report.html_rows import COLUMNS, MAX_ROWS, STATUSES, HtmlRows, encode_json, script_json
from imagewatch.violation import SEVERITIES

if TYPE_CHECKING:
    from imagewatch.report.sink import ReportSink, ReportStream

log = logging.getLogger(__name__)

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
        self,
        sink: ReportSink,
        key: str,
        titles: Mapping[str, str],
        not_images: Iterable[str] = (),
        max_rows: int = MAX_ROWS,
    ) -> None:
        self.sink = sink
        self.key = key
        self.titles = dict(titles)
        self.rows = HtmlRows(sorted(self.titles), not_images, max_rows)

    def write(
        self,
        summary: Mapping[str, Any],
        *,
        open_by_severity: Mapping[str, int],
        policies: Sequence[Mapping[str, Any]] = (),
        exempted: Sequence[Mapping[str, Any]] = (),
        history: Sequence[Point] = (),
        history_note: str = "",
        csv: str = "",
    ) -> str:
        """Render the page into ``{key}`` through the sink's stream; return where it is.
        ``open_by_severity``: the ledger's open entries after the run (the headline figures); ``csv``:
        where the run's CSV is (the table names it when it cannot hold every row)."""
        try:
            context = (
                page_context(summary, self.rows, self.titles, policies, exempted, history, history_note)
                | open_context(summary, self.rows, open_by_severity, policies)
                | {"csv": csv}
            )
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


def history_points(records: Iterable[Any], this_run: Point) -> list[Point]:
    """The trend's points: the last ``HISTORY_RUNS`` run records (``RunRecord``), this run last (added
    as ``this_run``, the ledger's open figures, when the history does not hold it: its write failed,
    or the history could not be read)."""
    points: list[Point] = []
    for record in records:
        points.append(Point(record.at, record.status, dict(record.open_by_severity)))
        if len(points) > 4 * HISTORY_RUNS:  # bounded whatever the history holds
            del points[:-HISTORY_RUNS]
    if not any(point.at == this_run.at for point in points[-HISTORY_RUNS:]):
        points.append(this_run)
    return sorted(points[-HISTORY_RUNS:], key=lambda point: point.at)


def exemption_groups(exempted: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The exempted subjects (``write_report``'s ``exempted``), one entry per exemption. The
    evaluation keeps the first ``SUBJECTS_CAP`` subjects of each: a group that full is "at least"."""
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
    for group in groups.values():
        group["capped"] = group["count"] >= SUBJECTS_CAP
    return sorted(groups.values(), key=lambda g: (g["policy_id"], g["pointer"]))


def exemption_notes(notes: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Expired or expiring exemptions (the summary's ``note_dict``s): how many subjects and records
    each concerns, said truly when the evaluation kept only its first ``SUBJECTS_CAP`` subjects."""
    out = []
    for note in notes:
        subjects, records = len(note.get("subjects") or ()), note.get("records")
        if subjects >= SUBJECTS_CAP and isinstance(records, int):
            count = f"{records:,} records of at least {subjects:,} subjects (the first {subjects:,} shown)"
        elif isinstance(records, int) and records != subjects:
            count = f"{subjects:,} subject(s) ({records:,} records)"
        else:
            count = f"{subjects:,} subject(s)"
        labels = [str(label) for label in note.get("labels") or note.get("subjects") or ()]
        out.append({**{k: note.get(k) or "" for k in ("policy_id", "pointer", "expires", "reason", "owner")},
                    "count": count, "labels": labels})  # fmt: skip
    return out


def open_context(
    summary: Mapping[str, Any],
    rows: HtmlRows,
    open_by_severity: Mapping[str, int],
    policies: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """The headline figures: open is the ledger's; found is this run's, and the open entries it could
    not list (in an unread part, or of a policy it did not evaluate) are said."""
    found = [sum(counts[rank] for counts in rows.open_counts) for rank in range(len(SEVERITIES))]
    open_now = {s: int(open_by_severity.get(s, 0)) for s in SEVERITIES}
    missing = {s: max(0, open_now[s] - found[rank]) for rank, s in enumerate(SEVERITIES)}
    return {
        "open": open_now,
        "open_total": sum(open_now.values()),
        "open_bar": severity_bar([open_now[s] for s in SEVERITIES]),
        "found_total": sum(found),
        "unlisted": unlisted_note(summary, missing, policies),
        "unlisted_total": sum(missing.values()),
        "rows_total": len(rows),
        "rows_shown": rows.shown,
    }


def unlisted_note(
    summary: Mapping[str, Any], missing: Mapping[str, int], policies: Sequence[Mapping[str, Any]]
) -> str:
    """What the table cannot list, said: "5 open violations (critical 2, medium 3) are in parts this
    run could not read: …" (or "belong to policies this run did not evaluate"); "" when nothing."""
    count = sum(missing.values())
    if not count:
        return ""
    evaluated = set((summary.get("policies") or {}).get("evaluated") or ())
    unread = summary.get("status") in ("partial", "failed")
    skipped = not unread or any(p.get("id") not in evaluated for p in policies)
    one = count == 1
    read = f"{'is in a part' if one else 'are in parts'} this run could not read"
    other = f"{'belongs' if one else 'belong'} to policies this run did not evaluate"
    if unread and skipped:
        where = f"{read} or {other.replace('this run', 'it')}"
    else:
        where = read if unread else other
    detail = ", ".join(f"{s} {n:,}" for s, n in missing.items() if n)
    return (
        f"{count:,} open violation{'' if one else 's'} ({detail}) {where}: {'it is' if one else 'they are'}"
        " not listed below, and stay open until a run reads them."
    )


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
        "expired": exemption_notes(exemptions.get("expired") or []),
        "expiring": exemption_notes(exemptions.get("expiring_soon") or []),
        "resolved_by_policy": [
            {"policy_id": pid, "title": titles.get(pid, pid), "total": sum(counts)}
            for pid, counts in sorted(resolved_by_policy, key=lambda item: (-sum(item[1]), item[0]))
        ],
        "policies": policies,
        "invalid_policies": (summary.get("policies") or {}).get("invalid") or [],
        "notifications": {"sent": notifications.get("sent") or 0, "failed": notifications.get("failed") or 0},
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


# -- the page that takes the report's place when it could not be written ----------------------------

PLACEHOLDER_CSS = (
    "body{margin:0;padding:40px 16px;background:#f5f7fa;color:#101828;"
    "font:15px/1.5 -apple-system,BlinkMacSystemFont,'Segoe UI',Roboto,Arial,sans-serif}"
    "main{max-width:760px;margin:0 auto;background:#fff;border:1px solid #e4e7ec;border-radius:10px;"
    "padding:20px 24px}h1{font-size:20px;margin:0 0 8px}code{word-break:break-all;font-size:13px}"
    "p{color:#475467}"
)


def placeholder_page(summary: Mapping[str, Any], files: Mapping[str, str]) -> bytes:
    """A small page for the report's key when the report itself could not be written: chat already
    links that key. It carries no data, only where the run's evidence is (``files``: the JSON summary,
    the CSV and JSON Lines files); the same CSP as the report, no script. Plain string formatting
    with ``html.escape``: no template engine, whose failure may be why it is needed."""
    from html import escape

    csp = "; ".join(
        (
            "default-src 'none'",
            f"style-src {_sha256(PLACEHOLDER_CSS)}",
            "img-src data:",
            "base-uri 'none'",
            "form-action 'none'",
        )
    )
    names = (("json", "The run's summary (JSON)"), ("csv", "Every violation (CSV)"), ("jsonl", "JSON Lines"))
    listed = "".join(
        f"<li>{label}: <code>{escape(files[key])}</code></li>" for key, label in names if files.get(key)
    )
    target = escape(str(summary.get("target_name") or summary.get("target") or ""))
    run = escape(str(summary.get("run_id") or ""))
    started = escape(str(summary.get("started_at") or ""))
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="referrer" content="no-referrer">\n'
        f"<title>imagewatch report: {target} (not written)</title>\n"
        f'<link rel="icon" href="{FAVICON}">\n<style>{PLACEHOLDER_CSS}</style>\n</head>\n<body>\n<main>\n'
        f"<h1>The HTML report of run {run} could not be written</h1>\n"
        f"<p>Target {target}, started {started}. The run itself finished, its alerts unaffected; its"
        " evidence is in these files (the summary's <code>problems</code> say what went wrong):</p>\n"
        f"<ul>{listed}</ul>\n</main>\n</body>\n</html>\n"
    ).encode("utf-8", "replace")


def put_placeholder(sink: ReportSink, key: str, summary: Mapping[str, Any], files: Mapping[str, str]) -> str:
    """Put ``placeholder_page`` at the report's ``key``; where it is, or "" when the store refuses
    that too (logged: the run's problem then says nothing is at the link)."""
    try:
        return sink.put(key, placeholder_page(summary, files), CONTENT_TYPE)
    except Exception as exc:
        log.error("the HTML report's placeholder page was not written either: %s", exc)
        return ""
