"""Discord: embeds within every documented limit, allowed_mentions, 429/404 verdicts, escaping, URLs."""

from __future__ import annotations

import json

import pytest

from imagewatch.alerts.channels import discord, generic, platform_for
from imagewatch.alerts.channels.common import heading
from imagewatch.alerts.digest import HEADER
from imagewatch.alerts.text import utf16_len
from support.channel_checks import assert_hostile_defused, expected_more
from support.digests import big_digest, hostile_digest

URL = "https://discord.com/api/webhooks/112233445566778899/AbC-dEf_123"


def test_500_violations_fit_every_embed_limit_worst_first_with_more_line() -> None:
    digest = big_digest()
    payload = discord.render(digest)
    assert set(payload) == {"content", "embeds", "allowed_mentions"}
    assert payload["allowed_mentions"] == {"parse": []}
    assert utf16_len(payload["content"]) <= discord.CONTENT_CHARS and HEADER in payload["content"]
    embeds = payload["embeds"]
    assert 1 <= len(embeds) <= discord.MAX_EMBEDS
    total = 0
    for embed in embeds:
        assert utf16_len(embed.get("title", "")) <= discord.TITLE_CHARS
        assert utf16_len(embed.get("description", "")) <= discord.DESCRIPTION_CHARS
        assert len(embed.get("fields", [])) <= discord.MAX_FIELDS
        assert utf16_len(embed.get("footer", {}).get("text", "")) <= discord.FOOTER_CHARS
        total += utf16_len(embed.get("title", "")) + utf16_len(embed.get("description", ""))
        total += utf16_len(embed.get("footer", {}).get("text", ""))
        for field in embed.get("fields", []):
            assert utf16_len(field["name"]) <= discord.FIELD_NAME_CHARS
            assert utf16_len(field["value"]) <= discord.FIELD_VALUE_CHARS
            total += utf16_len(field["name"]) + utf16_len(field["value"])
    assert total <= discord.TOTAL_EMBED_CHARS
    assert embeds[0]["title"].startswith(HEADER) and embeds[0]["color"] == discord.COLOURS["critical"]
    assert embeds[0]["url"] == "https://reports.example/run-1/report.html?X-Sig=abc%281%29"
    fields = [field for embed in embeds for field in embed.get("fields", [])]
    assert len(fields) > 10
    for field, expected in zip(fields, digest.items, strict=False):
        assert field["name"].startswith(heading(expected))
    assert fields[0]["name"].startswith("NEW · CRITICAL")
    footer = discord.to_text(payload).splitlines()[-1]
    assert footer.startswith(expected_more(digest, len(fields)))
    assert embeds[-1]["timestamp"] == "2026-11-26T08:00:00Z"


def test_configured_mentions_are_the_only_allowed_ones() -> None:
    payload = discord.render(
        big_digest(2, mentions=("123456789012345678", "role:876543210987654321", "&55555"))
    )
    assert payload["allowed_mentions"] == {
        "parse": [],
        "users": ["123456789012345678"],
        "roles": ["876543210987654321", "55555"],
    }
    assert "<@123456789012345678> <@&876543210987654321> <@&55555>" in payload["content"]
    junk = discord.render(big_digest(1, mentions=("@everyone", "here", "x" * 40)))
    assert junk["allowed_mentions"] == {"parse": []}


def test_hostile_text_is_escaped_and_never_pings() -> None:
    payload = discord.render(hostile_digest())
    assert_hostile_defused(payload)
    assert payload["allowed_mentions"] == {"parse": []}
    text = json.dumps(payload, ensure_ascii=False)
    assert "\\\\[click\\\\]\\\\(https\\\\[:\\\\]//evil" in text and "\\\\*stars\\\\*" in text


@pytest.mark.parametrize(
    ("status", "headers", "body", "ok", "retryable", "after", "detail"),
    [
        (204, {}, b"", True, False, None, ""),
        (200, {}, b'{"id": "1"}', True, False, None, ""),
        (
            429,
            {"retry-after": "1"},
            b'{"message": "You are being rate limited.", "retry_after": 0.347, "global": false}',
            False,
            True,
            0.347,
            "discord HTTP 429",
        ),
        (429, {"retry-after": "4"}, b"{}", False, True, 4.0, "discord HTTP 429"),
        (429, {}, b'{"retry_after": 2.5, "global": true}', False, True, 2.5, "discord HTTP 429 (global)"),
        (
            404,
            {},
            b'{"message": "Unknown Webhook", "code": 10015}',
            False,
            False,
            None,
            "discord HTTP 404 code 10015 unknown webhook (deleted)",
        ),
        (
            401,
            {},
            b'{"message": "Invalid Webhook Token", "code": 50027}',
            False,
            False,
            None,
            "discord HTTP 401 code 50027 invalid webhook token",
        ),
        (
            400,
            {},
            b'{"message": "Invalid Form Body", "code": 50035}',
            False,
            False,
            None,
            "discord HTTP 400 code 50035 invalid form body",
        ),
        (502, {}, b"", False, True, None, "discord HTTP 502"),
    ],
)
def test_judge(
    status: int, headers: dict, body: bytes, ok: bool, retryable: bool, after: float | None, detail: str
) -> None:
    result = discord.judge(status, headers, body, 0)
    assert (result.ok, result.retryable, result.retry_after, result.detail) == (ok, retryable, after, detail)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (URL, discord),
        ("https://discordapp.com/api/webhooks/112233445566778899/tok", discord),
        ("https://ptb.discord.com/api/v10/webhooks/112233445566778899/tok", discord),
        ("https://discord.com/api/channels/1/messages", generic),
        ("https://discord.com.evil.example/api/webhooks/1/tok", generic),
    ],
)
def test_url_recognition(url: str, expected: object) -> None:
    assert platform_for(url) is expected
    assert discord.MIN_INTERVAL_S == 2.0
