"""Teams Workflows: an Adaptive Card 1.4 within 28 KB, 200/202 verdicts, legacy connectors, URLs."""

from __future__ import annotations

import json

import pytest

from imagewatch.alerts.channels import generic, platform_for, teams
from imagewatch.alerts.channels.common import encode, heading
from imagewatch.alerts.digest import HEADER
from support.channel_checks import assert_hostile_defused, expected_more
from support.digests import big_digest, hostile_digest

WORKFLOW = (
    "https://prod-12.westeurope.logic.azure.com:443/workflows/abc123/triggers/manual/paths/invoke"
    "?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=s1g"
)
POWER_PLATFORM = (
    "https://default0123.45.environment.api.powerplatform.com:443/powerautomate/automations/direct"
    "/workflows/abc/triggers/manual/paths/invoke?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=s"
)
LEGACY = "https://contoso.webhook.office.com/webhookb2/a@b/IncomingWebhook/c/d"


def card_of(payload: dict) -> dict:
    [attachment] = payload["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert attachment["contentUrl"] is None
    return attachment["content"]


def test_500_violations_fit_28kb_worst_first_with_more_line() -> None:
    digest = big_digest()
    payload = teams.render(digest)
    assert set(payload) == {"type", "attachments"} and payload["type"] == "message"
    card = card_of(payload)
    assert set(card) == {"$schema", "type", "version", "body", "actions", "msteams"}
    assert (card["type"], card["version"], card["msteams"]) == ("AdaptiveCard", "1.4", {"width": "full"})
    assert len(encode(payload)) <= teams.MAX_BODY_BYTES
    title = card["body"][0]
    assert title["text"].startswith(HEADER) and title["color"] == "Attention" and title["weight"] == "Bolder"
    blocks = [b for b in card["body"] if b.get("separator") and b["text"].startswith("**")]
    assert 10 < len(blocks) <= teams.MAX_ITEMS
    for block, expected in zip(blocks, digest.items, strict=False):
        assert block["text"].startswith(f"**{heading(expected)}**")
    assert blocks[0]["text"].startswith("**NEW · CRITICAL**")
    assert teams.to_text(payload).split("\n\n")[-2].startswith(expected_more(digest, len(blocks)))
    assert card["actions"] == [
        {
            "type": "Action.OpenUrl",
            "title": "Open report",
            "url": "https://reports.example/run-1/report.html?X-Sig=abc%281%29",
        }
    ]


def test_configured_mentions_have_entities() -> None:
    card = card_of(teams.render(big_digest(2, mentions=("ops@contoso.com",))))
    assert card["msteams"]["entities"] == [
        {
            "type": "mention",
            "text": "<at>ops@contoso.com</at>",
            "mentioned": {"id": "ops@contoso.com", "name": "ops@contoso.com"},
        }
    ]
    assert any(block["text"] == "<at>ops@contoso.com</at>" for block in card["body"])


def test_hostile_text_is_escaped_and_forms_no_at_tags() -> None:
    payload = teams.render(hostile_digest())
    assert_hostile_defused(payload)
    text = json.dumps(payload, ensure_ascii=False)
    assert "<at" not in text and "＜at＞Boss" in text and "［click］(https［:］//evil" in text
    assert "\\\\*stars\\\\*" in text


@pytest.mark.parametrize(
    ("status", "headers", "body", "ok", "retryable", "after", "detail"),
    [
        (202, {}, b"", True, False, None, ""),
        (200, {}, b"", True, False, None, ""),
        (200, {}, b"1", True, False, None, teams.LEGACY_NOTE),
        (
            200,
            {},
            b"Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 429",
            False,
            True,
            teams.THROTTLE_S,
            "teams connector delivery failed",
        ),
        (429, {"retry-after": "7"}, b"", False, True, 7.0, "teams HTTP 429"),
        (
            400,
            {},
            b'{"error": {"code": "InvalidRequestContent", "message": "x"}}',
            False,
            False,
            None,
            "teams HTTP 400 InvalidRequestContent",
        ),
        (
            404,
            {},
            b'{"error": {"code": "WorkflowNotFound"}}',
            False,
            False,
            None,
            "teams HTTP 404 WorkflowNotFound",
        ),
        (413, {}, b"", False, False, None, "teams HTTP 413"),
        (500, {}, b"", False, True, None, "teams HTTP 500"),
    ],
)
def test_judge(
    status: int, headers: dict, body: bytes, ok: bool, retryable: bool, after: float | None, detail: str
) -> None:
    result = teams.judge(status, headers, body, 0)
    assert (result.ok, result.retryable, result.retry_after, result.detail) == (ok, retryable, after, detail)


@pytest.mark.parametrize(
    ("url", "expected", "legacy"),
    [
        (WORKFLOW, teams, False),
        (POWER_PLATFORM, teams, False),
        (LEGACY, teams, True),
        ("https://outlook.office.com/webhook/a@b/IncomingWebhook/c/d", teams, True),
        ("https://logic.azure.com.evil.example/workflows/x", generic, False),
    ],
)
def test_url_recognition(url: str, expected: object, legacy: bool) -> None:
    assert platform_for(url) is expected
    assert teams.is_legacy(url) is legacy
    assert teams.MIN_INTERVAL_S == 1.0
