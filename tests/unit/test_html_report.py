"""The HTML report's renderer: rows spilled and read back, escaping for the JSON block and the page, the
CSP that allows only the page's own blocks, bounded memory, the worst-images tally, and the pages a
run can end with (nothing found, partial, failed). The page in a real browser: tests/e2e."""

from __future__ import annotations

import base64
import hashlib
import json
import os
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
    html = Path(page.write({"status": "ok", "target": "t \ud800"})).read_text(encoding="utf-8")
    assert "t ?" in html  # the page's text: a replacement character; the data block keeps the escape


def test_rows_are_spilled_in_batches_and_read_back_whole() -> None:
    with HtmlRows() as rows:
        for n in range(3 * BATCH + 7):
            rows.add(violation(n), "open")
            assert len(rows._batch) < BATCH  # never more than a batch held
        assert rows.rows == 3 * BATCH
        back = rows_of(rows)
        assert len(back) == 3 * BATCH + 7 and back[-1][2] == violation(3 * BATCH + 6).label


def _open_temp_files() -> int:
    """Descriptors of this process open on a file in the temp folder (Linux shows an unlinked or
    O_TMPFILE one as ``/tmp/#123 (deleted)``)."""
    temp = os.path.realpath(tempfile.gettempdir())
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}").startswith(temp)
        except OSError:
            continue
    return count


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts open files through Linux's /proc")
def test_the_spill_file_is_gone_when_closed_or_aborted(tmp_path: Path) -> None:
    before = _open_temp_files()
    page = HtmlReport(LocalReportSink(tmp_path), "r.html", {"p-high": "High"})
    for n in range(2 * BATCH):
        page.rows.add(violation(n), "open")
    assert _open_temp_files() == before + 1
    page.abort()
    page.abort()  # idempotent
    assert _open_temp_files() == before
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
    folder: Path, summary: dict[str, Any], labels: tuple[str, ...] = (), history: list[Point] | None = None
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
    exempted = [{"policy_id": "p-high", "pointer": "/exempt/1", "reason": HOSTILE[0], "owner": HOSTILE[1],
                 "expires": "2027-01-01", "subject": "s", "label": HOSTILE[6]}]  # fmt: skip
    where = page.write(
        summary,
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
    *("button", "select", "option", "input", "label"),
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
    html = Path(page.write(summary)).read_text()
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
    points = history_points(
        iter(records), {"status": "partial", "violations": {"by_severity": {"high": 7}}}, NOW_MS
    )
    assert len(points) == HISTORY_RUNS and points[-1] == Point(NOW_MS, "partial", {"high": 7})
    assert [p.at for p in points] == sorted(p.at for p in points)
    with_this_run = [*records, RunRecord(NOW_MS, "t", "ok", open_by_severity={"high": 3})]
    assert history_points(with_this_run, {}, NOW_MS)[-1].open_by_severity == {"high": 3}
    chart = trend_chart(points)
    assert len(chart.rects) == HISTORY_RUNS and chart.summary.startswith(
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
        assert page.write({"status": "ok", "violations": {"by_severity": {"high": rows}}}) == "counted"
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    written = sum(Sink.stream.writes)
    assert written > rows * 100  # the rows are in the page
    assert peak < 4 * 1024 * 1024 < written, f"peak {peak:,} bytes for a page of {written:,}"
    assert max(Sink.stream.writes) < 2 * 1024 * 1024
