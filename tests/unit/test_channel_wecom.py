"""WeCom: markdown content within 4096 bytes, ``errcode`` verdicts, escaping, URLs."""

from __future__ import annotations

import json

import pytest
from msgspec import structs

from imagewatch.alerts.channels import generic, platform_for, wecom
from imagewatch.alerts.channels.common import heading
from imagewatch.alerts.digest import HEADER
from imagewatch.alerts.text import utf8_len
from support.channel_checks import assert_hostile_defused, expected_more
from support.digests import big_digest, hostile_digest

URL = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"


def item_lines(content: str) -> list[str]:
    return [line for line in content.split("\n") if line.startswith("<font color=") and "**" in line]


def test_500_violations_fit_4096_content_bytes_worst_first_with_more_line() -> None:
    digest = big_digest()
    payload = wecom.render(digest)
    assert payload == {"msgtype": "markdown", "markdown": {"content": payload["markdown"]["content"]}}
    content = payload["markdown"]["content"]
    assert utf8_len(content) <= wecom.MAX_CONTENT_BYTES
    assert content.startswith(f"**{HEADER}: ")
    lines = item_lines(content)
    assert 3 < len(lines) <= wecom.MAX_ITEMS
    for line, expected in zip(lines, digest.items, strict=False):
        assert f"**{heading(expected)}**" in line
    assert lines[0].startswith('<font color="warning">**NEW · CRITICAL**</font>')
    closing = content.split("\n")[-2]  # the report link is the last line
    run = "run run-2026-11-26T08:00Z · 2026-11-26T08:00:00Z"
    assert closing == f'<font color="comment">{expected_more(digest, len(lines))} · {run}</font>'
    assert content.split("\n")[-1] == "[report](https://reports.example/run-1/report.html?X-Sig=abc%281%29)"


def test_multibyte_text_is_measured_in_bytes() -> None:
    digest = big_digest(200)
    chinese = structs.replace(digest, target="华北-北京四/项目" * 20)
    content = wecom.render(chinese)["markdown"]["content"]
    assert len(content) < utf8_len(content) <= wecom.MAX_CONTENT_BYTES


def test_hostile_text_cannot_mention_or_colour() -> None:
    payload = wecom.render(hostile_digest(mentions=("zhangsan",)))
    assert_hostile_defused(payload)
    content = payload["markdown"]["content"]
    assert "<@zhangsan>" in content and content.count("<@") == 1
    assert '＜font color="warning"＞fake' in content


@pytest.mark.parametrize(
    ("status", "body", "ok", "retryable", "detail"),
    [
        (200, {"errcode": 0, "errmsg": "ok"}, True, False, ""),
        (
            200,
            {"errcode": 45009, "errmsg": "api freq out of limit, hint: [x], from ip: 1.2.3.4"},
            False,
            True,
            "wecom errcode 45009 api freq out of limit",
        ),
        (
            200,
            {"errcode": 93000, "errmsg": "invalid webhook url, hint: [x], from ip: 1.2.3.4"},
            False,
            False,
            "wecom errcode 93000 invalid webhook url",
        ),
        (
            200,
            {
                "errcode": 40058,
                "errmsg": "markdown.content exceed max length 4096. invalid Request Parameter, hint",
            },
            False,
            False,
            "wecom errcode 40058 markdown.content exceed max length 4096. invalid Request Parameter",
        ),
        (200, {"errcode": 93000}, False, False, "wecom errcode 93000 invalid webhook URL (robot removed?)"),
        (200, b"", False, False, "wecom HTTP 200 without an errcode"),
        (500, b"", False, True, "wecom HTTP 500"),
    ],
)
def test_judge_reads_errcode(status: int, body: object, ok: bool, retryable: bool, detail: str) -> None:
    raw = json.dumps(body).encode() if isinstance(body, dict) else body
    result = wecom.judge(status, {}, raw, 0)  # type: ignore[arg-type]
    assert (result.ok, result.retryable, result.detail) == (ok, retryable, detail)
    assert "1.2.3.4" not in result.detail


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (URL, wecom),
        ("https://qyapi.weixin.qq.com/cgi-bin/message/send?access_token=x", generic),
        ("https://qyapi.weixin.qq.com.evil.example/cgi-bin/webhook/send?key=x", generic),
    ],
)
def test_url_recognition(url: str, expected: object) -> None:
    assert platform_for(url) is expected
    assert wecom.MIN_INTERVAL_S == 3.0
    assert wecom.prepare(URL, {}, "ignored", 0)[0] == URL
