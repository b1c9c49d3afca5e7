"""The HTML report in a real browser: headless Chromium (Debian's, driven by Playwright) opens reports
that real runs wrote (``check()`` against the HSS emulator, a local report folder), and one of 100,000
synthetic rows rendered through the same writer (``support.html_reports.synthetic_report``).

No console error (a CSP violation is one), no request but the file itself, the severity filter and the
sorting change the rows as they should, a hostile image name stays text, the page fits a phone, and
100,000 rows keep one page of rows in the DOM. Times are printed, never asserted. Chromium missing is
a failure that says how to install it, never a skip.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from imagewatch.emulator import Emulator, Fleet
from support.emulator_support import ManualClock
from support.html_reports import chromium, emulator_env, run_check, synthetic_report
from support.known_fleet import e2e_policy_folder, known_fleet

SCRIPT_NAME = "<script>alert(1)</script>"
IMG_NAME = '"><img src=x onerror=alert(1)>'
DAY = 86_400.0


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as running:  # raises with how to install Chromium when it is missing
        yield running


@pytest.fixture(scope="module")
def real_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two daily runs over the tests' known fleet: the second finds two hostile images (new) and no
    longer finds one image (resolved). Its summary."""
    folder = tmp_path_factory.mktemp("browser-run")
    policies = e2e_policy_folder(folder)
    clock = ManualClock(time.time() - DAY)
    fleet = Fleet.from_records(known_fleet(int(clock() * 1000)))
    with Emulator(fleet) as hss:
        env = emulator_env(hss, folder, policies)
        run_check(env, clock)
        a = fleet.find("a@h1")
        assert a is not None
        hostile = [
            {**a.record, "image_id": "x1", "image_name": SCRIPT_NAME, "host_name": "<b>node</b>",
             "malicious_file_num": 3},
            {**a.record, "image_id": "x2", "image_name": IMG_NAME, "image_version": "<i>v</i>"},
        ]  # fmt: skip
        fleet.insert(hostile)
        fleet.delete(["b@h1"])
        clock.advance(DAY)
        return run_check(env, clock)


class Opened:
    """A page with everything it said and asked for recorded."""

    def __init__(self, browser: Any, path: Path, width: int = 1280) -> None:
        self.page = browser.new_page(viewport={"width": width, "height": 900})
        self.problems: list[str] = []
        self.requests: list[str] = []
        self.dialogs: list[str] = []
        self.page.on(
            "console", lambda m: self.problems.append(f"{m.type}: {m.text}") if m.type == "error" else None
        )
        self.page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.on("dialog", lambda dialog: (self.dialogs.append(dialog.message), dialog.dismiss()))
        started = time.perf_counter()
        self.page.goto(path.as_uri())
        self.page.wait_for_selector("#rows-table[data-ready]")
        self.load_s = time.perf_counter() - started
        self.renders = 1

    def timing(self, name: str) -> float:
        return float(self.page.get_attribute("#rows-table", f"data-{name}-ms") or "nan")

    def act(self, action: Any) -> float:
        """Do ``action`` (a click, a search) and wait for the table to render again; the wall time."""
        started = time.perf_counter()
        action()
        self.renders += 1
        self.page.wait_for_selector(f"#rows-table[data-renders='{self.renders}']")
        return time.perf_counter() - started

    def column(self, css: str) -> list[str]:
        return self.page.locator(f"#rows-body tr {css}").all_inner_texts()

    def matching(self) -> int:
        return int(self.page.get_attribute("#rows-table", "data-matching") or "-1")

    def close(self) -> None:
        self.page.close()


@pytest.fixture(scope="module")
def partial_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The reviewer's run: a complete one, then a day later HSS answers 503 to the second listing
    (of the two the policies plan), so the run reads the first only. Its summary and the run history
    it left."""
    from imagewatch.retry import RetryPolicy

    folder = tmp_path_factory.mktemp("partial-run")
    policies = e2e_policy_folder(folder)
    clock = ManualClock(time.time() - DAY)
    with Emulator(Fleet.from_records(known_fleet(int(clock() * 1000)))) as hss:
        env = emulator_env(hss, folder, policies)
        run_check(env, clock)
        clock.advance(DAY)
        hss.faults.error(503, times=None, after=1)

        def no_retries(deps: Any) -> None:
            deps.hss.retry = RetryPolicy(max_attempts=1)

        return run_check(env, clock, adjust=no_retries)


def test_a_partial_runs_page_says_open_as_the_ledger_does_and_what_it_could_not_list(
    browser: Any, partial_run: dict[str, Any]
) -> None:
    """Open is the ledger's (8: critical 2, high 3, medium 3, as the digest and the trend say); the
    table lists the 3 found, and the page says the 5 others are in the part the run could not read."""
    assert partial_run["status"] == "partial" and partial_run["violations"]["total"] == 3
    page = Opened(browser, Path(partial_run["report"]["html"]))
    try:
        assert page.problems == []
        assert page.page.inner_text("#open-total") == "8"
        assert page.page.inner_text("#found-total") == "3 found this run"
        assert " ".join(page.page.inner_text("#open-by-severity").split()) == "critical 2 high 3 medium 3"
        assert page.page.locator("#unlisted").is_visible()
        assert page.page.inner_text("#unlisted").startswith(
            "5 open violations (critical 2, medium 3) are in parts this run could not read"
        )
        assert page.matching() == 3  # the table: what this run found (the default view)
        tips = page.page.locator("svg.chart rect title").all_text_contents()
        assert any(tip.endswith("partial: critical 2, high 3, medium 3") for tip in tips)  # the trend
    finally:
        page.close()


@pytest.fixture
def opened(browser: Any, real_run: dict[str, Any]) -> Iterator[Opened]:
    page = Opened(browser, Path(real_run["report"]["html"]))
    yield page
    page.close()


def test_the_report_of_a_real_run_loads_with_no_error_and_no_request(
    opened: Opened, real_run: dict[str, Any]
) -> None:
    assert opened.problems == []  # a CSP violation would be a console error
    assert opened.requests == [Path(real_run["report"]["html"]).as_uri()]
    assert opened.page.inner_text("#run-status") == "Complete"
    found = real_run["violations"]["total"]  # a complete run of every policy: all that is open, found
    assert opened.matching() == found and len(opened.column("td.image")) == found
    assert opened.page.inner_text("#open-total") == str(found)
    assert opened.page.locator("#unlisted").count() == 0


def test_the_pages_csp_refuses_a_script_it_did_not_bring(opened: Opened) -> None:
    """Were any text ever to become a script, the browser would not run it (and would say so)."""
    opened.page.evaluate(
        "() => { const s = document.createElement('script'); s.textContent = 'window.injected = 1';"
        " document.body.appendChild(s); }"
    )
    assert opened.page.evaluate("window.injected") is None
    assert any("Content Security Policy" in problem for problem in opened.problems)


def test_the_severity_filter_shows_that_severity_only(opened: Opened, real_run: dict[str, Any]) -> None:
    by_severity = real_run["violations"]["by_severity"]
    opened.act(lambda: opened.page.click("#sev-filter button[data-severity=critical]"))
    shown = opened.page.locator("#rows-body tr").evaluate_all("rows => rows.map(r => r.dataset.severity)")
    assert shown == ["critical"] * by_severity["critical"]
    opened.act(lambda: opened.page.click("#sev-filter button[data-severity=high]"))  # and high too
    shown = opened.page.locator("#rows-body tr").evaluate_all("rows => rows.map(r => r.dataset.severity)")
    assert shown == ["critical"] * by_severity["critical"] + ["high"] * by_severity["high"]
    opened.act(lambda: opened.page.select_option("#status-filter", "new"))
    assert opened.matching() == real_run["new"] == 3  # the hostile images: one critical and high, one high
    opened.act(lambda: opened.page.select_option("#status-filter", "resolved"))
    assert opened.matching() == real_run["resolved"] == 1  # image b's malicious files: critical
    opened.act(lambda: opened.page.click("#sev-filter button[data-severity=critical]"))
    assert opened.matching() == 0  # high alone
    opened.act(lambda: opened.page.click("#sev-filter button[data-severity=high]"))
    assert opened.matching() == 1  # no severity chosen: every one


def test_sorting_by_a_column_orders_the_rows(opened: Opened) -> None:
    opened.act(lambda: opened.page.click("th[data-key=label] button"))
    labels = opened.column("td.image")
    assert labels == sorted(labels, key=str.lower) and len(set(labels)) > 3
    assert opened.page.get_attribute("th[data-key=label]", "aria-sort") == "ascending"
    opened.act(lambda: opened.page.click("th[data-key=label] button"))
    assert opened.column("td.image") == sorted(labels, key=str.lower, reverse=True)
    opened.act(lambda: opened.page.click("th[data-key=severity] button"))
    order = {"critical": 0, "high": 1, "medium": 2}
    severities = [order[s] for s in opened.column("td.sev")]
    assert severities == sorted(severities) and severities[0] < severities[-1]


def test_a_hostile_image_name_stays_text(opened: Opened) -> None:
    page = opened.page
    opened.act(lambda: (page.fill("#search", "alert(1)"), page.press("#search", "Enter")))
    assert sorted(set(opened.column("td.image"))) == [
        f"{IMG_NAME}:<i>v</i> on 1 host (node-h1)",
        f"{SCRIPT_NAME}:1.0 on 1 host (<b>node</b>)",  # two policies: two rows
    ]
    assert opened.dialogs == []
    assert page.evaluate("document.scripts.length") == 3  # the two data blocks and the page's own
    assert page.locator("img, i, #rows-body b").count() == 0  # nothing the names spell became an element
    assert page.locator("svg text", has_text=SCRIPT_NAME).count() == 1  # the worst images chart, as text
    assert opened.problems == []


def test_the_report_fits_a_phone(browser: Any, real_run: dict[str, Any]) -> None:
    phone = Opened(browser, Path(real_run["report"]["html"]), width=390)
    try:
        assert phone.page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling
        assert phone.page.locator("#rows-table thead").evaluate("e => getComputedStyle(e).display") == "none"
        # the cards are display:block, which drops a table's meaning in some browsers (WebKit): the
        # roles say it (and Chromium's accessibility tree has the cells as cells)
        assert phone.page.get_attribute("#rows-table", "role") == "table"
        rows = phone.page.locator("#rows-body > tr[role=row]")
        assert rows.count() == real_run["violations"]["total"]
        assert rows.first.locator("> td[role=cell]").count() == 8
        assert phone.page.locator("#rows-table thead th[role=columnheader]").count() == 8
        cdp = phone.page.context.new_cdp_session(phone.page)
        tree = cdp.send("Accessibility.getFullAXTree")["nodes"]
        cells = [n for n in tree if n.get("role", {}).get("value") == "cell" and not n.get("ignored")]
        assert len(cells) >= 8 * real_run["violations"]["total"]
        phone.act(lambda: phone.page.select_option("#sort-by", "label"))  # no headers to click: a select
        labels = phone.column("td.image")
        assert labels == sorted(labels, key=str.lower) and labels[0] != labels[-1]
        assert phone.problems == []
    finally:
        phone.close()


def test_a_hundred_thousand_rows_stay_responsive(
    browser: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """100,000 synthetic rows (and 500 resolved) through the report's writer: one page of rows in the
    DOM, filters and sorts over all of them. The figures are printed (never asserted)."""
    started = time.perf_counter()
    path, counts = synthetic_report(tmp_path, 100_000, resolved=500)
    written_s = time.perf_counter() - started
    big = Opened(browser, path)
    figures: dict[str, str] = {}

    def timed(name: str, action: Any, measure: str) -> None:
        wall = big.act(action)
        figures[name] = f"{wall * 1000:.0f} ms ({measure} {big.timing(measure):.0f} ms in the page)"

    try:
        assert big.problems == [] and big.requests == [path.as_uri()]
        assert big.matching() == 100_000 and big.page.locator("#rows-body tr").count() == 100
        assert "of 100,000" in big.page.inner_text("#count")
        figures["load"] = (
            f"{big.load_s * 1000:.0f} ms (script {big.timing('load'):.0f} ms: JSON.parse"
            f" {big.timing('parse'):.0f} ms, first sort {big.timing('sort'):.0f} ms)"
        )
        timed(
            "severity filter", lambda: big.page.click("#sev-filter button[data-severity=critical]"), "filter"
        )
        assert big.matching() == counts["by_severity"]["critical"]
        assert big.column("td.sev") == ["critical"] * 100
        big.act(lambda: big.page.click("#sev-filter button[data-severity=critical]"))

        timed("sort by hosts", lambda: big.page.click("th[data-key=hosts] button"), "sort")
        assert int(big.column("td.num")[0]) == counts["max_hosts"]
        timed("sort by image", lambda: big.page.click("th[data-key=label] button"), "sort")
        labels = big.column("td.image")
        assert labels == sorted(labels, key=str.lower)

        search = "(case 4242)"
        timed(
            "first search",
            lambda: (big.page.fill("#search", search), big.page.press("#search", "Enter")),
            "filter",
        )
        assert big.matching() == 1 and big.column("td.message")[0].endswith(search)
        big.act(lambda: (big.page.fill("#search", ""), big.page.press("#search", "Enter")))
        timed("last page", lambda: big.page.click("#last"), "render")
        assert big.page.inner_text("#page-info") == "Page 1,000 of 1,000"
        assert big.page.locator("#rows-body tr").count() == 100  # the DOM holds one page, wherever it is
    finally:
        big.close()
    with capsys.disabled():
        print(
            f"\nHTML report of 100,000 rows: {path.stat().st_size / 1e6:.1f} MB, written in {written_s:.2f} s"
        )
        for name, figure in figures.items():
            print(f"  Chromium, {name}: {figure}")
