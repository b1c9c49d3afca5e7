"""The delivery scrub layer on its own: no webhook URL, token or signing secret reaches an outcome.

The review found that turning ``scrub()`` into a no-op passed the whole suite: nothing tested it on its
own, and no test carried a transport error quoting the webhook URL. These do (each fails with a no-op
``scrub``), and row 8's "redact, then clip" is checked where a clip could cut a secret in two.
"""

from __future__ import annotations

import json
from types import SimpleNamespace
from urllib.parse import quote

import httpx
import pytest

from imagewatch.alerts.channels import SendResult, platform_for
from imagewatch.alerts.delivery import DETAIL_CHARS, Channel, Deliverer, scrub, scrub_answer, secret_parts
from imagewatch.alerts.ledger import ChannelRule

TOKEN = "k3y-0f-the-r0b0t-Zx81Qw"
SECRET = "SEC-signing-secret-Mv42"
WECOM = f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={TOKEN}"
DINGTALK = f"https://oapi.dingtalk.com/robot/send?access_token={TOKEN}"
DISCORD = f"https://discord.com/api/webhooks/123456789012345678/{TOKEN}"


def channel(url: str, secret: str | None = None) -> Channel:
    return Channel("c", platform_for(url), url, ChannelRule("c"), secret=secret)


def leaks(text: str, *secrets: str, shortest: int = 6) -> list[str]:
    """Every run of at least ``shortest`` characters of a secret that appears in ``text``."""
    return [
        secret[i : i + shortest]
        for secret in secrets
        for i in range(len(secret) - shortest + 1)
        if secret[i : i + shortest] in text
    ]


def test_secret_parts_are_the_url_its_query_values_its_token_segments_and_the_secret() -> None:
    assert set(secret_parts(channel(DINGTALK, SECRET))) == {DINGTALK, TOKEN, SECRET}
    assert set(secret_parts(channel(DISCORD))) == {DISCORD, TOKEN, "123456789012345678"}
    assert "webhooks" not in secret_parts(channel(DISCORD))  # a word, not a token


@pytest.mark.parametrize(
    "form",
    [
        DINGTALK,
        quote(DINGTALK, safe=""),
        quote(DINGTALK),
        DINGTALK.replace("/", "\\/"),
        f"access_token={TOKEN}&timestamp=1",
        quote(TOKEN, safe=""),
        SECRET,
    ],
)
def test_scrub_replaces_every_form_of_every_secret(form: str) -> None:
    text = scrub(f"refused: {form} (see docs)", *secret_parts(channel(DINGTALK, SECRET)))
    assert leaks(text, TOKEN, SECRET) == [] and "<webhook>" in text and text.startswith("refused: ")


def test_scrub_redacts_before_it_clips() -> None:
    """Row 8: a clip first would leave the start of a secret that no longer matches anything."""
    text = "x" * (DETAIL_CHARS - 10) + SECRET
    assert scrub(text, SECRET) == ("x" * (DETAIL_CHARS - 10) + "<webhook>")[:DETAIL_CHARS]
    assert leaks(scrub(text, SECRET), SECRET, shortest=4) == []


def test_scrub_answer_replaces_echoes_in_raw_json_and_percent_encoded_forms() -> None:
    answer = json.dumps({"errmsg": f"invalid {WECOM}", "hint": quote(TOKEN, safe="")}).encode()
    scrubbed = scrub_answer(answer, *secret_parts(channel(WECOM)))
    assert leaks(scrubbed.decode(), TOKEN) == [] and scrubbed.count(b"<webhook>") == 2


class Raising(httpx.BaseTransport):
    """A transport that fails the way httpx does, quoting the request (``message`` may use {url})."""

    def __init__(self, message: str) -> None:
        self.message = message

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(self.message.format(url=request.url), request=request)


@pytest.mark.parametrize(
    "message",
    [
        "[Errno 111] Connection refused while connecting to {url}",
        "cannot reach {url}; giving up",
    ],
)
@pytest.mark.parametrize("url", [WECOM, DINGTALK, DISCORD])
def test_a_transport_error_quoting_the_webhook_url_reaches_no_outcome(url: str, message: str) -> None:
    """The review: a transport error carrying the webhook URL (signed URLs included) must be scrubbed."""
    deliverer = Deliverer(sleep=lambda _: None, transport=Raising(message))
    outcome = deliverer.send(channel(url, SECRET), {"msgtype": "markdown", "markdown": {"content": "x"}})
    deliverer.close()
    assert (outcome.ok, outcome.attempts) == (False, 3)
    assert outcome.detail.startswith("ConnectError: ") and "<webhook>" in outcome.detail
    assert url not in outcome.detail and leaks(outcome.detail, TOKEN, SECRET) == [], outcome.detail


def test_a_long_transport_error_cannot_leave_part_of_a_token_at_the_clip() -> None:
    """Row 8: the transport error was clipped before the token was redacted, leaving its start."""
    padding = "p" * (DETAIL_CHARS - 30)
    deliverer = Deliverer(sleep=lambda _: None, transport=Raising(f"{padding} key={TOKEN}"))
    outcome = deliverer.send(channel(WECOM), {"msgtype": "markdown", "markdown": {"content": "x"}})
    deliverer.close()
    assert leaks(outcome.detail, TOKEN, shortest=4) == [], outcome.detail


def fake_platform(**behaviour: object) -> SimpleNamespace:
    """A platform module whose ``prepare`` or ``judge`` misbehaves."""
    module = SimpleNamespace(
        NAME="fake",
        MIN_INTERVAL_S=0.0,
        prepare=lambda url, payload, secret, now: (url, {}, b"{}"),
        judge=lambda status, headers, body, now: SendResult(ok=True),
    )
    module.__dict__.update(behaviour)
    return module


def explode(*_: object) -> SendResult:
    raise RecursionError(f"maximum recursion depth exceeded reading {WECOM}")


@pytest.mark.parametrize("broken", ["prepare", "judge"])
def test_a_platform_module_raising_fails_its_channel_with_a_scrubbed_detail(broken: str) -> None:
    """Row 3: any exception from ``prepare``/``judge`` becomes a failed outcome, never one out of send."""
    answered = httpx.MockTransport(lambda request: httpx.Response(200, text="ok"))
    deliverer = Deliverer(sleep=lambda _: None, transport=answered)
    broken_channel = Channel("c", fake_platform(**{broken: explode}), WECOM, ChannelRule("c"))  # type: ignore[arg-type]
    outcome = deliverer.send(broken_channel, {})
    deliverer.close()
    assert (outcome.ok, outcome.attempts) == (False, 1)
    assert "RecursionError" in outcome.detail and leaks(outcome.detail, TOKEN) == []
