"""The HTML report as runs write it: beside the JSON, linked from the digest, never for a dry run, with
no secret in it, no temporary file left when a run is cut, and a report store that refuses the page
costing the page only. What the page does in a browser: test_html_report_browser.py."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from imagewatch.alerts.channels.common import local_report
from imagewatch.commands.exit_codes import ExitCode, exit_code_for
from imagewatch.handler import lambda_handler
from imagewatch.local_context import LocalContext
from imagewatch.standins.webhook_sink import WebhookSink
from support.emulator_support import ManualClock
from support.html_reports import open_temp_files, run_check
from support.known_fleet import EXPECTED, ROOT

EVENT = json.loads((ROOT / "events" / "scheduled.json").read_text())


def html_files(env: dict) -> list[Path]:
    return sorted(Path(env["REPORT_DIR"]).rglob("*.html*"))


def test_a_run_writes_its_html_report_beside_the_json_and_the_digest_links_it(
    env: dict, sink: WebhookSink
) -> None:
    summary = lambda_handler(EVENT, LocalContext())
    report = summary["report"]
    page = Path(report["html"])
    assert page.is_file() and report["json"] == str(page.with_suffix(".json"))
    document = json.loads(Path(report["json"]).read_text())
    assert Path(env["REPORT_DIR"], document["html_report_key"]) == page  # named before it is written
    text = page.read_text(encoding="utf-8")
    assert summary["run_id"] in text and f"{len(EXPECTED)} rows" in text
    [digest] = [request.json() for request in sink.received]
    assert digest["report_url"] == page.as_uri()  # the generic webhook: the local file's URI


def test_a_dry_run_writes_no_html_report(env: dict, sink: WebhookSink) -> None:
    summary = lambda_handler({**EVENT, "dry_run": True}, LocalContext())
    assert "report" not in summary and html_files(env) == []


def test_no_secret_reaches_the_html_report(env: dict, sink: WebhookSink) -> None:
    """The webhook's URL (its token), its signing secret and the HSS key pair, whatever the run did."""
    lambda_handler(EVENT, LocalContext())
    [page] = html_files(env)
    text = page.read_text(encoding="utf-8")
    for secret in (env["WEBHOOK_URL"], sink.token, env["WEBHOOK_SECRET"], env["HSS_SK"], env["HSS_AK"]):
        assert secret not in text


class Cut(Exception):
    pass


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts open files through Linux's /proc")
def test_a_run_cut_after_the_rows_were_collected_leaves_no_file_behind(
    env: dict, sink: WebhookSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The merge fed every row to the page, then the run dies (here: the notify stage raises)."""
    import imagewatch.run as run

    def cut(*args: Any, **kwargs: Any) -> None:
        raise Cut("the run is cut")

    monkeypatch.setattr(run.Notifier, "send", cut)
    before = open_temp_files()
    with pytest.raises(Cut):
        lambda_handler(EVENT, LocalContext())
    assert open_temp_files() == before  # the spill file closed (and, never named, gone)
    assert html_files(env) == [] and not list(Path(env["REPORT_DIR"]).rglob("*.tmp"))


class RefusesPages:
    """A report sink whose store refuses the HTML object (a full disk, an S3 error)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def put(self, key: str, body: bytes, content_type: str) -> str:
        return self.inner.put(key, body, content_type)

    def open_stream(self, key: str, content_type: str) -> Any:
        if key.endswith(".html"):
            raise OSError(28, "No space left on device")
        return self.inner.open_stream(key, content_type)

    def link(self, key: str) -> str | None:
        return self.inner.link(key)


def test_a_store_that_refuses_the_page_costs_the_page_only(env: dict, sink: WebhookSink) -> None:
    """The digest linked the page before it was written: where the store refuses the page, a small
    placeholder (no data, the same CSP) takes its key and names the JSON and CSV reports."""

    def refusing(deps: Any) -> None:
        deps.reports = RefusesPages(deps.reports)

    summary = run_check(env, ManualClock(), EVENT, adjust=refusing)
    report = summary["report"]
    assert "html" not in report and Path(report["json"]).is_file()
    [error] = summary["store_errors"]
    assert error.startswith("HTML report not written") and "No space left on device" in error
    assert summary["store_errors"][0] in json.loads(Path(report["json"]).read_text())["problems"]
    assert exit_code_for(summary) == ExitCode.STORE
    assert summary["notifications"]["sent"] == 1  # the alerts went out before
    [digest] = [request.json() for request in sink.received]
    placeholder = Path(local_report(digest["report_url"]) or "")
    text = placeholder.read_text(encoding="utf-8")  # the link leads somewhere
    assert "could not be written" in text and report["json"] in text and report["csv"] in text
    assert "<script" not in text and "default-src 'none'" in text
    assert "a placeholder page" in error


class RefusesEveryHtml(RefusesPages):
    def put(self, key: str, body: bytes, content_type: str) -> str:
        if key.endswith(".html"):
            raise OSError(28, "No space left on device")
        return self.inner.put(key, body, content_type)


def test_a_store_that_refuses_the_placeholder_too_says_so(
    env: dict, sink: WebhookSink, caplog: pytest.LogCaptureFixture
) -> None:
    summary = run_check(
        env,
        ManualClock(),
        EVENT,
        adjust=lambda deps: setattr(deps, "reports", RefusesEveryHtml(deps.reports)),
    )
    [error] = summary["store_errors"]
    assert error.startswith("HTML report not written") and "nothing is at its link" in error
    assert "placeholder" in caplog.text and html_files(env) == []
    document = json.loads(Path(summary["report"]["json"]).read_text())
    assert error in document["problems"] and "html_report_key" not in document


def _broken_page(*args: Any, **kwargs: Any) -> Any:
    raise ZeroDivisionError("a bug in the page")


def test_a_page_that_breaks_costs_the_page_only(
    env: dict, sink: WebhookSink, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A bug in the page (here: its rendering raises) after the alerts went out: the JSON summary is
    written and remembered, the problem named (exit 5), the traceback logged."""
    from imagewatch.alerts.sqlite_store import SqliteStore
    from imagewatch.report import html_report
    from imagewatch.settings import Settings
    from imagewatch.summary_run import REPORT_MARKER

    monkeypatch.setattr(html_report, "render", _broken_page)
    summary = run_check(env, ManualClock(), EVENT)
    report = summary["report"]
    assert "html" not in report and Path(report["json"]).is_file() and Path(report["csv"]).is_file()
    [error] = summary["store_errors"]
    assert error.startswith("HTML report not written") and "ZeroDivisionError: a bug in the page" in error
    assert error in json.loads(Path(report["json"]).read_text())["problems"]
    assert exit_code_for(summary) == ExitCode.STORE and summary["notifications"]["sent"] == 1
    assert "Traceback" in caplog.text and "_broken_page" in caplog.text
    store = SqliteStore(env["STATE_PATH"])
    try:  # the weekly summary links the JSON, which is there
        key = store.marker(Settings.from_env(env).target, REPORT_MARKER)
    finally:
        store.close()
    assert key is not None and report["json"].endswith(key)


def test_a_run_stopped_while_writing_its_page_has_written_its_json_already(
    env: dict, sink: WebhookSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stop that is no error (Ctrl-C here; SIGTERM or a timeout alike) still stops the run, but
    the JSON summary came first."""
    from imagewatch.report import html_report

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(html_report, "render", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_check(env, ManualClock(time.time()), EVENT)
    [document] = Path(env["REPORT_DIR"]).rglob("*.json")
    written = json.loads(document.read_text())
    assert written["violations"]["total"] > 0 and written["html_report_key"].endswith(".html")
    assert html_files(env) == []


# -- "open" means what the ledger holds open, as the digest and the trend say -----------------------


def _no_retries(deps: Any) -> None:
    from imagewatch.retry import RetryPolicy

    deps.hss.retry = RetryPolicy(max_attempts=1)  # a 503 is final at once


def _page_figures(path: Path) -> dict[str, str]:
    from html.parser import HTMLParser

    class ById(HTMLParser):
        def __init__(self) -> None:
            super().__init__(convert_charrefs=True)
            self.texts: dict[str, str] = {}
            self.stack: list[str | None] = []

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag not in ("meta", "link", "br", "input"):
                self.stack.append(dict(attrs).get("id"))
                if self.stack[-1]:
                    self.texts[str(self.stack[-1])] = ""

        def handle_endtag(self, tag: str) -> None:
            if tag not in ("meta", "link", "br", "input") and self.stack:
                self.stack.pop()

        def handle_data(self, data: str) -> None:
            for ident in self.stack:
                if ident:
                    self.texts[ident] += data

    parser = ById()
    parser.feed(path.read_text(encoding="utf-8"))
    return {ident: " ".join(text.split()) for ident, text in parser.texts.items()}


def test_a_partial_runs_page_counts_open_as_the_digest_does(
    env: dict, sink: WebhookSink, hss: Any, fleet: Any
) -> None:
    """The reviewer's run: a complete run, then one where HSS answers 503 to the second listing. The
    page's open figures are the ledger's (8, as the digest and the run history say), its table lists
    the 3 found, and it says the 5 others are in the part it could not read."""
    clock = ManualClock(time.time() - 86_400)
    run_check(env, clock, EVENT)
    clock.advance(86_400)
    a = fleet.find("a@h1")
    fleet.insert([{**a.record, "image_id": "z1", "image_name": "shop/new-high"}])  # new: a digest
    hss.faults.error(503, times=None, after=1)  # the first listing (one page) passes, then 503s
    summary = run_check(env, clock, EVENT, adjust=_no_retries)
    assert summary["status"] == "partial" and summary["violations"]["by_severity"] == {"high": 4}
    [*_, digest] = [request.json() for request in sink.received]
    assert digest["open_by_severity"] == {"critical": 2, "high": 4, "medium": 3}
    figures = _page_figures(Path(summary["report"]["html"]))
    assert figures["open-total"] == "9" and figures["found-total"] == "4 found this run"
    assert figures["open-by-severity"] == "critical 2 high 4 medium 3"
    assert figures["unlisted"].startswith(
        "5 open violations (critical 2, medium 3) are in parts this run could not read: they are not"
        " listed below"
    )


def test_a_run_of_one_policy_says_the_others_open_violations_are_not_listed(
    env: dict, sink: WebhookSink
) -> None:
    clock = ManualClock(time.time() - 86_400)
    run_check(env, clock, EVENT)
    clock.advance(86_400)
    summary = run_check(env, clock, {"source": "manual", "action": "check", "policies": ["high-severity"]})
    assert summary["status"] == "ok" and summary["violations"]["total"] == 3
    figures = _page_figures(Path(summary["report"]["html"]))
    assert figures["open-total"] == str(len(EXPECTED)) and figures["found-total"] == "3 found this run"
    assert figures["unlisted"].startswith(
        f"{len(EXPECTED) - 3} open violations (critical 2, medium 3) belong to policies this run did not"
        " evaluate: they are not listed below"
    )


def test_the_trend_of_a_run_whose_history_could_not_be_read_is_the_ledgers(
    env: dict, sink: WebhookSink
) -> None:
    """Without the run history the trend shows this run only: its open ledger, not what it found."""
    from imagewatch.alerts.store import StateStoreError

    def no_history(deps: Any) -> None:
        def history(*args: Any) -> Any:
            raise StateStoreError("the history table is gone")

        deps.store.history = history

    clock = ManualClock(time.time() - 86_400)
    run_check(env, clock, EVENT)
    clock.advance(86_400)
    summary = run_check(env, clock, {"source": "manual", "action": "check", "policies": ["high-severity"]})
    del summary
    clock.advance(86_400)
    summary = run_check(
        env, clock, {"source": "manual", "action": "check", "policies": ["high-severity"]}, adjust=no_history
    )
    text = Path(summary["report"]["html"]).read_text(encoding="utf-8")
    assert "this run only: the run history could not be read" in text
    assert f"now {len(EXPECTED)} (" in text  # the trend's summary: the ledger's 8 open, not the 3 found
