"""DingTalk: markdown within 15,000 bytes, query-string 加签, ``errcode`` verdicts, escaping, URLs."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from urllib.parse import parse_qs, urlsplit

import pytest

from imagewatch.alerts.channels import dingtalk, generic, platform_for
from imagewatch.alerts.channels.common import encode, heading
from imagewatch.alerts.digest import HEADER
from support.channel_checks import assert_hostile_defused, expected_more
from support.digests import big_digest, hostile_digest

URL = "https://oapi.dingtalk.com/robot/send?access_token=abc123"


def item_lines(payload: dict) -> list[str]:
    return [part for part in payload["markdown"]["text"].split("\n\n") if part.startswith("- **")]


def test_500_violations_fit_15000_bytes_worst_first_with_more_line() -> None:
    digest = big_digest()
    payload = dingtalk.render(digest)
    assert set(payload) == {"msgtype", "markdown", "at"} and payload["msgtype"] == "markdown"
    assert set(payload["markdown"]) == {"title", "text"}
    assert payload["at"] == {"atMobiles": [], "atUserIds": [], "isAtAll": False}
    assert len(encode(payload)) <= dingtalk.MAX_BODY_BYTES
    assert payload["markdown"]["title"].startswith(HEADER) and HEADER in payload["markdown"]["text"]
    lines = item_lines(payload)
    assert 10 < len(lines) <= dingtalk.MAX_ITEMS
    for line, expected in zip(lines, digest.items, strict=False):
        assert line.startswith(f"- **{heading(expected)}**")
    assert lines[0].startswith("- **NEW · CRITICAL**")
    closing = payload["markdown"]["text"].split("\n\n---\n\n")[-1]
    assert closing.startswith(expected_more(digest, len(lines)))


def test_mentions_go_in_at_and_in_the_text() -> None:
    payload = dingtalk.render(big_digest(3, mentions=("13800001111", "manager01", "@all")))
    assert payload["at"] == {"atMobiles": ["13800001111"], "atUserIds": ["manager01"], "isAtAll": True}
    assert payload["markdown"]["text"].endswith("@13800001111 @manager01 @all")


def test_hostile_text_cannot_link_or_mention() -> None:
    payload = dingtalk.render(hostile_digest())
    assert_hostile_defused(payload)
    assert payload["at"] == {"atMobiles": [], "atUserIds": [], "isAtAll": False}
    assert "［click］(https［:］//evil.example/x)" in payload["markdown"]["text"]


def test_signature_goes_in_the_query_with_dingtalks_key_order() -> None:
    url, _, body = dingtalk.prepare(URL, {"msgtype": "markdown"}, "SECxyz", 1_700_000_000.123)
    query = parse_qs(urlsplit(url).query)
    assert query["access_token"] == ["abc123"] and query["timestamp"] == ["1700000000123"]
    mac = hmac.new(b"SECxyz", b"1700000000123\nSECxyz", hashlib.sha256).digest()
    assert query["sign"] == [base64.b64encode(mac).decode()]
    assert "%2B" in url or "%2F" in url or "%3D" in url  # the sign is url-encoded
    assert json.loads(body) == {"msgtype": "markdown"}
    again, _, _ = dingtalk.prepare(url, {"msgtype": "markdown"}, "SECxyz", 1_700_000_500)
    assert parse_qs(urlsplit(again).query)["timestamp"] == ["1700000500000"]  # replaced, not appended
    assert dingtalk.prepare(URL, {}, None, 1)[0] == URL


@pytest.mark.parametrize(
    ("status", "body", "ok", "retryable", "detail"),
    [
        (200, {"errcode": 0, "errmsg": "ok"}, True, False, ""),
        (
            200,
            {"errcode": 130101, "errmsg": "send too fast"},
            False,
            True,
            "dingtalk errcode 130101 send too fast",
        ),
        (
            200,
            {"errcode": 310000, "errmsg": "sign not match, more: [https://x]"},
            False,
            False,
            "dingtalk errcode 310000 sign not match",
        ),
        (
            200,
            {"errcode": 310000, "errmsg": "keywords not in content, more: [https://x]"},
            False,
            False,
            "dingtalk errcode 310000 keywords not in content",
        ),
        (
            200,
            {"errcode": 300001, "errmsg": "token is not exist"},
            False,
            False,
            "dingtalk errcode 300001 token is not exist",
        ),
        (200, {"errcode": 460101, "errmsg": ""}, False, False, "dingtalk errcode 460101 body too large"),
        # half a character, escaped: the detail goes to the ledger and the report, which must encode it
        (200, {"errcode": 300001, "errmsg": "x\ud800"}, False, False, "dingtalk errcode 300001 x\ufffd"),
        (200, b"<html>", False, False, "dingtalk HTTP 200 without an errcode"),
        (502, b"", False, True, "dingtalk HTTP 502"),
    ],
)
def test_judge_reads_errcode(status: int, body: object, ok: bool, retryable: bool, detail: str) -> None:
    raw = json.dumps(body).encode() if isinstance(body, dict) else body
    result = dingtalk.judge(status, {}, raw, 0)  # type: ignore[arg-type]
    assert (result.ok, result.retryable, result.detail) == (ok, retryable, detail)
    if retryable and status == 200:
        assert result.retry_after == dingtalk.THROTTLE_S == 60.0


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (URL, dingtalk),
        ("https://oapi.dingtalk.com/robot/send?access_token=x&timestamp=1&sign=y", dingtalk),
        ("https://oapi.dingtalk.com/gettoken?appkey=x", generic),
        ("https://oapi.dingtalk.com.evil.example/robot/send?access_token=x", generic),
    ],
)
def test_url_recognition(url: str, expected: object) -> None:
    assert platform_for(url) is expected
    assert dingtalk.MIN_INTERVAL_S == 3.0
