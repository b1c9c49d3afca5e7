"""The HTML report as runs write it: beside the JSON, linked from the digest, never for a dry run, with
no secret in it, no temporary file left when a run is cut, and a report store that refuses the page
costing the page only. What the page does in a browser: test_html_report_browser.py."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest

from imagewatch.commands.exit_codes import ExitCode, exit_code_for
from imagewatch.handler import lambda_handler
from imagewatch.local_context import LocalContext
from imagewatch.standins.webhook_sink import WebhookSink
from support.emulator_support import ManualClock
from support.html_reports import run_check
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
    assert json.loads(Path(report["json"]).read_text())["html_report"] == str(page)
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


def _temp_files_open() -> int:
    temp = os.path.realpath(tempfile.gettempdir())
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}").startswith(temp)
        except OSError:
            continue
    return count


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
    before = _temp_files_open()
    with pytest.raises(Cut):
        lambda_handler(EVENT, LocalContext())
    assert _temp_files_open() == before  # the spill file closed (and, never named, gone)
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
    def refusing(deps: Any) -> None:
        deps.reports = RefusesPages(deps.reports)

    summary = run_check(env, ManualClock(), EVENT, adjust=refusing)
    assert "html" not in summary["report"] and Path(summary["report"]["json"]).is_file()
    [error] = summary["store_errors"]
    assert error.startswith("HTML report not written") and "No space left on device" in error
    assert summary["store_errors"][0] in json.loads(Path(summary["report"]["json"]).read_text())["problems"]
    assert exit_code_for(summary) == ExitCode.STORE
    assert summary["notifications"]["sent"] == 1  # the alerts went out before
