"""Where a digest's report link leads: a presigned URL in AWS, the HTML report's file locally.

``LocalReportSink.link`` gives the report's absolute ``file:`` URI. Chat services neither open such a
link nor accept it as a button (Discord refuses an embed whose url is not http(s)), so every platform
shows the path as text in its closing line; the generic webhook carries the URI as ``report_url``.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import pytest
from msgspec import structs

from imagewatch.alerts.channels import PLATFORMS
from imagewatch.alerts.channels.common import local_report
from imagewatch.report.sink import LocalReportSink
from imagewatch.standins.chat.base import strings
from support.digests import digest_of, item

KEY = "imagewatch/prod/2026/12/01/2026-12-01T08:00:00Z-ab12cd34ef56.html"
NAMES = sorted({module.NAME for module in PLATFORMS.values()})


def test_a_local_report_links_to_its_absolute_file(tmp_path: Path) -> None:
    sink = LocalReportSink(tmp_path / "my reports")
    link = sink.link(KEY)
    assert link is not None and link.startswith("file:///") and " " not in link
    assert local_report(link) == str(tmp_path / "my reports" / KEY)  # the path, spaces and all


@pytest.mark.parametrize("name", NAMES)
def test_every_platform_shows_a_local_reports_path_as_text_and_no_file_link(
    tmp_path: Path, name: str
) -> None:
    link = LocalReportSink(tmp_path).link(KEY)
    payload = PLATFORMS[name].render(digest_of([item(1)], report_url=link))
    path = str(tmp_path / KEY)
    if name == "generic":  # a program reads it: the URI as it is
        assert payload["report_url"] == link
        return
    assert path in html.unescape(strings(payload)).replace("\\", ""), name  # (markup escapes aside)
    assert "file:" not in json.dumps(payload), name  # no button, embed url or markdown link to it


@pytest.mark.parametrize("name", NAMES)
def test_an_https_report_link_stays_a_link(name: str) -> None:
    url = "https://reports.example/run-1/report.html?X-Amz-Signature=abc"
    payload = PLATFORMS[name].render(digest_of([item(1)], report_url=url))
    assert url in json.dumps(payload), name
    assert "report https:" not in strings(payload), name  # a link, not the closing line's text


@pytest.mark.parametrize("name", [n for n in NAMES if n != "generic"])
def test_a_long_local_path_is_shown_whole_beside_a_long_closing_line(tmp_path: Path, name: str) -> None:
    """A report folder deep in a file system (a path of about 600 characters), a digest that lists
    only part of its items ("…and 495 more …") and a long run id: the path keeps a line and a budget
    of its own, so no platform cuts it."""
    root = tmp_path.joinpath(*(f"reports-of-the-compliance-team-{n:02d}" for n in range(14)))
    link = LocalReportSink(root).link(KEY)
    items = [item(n) for n in range(500)]
    digest = structs.replace(digest_of(items, report_url=link), run_id="r" * 80)
    payload = PLATFORMS[name].render(digest)
    path = str(root / KEY)
    assert len(path) > 500
    shown = html.unescape(strings(payload)).replace("\\", "").replace("\u2060", "")
    assert path in shown, name
