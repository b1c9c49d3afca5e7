"""Google Chat: a cardsV2 card within 32,000 bytes and 100 widgets, threads, verdicts, escaping, URLs."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest

from imagewatch.alerts.channels import generic, googlechat, platform_for
from imagewatch.alerts.channels.common import heading
from imagewatch.alerts.digest import HEADER
from support.channel_checks import assert_hostile_defused, expected_more
from support.digests import big_digest, hostile_digest

URL = "https://chat.googleapis.com/v1/spaces/AAAAx1/messages?key=k3y&token=t0k"


def test_500_violations_fit_32000_bytes_and_100_widgets_worst_first_with_more_line() -> None:
    digest = big_digest()
    payload = googlechat.render(digest)
    assert set(payload) == {"text", "cardsV2"} and payload["text"].startswith(HEADER)
    [card] = payload["cardsV2"]
    assert card["cardId"] == "imagewatch-digest" and set(card["card"]) == {"header", "sections"}
    assert card["card"]["header"]["title"].startswith(HEADER)
    _, _, body = googlechat.prepare(URL + "&threadKey=imagewatch-prod", payload, None, 0)
    assert len(body) <= googlechat.MAX_BODY_BYTES
    sections = card["card"]["sections"]
    assert [s.get("header") for s in sections] == ["Status", "Violations", None]
    assert sum(len(s["widgets"]) for s in sections) <= googlechat.MAX_WIDGETS
    shown = sections[1]["widgets"]
    assert all(set(w) == {"decoratedText"} for w in shown)
    for widget, expected in zip(shown, digest.items, strict=False):
        assert widget["decoratedText"]["topLabel"].startswith(heading(expected))
    assert shown[0]["decoratedText"]["topLabel"].startswith("NEW · CRITICAL")
    closing = sections[2]["widgets"]
    assert closing[0]["decoratedText"]["text"].startswith(expected_more(digest, len(shown)))
    assert closing[1]["buttonList"]["buttons"][0]["onClick"]["openLink"]["url"].startswith(
        "https://reports.example/"
    )


def test_thread_key_moves_from_the_url_into_the_body() -> None:
    url, _, body = googlechat.prepare(URL + "&threadKey=imagewatch-prod", {"text": "x"}, None, 0)
    query = parse_qs(urlsplit(url).query)
    assert query == {"key": ["k3y"], "token": ["t0k"], "messageReplyOption": [googlechat.REPLY_OPTION]}
    assert json.loads(body) == {"text": "x", "thread": {"threadKey": "imagewatch-prod"}}
    plain_url, _, plain = googlechat.prepare(URL, {"text": "x"}, None, 0)
    assert plain_url == URL and json.loads(plain) == {"text": "x"}


def test_hostile_text_is_html_escaped_and_mentions_only_configured() -> None:
    payload = googlechat.render(hostile_digest(mentions=("users/1234567",)))
    assert_hostile_defused(payload)
    assert payload["text"].endswith("<users/1234567>")
    text = json.dumps(payload, ensure_ascii=False)
    assert "&lt;b&gt;bold&lt;/b&gt;" in text


MESSAGE = json.dumps({"name": "spaces/AAAA/messages/1.1", "space": {"name": "spaces/AAAA"}}).encode()


@pytest.mark.parametrize(
    ("status", "headers", "body", "ok", "retryable", "after", "detail"),
    [
        (200, {}, MESSAGE, True, False, None, ""),
        (200, {}, b"{}", False, False, None, "googlechat HTTP 200 no Message in the answer"),
        (
            429,
            {},
            b'{"error": {"code": 429, "status": "RESOURCE_EXHAUSTED"}}',
            False,
            True,
            1.0,
            "googlechat HTTP 429",
        ),
        (429, {"retry-after": "5"}, b"", False, True, 5.0, "googlechat HTTP 429"),
        (
            400,
            {},
            b'{"error": {"code": 400, "status": "INVALID_ARGUMENT"}}',
            False,
            False,
            None,
            "googlechat HTTP 400 INVALID_ARGUMENT",
        ),
        (
            404,
            {},
            b'{"error": {"code": 404, "status": "NOT_FOUND"}}',
            False,
            False,
            None,
            "googlechat HTTP 404 NOT_FOUND",
        ),
        (
            403,
            {},
            b'{"error": {"code": 403, "status": "PERMISSION_DENIED"}}',
            False,
            False,
            None,
            "googlechat HTTP 403 PERMISSION_DENIED",
        ),
        (503, {}, b"", False, True, None, "googlechat HTTP 503"),
    ],
)
def test_judge(
    status: int, headers: dict, body: bytes, ok: bool, retryable: bool, after: float | None, detail: str
) -> None:
    result = googlechat.judge(status, headers, body, 0)
    assert (result.ok, result.retryable, result.retry_after, result.detail) == (ok, retryable, after, detail)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (URL, googlechat),
        ("https://chat.googleapis.com/v1/spaces/AAAAx1/messages?key=k&token=t&threadKey=a", googlechat),
        ("https://chat.googleapis.com/v1/spaces/AAAAx1", generic),
        ("https://chat.googleapis.com.evil.example/v1/spaces/A/messages?key=k", generic),
    ],
)
def test_url_recognition(url: str, expected: object) -> None:
    assert platform_for(url) is expected
    assert googlechat.MIN_INTERVAL_S == 1.0
