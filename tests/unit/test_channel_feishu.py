"""Feishu/Lark: interactive card within 20 KB, body signature, ``code`` verdicts, escaping, URLs."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from imagewatch.alerts.channels import PLATFORMS, feishu, generic, platform_for
from imagewatch.alerts.channels.common import heading, size
from imagewatch.alerts.digest import HEADER
from support.channel_checks import assert_hostile_defused, expected_more
from support.digests import big_digest, digest_of, hostile_digest, item

ITEM_OPENINGS = ("**NEW · ", "**STILL OPEN · ", "**RESOLVED · ")


def items_of(payload: dict) -> list[dict]:
    """The card's item elements: divs that open with a bold ``NEW|STILL OPEN|RESOLVED · SEVERITY``."""
    return [
        element
        for element in payload["card"]["elements"]
        if element["tag"] == "div" and element["text"]["content"].startswith(ITEM_OPENINGS)
    ]


def test_500_violations_fit_20kb_signed_worst_first_with_more_line() -> None:
    digest = big_digest()
    payload = feishu.render(digest)
    assert set(payload) == {"msg_type", "card"} and payload["msg_type"] == "interactive"
    card = payload["card"]
    assert isinstance(card, dict) and set(card) == {"config", "header", "elements"}
    assert card["header"]["template"] == "red"
    assert card["header"]["title"] == {
        "tag": "plain_text",
        "content": "imagewatch compliance: 408 new, 46 reminder, 46 resolved",
    }
    _, _, body = feishu.prepare("https://open.feishu.cn/open-apis/bot/v2/hook/t", payload, "s", 1_700_000_000)
    assert len(body) <= feishu.MAX_BODY_BYTES
    assert len(card["elements"]) <= feishu.MAX_ELEMENTS
    shown = items_of(payload)
    assert 10 < len(shown) <= feishu.MAX_ELEMENTS - feishu.FIXED_ELEMENTS
    for element, expected in zip(shown, digest.items, strict=False):
        assert element["text"]["content"].startswith(f"**{heading(expected)}**")
    assert shown[0]["text"]["content"].startswith("**NEW · CRITICAL**")
    note = card["elements"][-1]
    assert note["tag"] == "note"
    more = expected_more(digest, len(shown))
    assert feishu.to_text(payload).splitlines()[-1].startswith(more)
    assert HEADER in json.dumps(payload, ensure_ascii=False)


def test_template_colour_follows_the_worst_firing_item() -> None:
    assert feishu.render(digest_of([item(1)]))["card"]["header"]["template"] == "orange"  # high
    assert feishu.render(digest_of([item(4)]))["card"]["header"]["template"] == "grey"  # info
    resolved = digest_of([item(0, kind="resolved")])
    assert feishu.render(resolved)["card"]["header"]["template"] == "green"
    assert HEADER in resolved.title


def test_hostile_text_is_entity_escaped_and_never_mentions() -> None:
    payload = feishu.render(hostile_digest(mentions=("ou_abc123",)))
    assert_hostile_defused(payload)
    text = json.dumps(payload, ensure_ascii=False)
    assert "&#60;at id=all&#62;" in text and "&#91;click&#93;&#40;" in text
    assert "<at id=ou_abc123></at>" in text  # the configured mention, and only it


def test_signature_is_feishus_scheme_and_fresh_each_call() -> None:
    url = "https://open.feishu.cn/open-apis/bot/v2/hook/t"
    same, headers, body = feishu.prepare(url, {"msg_type": "text"}, "sekrit", 1_700_000_000.7)
    sent = json.loads(body)
    assert same == url and headers["Content-Type"].startswith("application/json")
    assert sent["timestamp"] == "1700000000"
    key = b"1700000000\nsekrit"
    assert sent["sign"] == base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
    later = json.loads(feishu.prepare(url, {"msg_type": "text"}, "sekrit", 1_700_000_100)[2])
    assert later["timestamp"] == "1700000100" and later["sign"] != sent["sign"]
    assert "sign" not in json.loads(feishu.prepare(url, {"msg_type": "text"}, None, 1)[2])


@pytest.mark.parametrize(
    ("status", "body", "ok", "retryable", "detail"),
    [
        (200, {"code": 0, "msg": "success", "data": {}}, True, False, ""),
        (200, {"StatusCode": 0, "StatusMessage": "success"}, True, False, ""),
        (
            200,
            {"code": 11232, "msg": "frequency limited"},
            False,
            True,
            "feishu code 11232 frequency limited",
        ),
        (
            200,
            {"code": 19021, "msg": "sign match fail or timestamp is not within one hour from current time"},
            False,
            False,
            "feishu code 19021 sign match fail or timestamp is not within one hour from current time",
        ),
        (200, {"code": 19022, "msg": "Ip Not Allowed"}, False, False, "feishu code 19022 Ip Not Allowed"),
        (
            200,
            {"code": 19024, "msg": "Key Words Not Found"},
            False,
            False,
            "feishu code 19024 Key Words Not Found",
        ),
        (200, {"code": 9499, "msg": "Bad Request"}, False, False, "feishu code 9499 Bad Request"),
        (
            200,
            {"code": 19001, "msg": ""},
            False,
            False,
            "feishu code 19001 webhook token invalid (bot removed?)",
        ),
        (400, {"code": 9499, "msg": "Bad Request"}, False, False, "feishu code 9499 Bad Request"),
        (200, "not json", False, False, "feishu HTTP 200 without a code"),
        (503, "", False, True, "feishu HTTP 503"),
    ],
)
def test_judge_reads_the_body_code(status: int, body: object, ok: bool, retryable: bool, detail: str) -> None:
    raw = json.dumps(body).encode() if isinstance(body, dict) else str(body).encode()
    result = feishu.judge(status, {}, raw, 0)
    assert (result.ok, result.retryable, result.detail) == (ok, retryable, detail)
    if status == 200 and not ok and retryable:
        assert result.retry_after == feishu.THROTTLE_S


def test_429_honours_retry_after() -> None:
    result = feishu.judge(429, {"retry-after": "3"}, b"", 0)
    assert result.retryable and result.retry_after == 3.0


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://open.feishu.cn/open-apis/bot/v2/hook/0123abcd-ef", feishu),
        ("https://open.larksuite.com/open-apis/bot/v2/hook/0123abcd-ef", feishu),
        ("https://open.feishu.cn/open-apis/im/v1/messages", generic),
        ("https://open.feishu.cn.evil.example/open-apis/bot/v2/hook/x", generic),
    ],
)
def test_url_recognition(url: str, expected: object) -> None:
    assert platform_for(url) is expected


def test_lark_is_an_alias() -> None:
    assert PLATFORMS["lark"] is feishu and platform_for("http://127.0.0.1:1/x", "lark") is feishu
    assert feishu.MIN_INTERVAL_S == 0.6 and size(feishu.render(big_digest(3))) < feishu.MAX_BODY_BYTES
