"""The HTML report's renderer: rows spilled and read back, escaping for the JSON block and the page, the
CSP that allows only the page's own blocks, bounded memory, the worst-images tally, and the pages a
run can end with (nothing found, partial, failed). The page in a real browser: tests/e2e."""

from __future__ import annotations

import base64
import hashlib
import json
import random
import re
import tempfile
import tracemalloc
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from imagewatch.alerts.ledger import LedgerEntry
from imagewatch.history import RunRecord
from imagewatch.report import html_report
from imagewatch.report.html_charts import Point, trend_chart
from imagewatch.report.html_report import CONTENT_TYPE, HISTORY_RUNS, HtmlReport, history_points
from imagewatch.report.html_rows import BATCH, HtmlRows, script_json
from imagewatch.report.sink import LocalReportSink
from imagewatch.report.worst_images import WorstImages
from imagewatch.violation import Violation
from support.html_reports import open_temp_files

NOW_MS = 1_796_176_579_000
DAY_MS = 86_400_000
HOSTILE = (
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "</script><script>alert(2)</script>",
    "<!--",
    "a\u2028b\u2029c",
    "&lt;&amp;",
    "javascript:alert(3)",
    "<svg onload=alert(4)>",
    "'; alert(5); '",
)


def violation(
    n: int, label: str = "", message: str = "", policy: str = "p-high", severity: str = "high"
) -> Violation:
    label = label or f"team/app-{n}:1.0 on 2 hosts (node-a, node-b)"
    return Violation(
        policy, f"title of {policy}", severity, f"img-{n}", label, message or f"app-{n} breaks {policy}",  # type: ignore[arg-type]
        kind="image", hosts=2, host_names=("node-a", "node-b"),
    )  # fmt: skip


def entry(v: Violation, *, first: int = NOW_MS - DAY_MS, due: int | None = NOW_MS + DAY_MS) -> LedgerEntry:
    return LedgerEntry(
        v.fingerprint,
        v.policy_id,
        v.subject,
        v.severity,
        v.label,
        v.message,
        "open",
        first,
        NOW_MS,
        due_at=due,
    )


def rows_of(rows: HtmlRows) -> list[list[Any]]:
    return json.loads(b"".join(rows.blocks()))


# -- the rows ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", HOSTILE)
def test_the_json_block_escaping_leaves_nothing_that_could_end_the_block(text: str) -> None:
    encoded = script_json(json.dumps([text], ensure_ascii=False).encode())
    assert not re.search(rb"[<>&]|\xe2\x80[\xa8\xa9]", encoded)
    assert json.loads(encoded) == [text]  # the same text, once the browser parses it


def test_rows_come_back_as_one_json_array_with_their_facts() -> None:
    late, fresh = violation(1, severity="critical", policy="p-crit"), violation(2)
    gone = entry(violation(3, policy="p-gone"), due=None)
    gone.status, gone.resolved_at = "resolved", NOW_MS
    with HtmlRows(["p-crit", "p-high"]) as rows:
        rows.add(late, "open", entry(late, first=NOW_MS - 9 * DAY_MS, due=NOW_MS - DAY_MS), NOW_MS)
        rows.add(fresh, "new", entry(fresh, first=NOW_MS), NOW_MS)
        rows.add_resolved(gone)
        assert len(rows) == 3 and rows.policies == ["p-crit", "p-high", "p-gone"]
        assert rows_of(rows) == [
            [
                0,
                0,
                late.label,
                2,
                (NOW_MS - 9 * DAY_MS) // 1000,
                (NOW_MS - DAY_MS) // 1000,
                1,
                late.message,
                1,
            ],
            [1, 1, fresh.label, 2, NOW_MS // 1000, (NOW_MS + DAY_MS) // 1000, 0, fresh.message, 0],
            [1, 2, gone.label, None, (NOW_MS - DAY_MS) // 1000, None, 2, gone.message, 0],
        ]
        assert rows.open_counts == [[1, 0, 0, 0, 0], [0, 1, 0, 0, 0], [0, 0, 0, 0, 0]]
        assert rows.resolved_counts[2] == [0, 1, 0, 0, 0]


def test_the_overdue_mark_agrees_with_the_sla_clock() -> None:
    """The row's overdue flag is ``sla.overdue_ms`` inlined: the same answer in every case it knows."""
    from imagewatch.sla import overdue_ms

    cases = []
    for due in (None, NOW_MS - 1, NOW_MS, NOW_MS + 1):
        for status in ("open", "exempted"):
            for paused in (None, NOW_MS - DAY_MS):
                for first in (NOW_MS - DAY_MS, NOW_MS + DAY_MS):  # the second: a clock that went back
                    cases.append((due, status, paused, first))
    with HtmlRows() as rows:
        expected = []
        for n, (due, status, paused, first) in enumerate(cases):
            v = violation(n)
            e = entry(v, first=first, due=due)
            e.status, e.paused_since = status, paused  # type: ignore[assignment]
            rows.add(v, "open", e, NOW_MS)
            expected.append(int(overdue_ms(e, NOW_MS) > 0))
        assert [row[8] for row in rows_of(rows)] == expected and 0 < sum(expected) < len(cases)


def test_a_fleet_rule_and_a_record_subject_count_their_hosts_as_they_are() -> None:
    fleet = Violation("fleet-cov", "Coverage", "high", "fleet", "Coverage", "26% unscanned")
    record = Violation(
        "scan-failed", "Failed", "medium", "img@host", "app:1 on node-1", "failed", kind="record"
    )
    with HtmlRows() as rows:
        rows.add(fleet, "open")
        rows.add(record, "open")
        assert [row[3] for row in rows_of(rows)] == [0, 1]
        assert [image.name for image in rows.worst.top()] == ["app:1"]  # the fleet is no image


def test_a_lone_surrogate_in_inventory_or_policy_text_does_not_fail_the_report(tmp_path: Path) -> None:
    with HtmlRows() as rows:
        rows.add(violation(1, label="bad \ud800 name"), "open")
        assert rows_of(rows)[0][2] == "bad \ud800 name"
    page = HtmlReport(LocalReportSink(tmp_path), "r.html", {"p-high": "title \udfff"})
    page.rows.add(violation(2, label="name \ud800 on 2 hosts"), "open")
    html = Path(page.write({"status": "ok", "target": "t \ud800"}, open_by_severity={"high": 1})).read_text(
        encoding="utf-8"
    )
    assert "t ?" in html  # the page's text: a replacement character; the data block keeps the escape


def test_rows_are_spilled_in_batches_and_read_back_whole() -> None:
    with HtmlRows() as rows:
        for n in range(3 * BATCH + 7):
            rows.add(violation(n), "open")
            assert len(rows._batches[1]) < BATCH  # never more than a batch held
        assert rows.spilled == 3 * BATCH
        back = rows_of(rows)
        assert len(back) == 3 * BATCH + 7 and back[-1][2] == violation(3 * BATCH + 6).label


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts open files through Linux's /proc")
def test_the_spill_file_is_gone_when_closed_or_aborted(tmp_path: Path) -> None:
    before = open_temp_files()
    page = HtmlReport(LocalReportSink(tmp_path), "r.html", {"p-high": "High"})
    for n in range(2 * BATCH):
        page.rows.add(violation(n), "open")
    assert open_temp_files() == before + 1
    page.abort()
    page.abort()  # idempotent
    assert open_temp_files() == before
    assert not [p for p in Path(tempfile.gettempdir()).iterdir() if p.name.startswith("imagewatch-html-")]
    assert not list(tmp_path.iterdir())  # an aborted report writes nothing


# -- worst images -----------------------------------------------------------------------------------


def test_worst_images_rank_critical_first_then_high_then_hosts() -> None:
    tally = WorstImages()
    for _ in range(9):
        tally.add("many/high:1 on 9 hosts (a, b, c, …)", 1, 9)
    tally.add("narrow/critical:3 on node-a", 0, 1)
    tally.add("wide/critical:2 on 40 hosts (a, b, c, …)", 0, 40)
    tally.add("one/critical:1 on node-a", 0, 1)
    tally.add("one/critical:1 on node-b", 2, 1)
    assert [(i.name, i.counts, i.hosts) for i in tally.top()] == [
        ("one/critical:1", (1, 0, 1, 0, 0), 1),  # a critical and a medium
        ("wide/critical:2", (1, 0, 0, 0, 0), 40),  # a critical, on more hosts
        ("narrow/critical:3", (1, 0, 0, 0, 0), 1),
        ("many/high:1", (0, 9, 0, 0, 0), 9),  # nine high are less than one critical
    ]


def test_worst_images_spilled_to_sqlite_rank_exactly_as_held_in_memory() -> None:
    rng = random.Random(5)
    adds = [
        (f"img-{rng.randrange(400)}:v on node", rng.choice((0, 1, 1, 2, 2, 2, 3)), rng.randrange(1, 9))
        for _ in range(5000)
    ]
    held, spilled = WorstImages(), WorstImages(in_memory=7)
    for add in adds:
        held.add(*add)
        spilled.add(*add)
    try:
        assert spilled._db is not None and len(spilled._held) < 7
        assert spilled.top(25) == held.top(25)
    finally:
        spilled.close()


# -- the page ---------------------------------------------------------------------------------------


class Page(HTMLParser):
    """What the browser would build: elements, attributes, text, and each script/style block's text."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.blocks: list[tuple[str, dict[str, str | None], str]] = []
        self._open: tuple[str, dict[str, str | None]] | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag in ("script", "style"):
            self._open = (tag, dict(attrs))

    def handle_endtag(self, tag: str) -> None:
        self._open = None if tag in ("script", "style") else self._open

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self.blocks.append((*self._open, data))
        else:
            self.text.append(data)

    def block(self, tag: str, kind: str | None = None) -> str:
        [text] = [t for name, attrs, t in self.blocks if name == tag and attrs.get("type") == kind]
        return text


def hostile_summary(n: int = 0) -> dict[str, Any]:
    h = HOSTILE[n % len(HOSTILE)]
    rule = {"policy_id": f"fleet-{h}", "title": f"Coverage {h}", "severity": "high", "passed": False}
    rule |= {"value": 0.3, "threshold": 0.05, "numerator": 3, "denominator": 10, "text": f"30% {h}"}
    note = {"policy_id": "p-high", "owner": h, "subjects": ["s"], "labels": [h]}
    return {
        "run_id": "run-1",
        "target": f"hss/{h}",
        "target_name": f"prod {h}",
        "started_at": "2026-12-01T08:00:00Z",
        "status": "partial",
        "records_read": 10,
        "images": 5,
        "duration_ms": 1200,
        "violations": {"total": 3, "by_severity": {"high": 3}},
        "new": 1,
        "resolved": 1,
        "still_open": 2,
        "overdue": {"total": 0, "by_severity": {}},
        "exempted_open": 0,
        "problems": [f"incomplete read of {h}"],
        "errors": [f"policy {h!r} requested but not loaded"],
        "warnings": [f"warning {h}"],
        "fleet_rules": [rule],
        "exemptions": {
            "applied": 2,
            "expired": [{**note, "pointer": "/exempt/0", "reason": f"old {h}", "expires": "2026-01-01"}],
            "expiring_soon": [{**note, "pointer": "/exempt/1", "reason": f"soon {h}", "expires": h}],
        },
        "policies": {"evaluated": ["p-high"], "invalid": [f"{h}.json: /where: not valid"]},
        "notifications": {"sent": 1, "failed": 0, "channels": []},
    }


def write_page(
    folder: Path,
    summary: dict[str, Any],
    labels: tuple[str, ...] = (),
    history: list[Point] | None = None,
    open_by_severity: dict[str, int] | None = None,
    exempted: list[dict[str, Any]] | None = None,
) -> tuple[str, str]:
    page = HtmlReport(
        LocalReportSink(folder), "t/run.html", {"p-high": "High things", HOSTILE[0]: HOSTILE[1]}
    )
    for n, text in enumerate(labels):
        v = violation(n, label=f"{text} on 2 hosts", message=f"message {text}", policy=HOSTILE[n % 2])
        page.rows.add(v, "new", entry(v), NOW_MS)
    gone = entry(violation(99, label=f"{HOSTILE[1]} on 1 host"))
    gone.status = "resolved"
    page.rows.add_resolved(gone)
    policies = [{"id": "p-high", "title": f"High {HOSTILE[0]}", "severity": "high"}]
    policies[0] |= {"source": f"/p/{HOSTILE[1]}.json", "sha256": "ab" * 32}
    if exempted is None:
        exempted = [{"policy_id": "p-high", "pointer": "/exempt/1", "reason": HOSTILE[0], "owner": HOSTILE[1],
                     "expires": "2027-01-01", "subject": "s", "label": HOSTILE[6]}]  # fmt: skip
    where = page.write(
        summary,
        open_by_severity={"high": len(labels)} if open_by_severity is None else open_by_severity,
        policies=policies,
        exempted=exempted,
        history=history or [],
        history_note=f"note {HOSTILE[0]}",
    )
    return where, Path(where).read_text(encoding="utf-8")


ALLOWED_TAGS = {
    *("html", "head", "meta", "title", "link", "style", "body", "header", "main", "section", "footer"),
    *("div", "h1", "h2", "h3", "p", "span", "b", "br", "ul", "li", "noscript", "script"),
    *("svg", "rect", "text", "line", "table", "thead", "tbody", "tr", "th", "td"),
    *("button", "select", "option", "input", "label", "details", "summary"),
}


def test_hostile_text_in_every_field_renders_as_text_only(tmp_path: Path) -> None:
    where, html = write_page(tmp_path, hostile_summary(), labels=HOSTILE)
    page = Page(html)
    assert {tag for tag, _ in page.tags} <= ALLOWED_TAGS  # no <img>, <iframe>, <a> or injected element
    assert [attrs.get("type") for tag, attrs in page.tags if tag == "script"] == [
        "application/json", "application/json", None,
    ]  # fmt: skip
    assert not [(tag, name) for tag, attrs in page.tags for name in attrs if name.startswith("on")]
    assert not [attrs for tag, attrs in page.tags if "src" in attrs]
    assert all((attrs.get("href") or "").startswith("data:") for tag, attrs in page.tags if "href" in attrs)
    shown = "".join(page.text)
    for field in ("prod", "incomplete read of", "30%", "old", "soon", "High", "warning", "note"):
        assert f"{field} {HOSTILE[0]}" in shown, field
    assert HOSTILE[1] in shown  # as an exempted subject's label, the policy file's name, ...
    # the table's data: every hostile label and message, escaped in the block, whole once parsed
    data = [text for name, attrs, text in page.blocks if attrs.get("id") == "report-rows"]
    assert len(data) == 1 and "<" not in data[0]
    labels = [row[2] for row in json.loads(data[0])]
    assert [f"{h} on 2 hosts" for h in HOSTILE] == labels[: len(HOSTILE)]
    meta = json.loads(next(text for name, attrs, text in page.blocks if attrs.get("id") == "report-meta"))
    assert [HOSTILE[0], HOSTILE[1], ""] in meta["policies"]
    assert where.endswith(".html")


def test_the_csp_allows_exactly_the_pages_own_style_and_script(tmp_path: Path) -> None:
    _, html = write_page(tmp_path, hostile_summary(), labels=HOSTILE[:2])
    page = Page(html)
    [csp] = [attrs["content"] for tag, attrs in page.tags if tag == "meta" and attrs.get("http-equiv")]
    assert csp is not None
    rules = dict(rule.strip().split(" ", 1) for rule in csp.split(";"))

    def digest(text: str) -> str:
        return f"'sha256-{base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()}'"

    assert rules["default-src"] == "'none'" and "unsafe" not in csp
    assert rules["style-src"] == digest(page.block("style"))
    assert rules["script-src"] == digest(page.block("script"))
    assert html.index("Content-Security-Policy") < html.index("<style>")  # in force before any block


def test_a_run_with_nothing_found_still_makes_a_page(tmp_path: Path) -> None:
    summary = {"run_id": "r", "target": "t", "status": "ok", "started_at": "2026-12-01T08:00:00Z",
               "violations": {"total": 0, "by_severity": {}}}  # fmt: skip
    page = HtmlReport(LocalReportSink(tmp_path), "empty.html", {})
    html = Path(page.write(summary, open_by_severity={})).read_text()
    parsed = Page(html)
    assert json.loads(next(t for _, a, t in parsed.blocks if a.get("id") == "report-rows")) == []
    shown = " ".join(parsed.text)
    assert "No policy found a violation." in shown and "No image has an open violation." in shown
    assert "Complete" in shown and "Partial" not in shown


@pytest.mark.parametrize(
    ("status", "word", "says"),
    [
        ("partial", "Partial", "nothing in an unread part was marked resolved"),
        ("failed", "Failed", "no listing could be read"),
    ],
)
def test_a_partial_or_failed_run_says_so_and_why(tmp_path: Path, status: str, word: str, says: str) -> None:
    summary = {**hostile_summary(), "status": status, "problems": ["incomplete read of all images: HSS 503"]}
    _, html = write_page(tmp_path, summary)
    shown = " ".join(Page(html).text)
    assert f">{word}</span>" in html and says in shown and "incomplete read of all images: HSS 503" in shown


def test_the_trend_has_this_run_last_and_at_most_the_recent_runs() -> None:
    records = [
        RunRecord(NOW_MS - d * DAY_MS, "t", "ok", open_by_severity={"high": d}) for d in range(60, 0, -1)
    ]
    this_run = Point(NOW_MS, "partial", {"critical": 2, "high": 7})  # the ledger's open entries
    points = history_points(iter(records), this_run)
    assert len(points) == HISTORY_RUNS and points[-1] == this_run
    assert [p.at for p in points] == sorted(p.at for p in points)
    with_this_run = [*records, RunRecord(NOW_MS, "t", "ok", open_by_severity={"high": 3})]
    assert history_points(with_this_run, this_run)[-1].open_by_severity == {"high": 3}
    chart = trend_chart(points)
    assert len(chart.rects) == HISTORY_RUNS + 1 and chart.summary.startswith(  # this run: two severities
        "Open violations over the last 30 run(s)"
    )


def test_writing_holds_a_bounded_amount_whatever_the_number_of_rows(tmp_path: Path) -> None:
    """50,000 rows over 20,000 images (the worst-images tally spills): the page is over 5 MB, what
    Python holds at its peak stays under 4 MiB (batches, read buffers, the tally's cap); the stream
    gets the page in pieces of about WRITE_BYTES."""

    class Counting:
        def __init__(self) -> None:
            self.writes: list[int] = []

        def write(self, data: bytes) -> None:
            self.writes.append(len(data))

        def close(self) -> str:
            return "counted"

        def abort(self) -> None:
            pass

    class Sink:
        stream = Counting()

        def open_stream(self, key: str, content_type: str) -> Counting:
            assert content_type == CONTENT_TYPE
            return self.stream

    rows = 50_000
    html_report.assets(), html_report._template()  # read and compiled once per process: not counted
    tracemalloc.start()
    try:
        page = HtmlReport(Sink(), "big.html", {"p-high": "High"})  # type: ignore[arg-type]
        page.rows.worst._in_memory = 4096
        for n in range(rows):
            v = violation(n, label=f"image-{n % 20_000}:1.0 on 2 hosts (node-a, node-b)")
            page.rows.add(v, "open", entry(v), NOW_MS)
        summary = {"status": "ok", "violations": {"by_severity": {"high": rows}}}
        assert page.write(summary, open_by_severity={"high": rows}) == "counted"
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    written = sum(Sink.stream.writes)
    assert written > rows * 100  # the rows are in the page
    assert peak < 4 * 1024 * 1024 < written, f"peak {peak:,} bytes for a page of {written:,}"
    assert max(Sink.stream.writes) < 2 * 1024 * 1024


# -- what "open" means on the page (the ledger's), and what the table could not list -----------------


class ById(HTMLParser):
    """The text inside each element that has an id (its descendants' text included)."""

    VOID = frozenset({"meta", "link", "br", "input", "img", "hr"})

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.texts: dict[str, str] = {}
        self._stack: list[str | None] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.VOID:
            return
        ident = dict(attrs).get("id")
        self._stack.append(ident)
        if ident:
            self.texts[ident] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag not in self.VOID and self._stack:
            self._stack.pop()

    def handle_data(self, data: str) -> None:
        for ident in self._stack:
            if ident:
                self.texts[ident] += data

    def text(self, ident: str) -> str:
        return " ".join(self.texts[ident].split())


def severity_bar_widths(html: str) -> dict[str, float]:
    bar = re.search(r'<svg class="sevbar".*?</svg>', html, re.S)
    assert bar is not None
    return {
        s: float(w) for s, w in re.findall(r'<rect class="(\w+)" x="[\d.]+" y="0" width="([\d.]+)"', bar[0])
    }


def test_the_headline_figures_are_the_ledgers_and_the_unread_part_is_said(tmp_path: Path) -> None:
    """A partial run found 3 high violations; the ledger holds 8 open (the digest and the trend say 8):
    the page's open figures are the ledger's, "found this run" is its own figure, and the 5 open
    entries in the unread part are said not to be listed."""
    summary = {**hostile_summary(), "overdue": {"total": 2, "by_severity": {"critical": 2}}}
    ledger = {"critical": 2, "high": 3, "medium": 3}
    _, html = write_page(tmp_path, summary, labels=("a", "b", "c"), open_by_severity=ledger)
    page = ById(html)
    assert page.text("open-total") == "8"
    assert page.text("found-total") == "3 found this run"
    assert severity_bar_widths(html) == {"critical": 25.0, "high": 37.5, "medium": 37.5}
    assert "critical 2" in page.text("open-by-severity") and "medium 3" in page.text("open-by-severity")
    unlisted = page.text("unlisted")
    assert unlisted.startswith(
        "5 open violations (critical 2, medium 3) are in parts this run could not read: they are not"
        " listed below"
    ), unlisted
    assert page.text("overdue-total") == "2"


def test_a_run_of_some_policies_says_the_open_violations_of_the_others_are_not_listed(tmp_path: Path) -> None:
    summary = {**hostile_summary(), "status": "ok", "problems": [], "errors": []}
    summary["policies"] = {"evaluated": ["p-high"], "invalid": []}
    page = HtmlReport(LocalReportSink(tmp_path), "r.html", {"p-high": "High", "p-other": "Other"})
    v = violation(1)
    page.rows.add(v, "open", entry(v), NOW_MS)
    policies = [
        {"id": pid, "title": pid, "severity": "high", "source": "x", "sha256": "0"}
        for pid in ("p-high", "p-other")
    ]
    html = Path(page.write(summary, open_by_severity={"high": 3}, policies=policies)).read_text()
    shown = ById(html)
    assert shown.text("open-total") == "3" and shown.text("found-total") == "1 found this run"
    assert shown.text("unlisted").startswith(
        "2 open violations (high 2) belong to policies this run did not evaluate: they are not listed below"
    )


def test_a_complete_run_lists_every_open_violation_and_says_nothing_is_missing(tmp_path: Path) -> None:
    summary = {**hostile_summary(), "status": "ok", "problems": [], "errors": []}
    _, html = write_page(tmp_path, summary, labels=("a", "b"), open_by_severity={"high": 2})
    page = ById(html)
    assert page.text("open-total") == "2" and "unlisted" not in page.texts


# -- a cap on the table: the worst rows, every row counted -------------------------------------------


def test_the_table_keeps_the_worst_rows_up_to_its_cap_and_counts_every_one() -> None:
    rng = random.Random(3)
    plan = ["medium"] * 3000 + ["high"] * 1500 + ["critical"] * 1200 + ["low"] * 700
    rng.shuffle(plan)  # fingerprint order: severities interleaved
    critical_labels = []
    with HtmlRows(max_rows=2500) as rows:
        for n, severity in enumerate(plan):
            v = violation(n, severity=severity, policy=f"p-{severity}")
            rows.add(v, "open", entry(v), NOW_MS)
            if severity == "critical":
                critical_labels.append(v.label)
        for n in range(50):
            gone = entry(violation(10_000 + n))
            gone.status = "resolved"
            rows.add_resolved(gone)
        back = rows_of(rows)
        assert len(rows) == 6450 and rows.shown == 2500
        assert [row[0] for row in back] == [0] * 1200 + [1] * 1300  # every critical, then high
        assert sorted(row[2] for row in back[:1200]) == sorted(critical_labels)
        assert 2 not in {row[6] for row in back}  # no room left for the resolved
        by_rank = [sum(counts[rank] for counts in rows.open_counts) for rank in range(5)]
        assert by_rank == [1200, 1500, 3000, 700, 0]  # the counts (and charts) cover every row


def test_rows_no_cap_could_show_are_not_even_spilled() -> None:
    """Once the worse rows fill the cap, a less severe batch is dropped instead of written: the
    temporary file holds about the cap, whatever the number of rows (Lambda's /tmp)."""
    with HtmlRows(max_rows=2500) as rows:
        for n in range(3000):
            v = violation(n, severity="critical")
            rows.add(v, "open", entry(v), NOW_MS)
        for n in range(3000, 20_000):
            v = violation(n, severity="medium")
            rows.add(v, "open", entry(v), NOW_MS)
        back = rows_of(rows)
        assert len(back) == 2500 and {row[0] for row in back} == {0}
        assert rows.spilled == 2500  # rows written to the temporary files
        assert len(rows) == 20_000


def test_less_severe_rows_spilled_first_give_way_to_worse_ones() -> None:
    """The other order: medium rows fill the files first, then critical ones come. The medium lines
    the cap can no longer show are cut off their file, which stays near the cap all along."""
    with HtmlRows(max_rows=2500) as rows:
        most = 0
        for n in range(12_000):
            v = violation(n, severity="medium" if n < 6000 else "critical")
            rows.add(v, "open", entry(v), NOW_MS)
            most = max(most, rows.spilled)
        assert most <= 2500 + 2 * BATCH
        back = rows_of(rows)
        assert [row[0] for row in back] == [0] * 2500


def test_a_capped_table_says_so_and_where_every_row_is(tmp_path: Path) -> None:
    page = HtmlReport(LocalReportSink(tmp_path), "r.html", {"p-high": "High"}, max_rows=10)
    for n in range(25):
        v = violation(n)
        page.rows.add(v, "open", entry(v), NOW_MS)
    csv = "s3://bucket/imagewatch/t/2026/12/01/run.violations.csv.gz"
    html = Path(page.write({"status": "ok"}, open_by_severity={"high": 25}, csv=csv)).read_text()
    shown = ById(html)
    assert shown.text("row-cap") == (
        f"The table holds the worst 10 of 25 rows (most severe first); the CSV has all of them: {csv}"
    )
    data = next(t for _, a, t in Page(html).blocks if a.get("id") == "report-rows")
    assert len(json.loads(data)) == 10
    assert shown.text("open-total") == "25"


# -- exemptions: the true count beside the first subjects ---------------------------------------------


def test_an_exemption_over_the_subject_cap_says_its_true_count_and_that_the_first_are_shown(
    tmp_path: Path,
) -> None:
    from imagewatch.policy.evaluate import SUBJECTS_CAP, ExemptionReport
    from imagewatch.policy.exemptions import Exemption
    from imagewatch.run import note_dict

    exemption = Exemption("p-high", "/exempt/0", "migration", "ops", "2026-12-10", NOW_MS + DAY_MS, None)  # type: ignore[arg-type]
    subjects = tuple(f"img-{n}" for n in range(SUBJECTS_CAP))
    note = note_dict(
        ExemptionReport(exemption, subjects, 250, tuple(f"app-{n}:1" for n in range(SUBJECTS_CAP)))
    )
    assert note["records"] == 250 and len(note["subjects"]) == SUBJECTS_CAP
    summary = {**hostile_summary(), "exemptions": {"applied": 250, "expired": [], "expiring_soon": [note]}}
    exempted = [
        {"policy_id": "p-high", "pointer": "/exempt/0", "reason": "migration", "owner": "ops",
         "expires": "2026-12-10", "subject": s, "label": f"app-{n}:1"}
        for n, s in enumerate(subjects)
    ]  # fmt: skip
    _, html = write_page(tmp_path, summary, exempted=exempted)
    text = ById(html).text("exemptions")
    assert "covers 250 records of at least 100 subjects (the first 100 shown)" in text, text
    assert "app-99:1" in text  # the first 100, listed
    assert "at least 100 subjects (the first 100 kept)" in text  # the applied exemption's row
    assert "covers 100 subject(s)" not in text


# -- accessibility: readable severity pills ----------------------------------------------------------


def _luminance(colour: str) -> float:
    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    digits = colour[1:] if len(colour) == 7 else "".join(c * 2 for c in colour[1:])
    r, g, b = (int(digits[i : i + 2], 16) / 255 for i in (0, 2, 4))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def _contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


HEX = r"(#[0-9a-fA-F]{6}\b|#[0-9a-fA-F]{3}\b)"


def test_every_severity_pill_is_readable_at_its_size() -> None:
    """WCAG AA: 4.5:1 for the pills' 12 px text, each pill's text colour on its fill (from report.css)."""
    from imagewatch.violation import SEVERITIES

    css = re.sub(r"/\*.*?\*/", "", (html_report.TEMPLATES / "report.css").read_text(), flags=re.S)
    variables = dict(re.findall(rf"--([\w-]+):\s*{HEX}", css))
    rules = {
        selector.strip(): body for selector, body in re.findall(r"([^{}]+)\{([^}]*)\}", css)
    }  # one selector per rule here

    def colour(selector: str, prop: str) -> str | None:
        found = re.search(rf"(?:^|[;\s]){prop}:\s*{HEX}", rules.get(selector, ""))
        return found[1] if found else None

    base = colour(".pill", "color")
    assert base is not None
    for severity in SEVERITIES:
        background = colour(f".pill.{severity}", "background") or variables[severity]
        text = colour(f".pill.{severity}", "color") or base
        assert _contrast(text, background) >= 4.5, (severity, text, background)


# -- the page that says the page could not be written -------------------------------------------------


def test_the_placeholder_page_names_the_evidence_and_runs_nothing() -> None:
    from imagewatch.report.html_report import placeholder_page

    files = {
        "json": f"/r/{HOSTILE[0]}.json",
        "jsonl": "/r/x.violations.jsonl.gz",
        "csv": "/r/x.violations.csv.gz",
    }
    html = placeholder_page({"run_id": "run-1", "target": HOSTILE[1], "started_at": "2026"}, files).decode()
    page = Page(html)
    assert not [tag for tag, _ in page.tags if tag == "script"]
    [csp] = [attrs["content"] for tag, attrs in page.tags if tag == "meta" and attrs.get("http-equiv")]
    assert csp is not None and "default-src 'none'" in csp and "unsafe" not in csp
    style = page.block("style")
    assert f"style-src 'sha256-{base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()}'" in csp
    shown = " ".join(page.text)
    assert "could not be written" in shown and files["json"] in shown and files["csv"] in shown
    assert HOSTILE[1] in shown and "<img" not in html
