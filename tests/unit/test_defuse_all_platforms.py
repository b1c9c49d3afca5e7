"""One hostile corpus through every platform: inventory text links, mentions and formats nothing anywhere.

Review row 11: bare URLs in inventory text auto-linked on every platform, and Slack left ``@here``,
``@everyone``, ``*bold*`` and backticks raw with ``verbatim: false``. Every platform module now runs
inventory text through the one ``text.defuse``; this test holds them all to the same corpus.
"""

from __future__ import annotations

import importlib
import re
from types import ModuleType

import pytest

from imagewatch.alerts.digest import DigestItem
from imagewatch.alerts.text import WORD_JOINER, clean, defuse
from support.channel_checks import CONTROL, strings
from support.digests import digest_of

CHAT = ("slack", "teams", "feishu", "dingtalk", "wecom", "discord", "googlechat")
CORPUS = (
    "https://evil.example/login HTTP://EVIL.example/x www.evil.example/y "
    "@here @everyone @channel @all @13800001111 <!here> <!channel> <@U024BE7LH> <@&876543210987654321> "
    '<at id=all></at> <at user_id="ou_abc">boss</at> <@wangqing> <users/all> '
    "[click](https://evil.example/c) *bold* _italic_ ~strike~ `code` <b>html</b> # heading "
    "\x1b]0;PWNED\x07\x1b[2J\u202e end"
)
LINKED = ("://evil", "://EVIL", "www.evil")
MENTIONS = (
    "@here",
    "@everyone",
    "@channel",
    "@all",
    "@13800001111",
    "<!here>",
    "<!channel>",
    "<@U024BE7LH>",
    "<@&876543210987654321>",
    "<at",
    "<@wangqing>",
    "<users/all>",
)
FORMATTING = ("*bold*", "_italic_", "~strike~", "`code`", "<b>html", "](")
# What each renderer would read as formatting: Google Chat cards read HTML, not markdown; Slack links
# only as ``<url|text>`` (``<`` is escaped), so ``[text](url)`` is plain there.
MARKUP = {"googlechat": ("<b>html", "]("), "slack": FORMATTING[:-1]}


def platform(name: str) -> ModuleType:
    return importlib.import_module(f"imagewatch.alerts.channels.{name}")


def hostile_everywhere() -> object:
    item = DigestItem(
        kind="new",
        severity="critical",
        policy_id="pol-1",
        policy_title=f"title {CORPUS}",
        label=f"label {CORPUS}",
        message=f"message {CORPUS}",
        fingerprint="0" * 20,
        examples=(f"example {CORPUS}",),
    )
    return digest_of(
        [item],
        target=f"cn-north-4/{CORPUS}",
        problems=(f"incomplete read: {CORPUS}",),
        notes=(f"exemption reason: {CORPUS}",),
        report_url=None,
    )


def shown_text(name: str, payload: dict) -> str:
    """Every string a reader could see (Teams' ``$schema`` is ours and never shown)."""
    if name == "teams":
        payload = {**payload}
        payload["attachments"] = [
            {**a, "content": {k: v for k, v in a["content"].items() if k != "$schema"}}
            for a in payload["attachments"]
        ]
    return "\n".join(strings(payload))


@pytest.mark.parametrize("name", CHAT)
def test_every_chat_platform_defuses_the_same_corpus(name: str) -> None:
    """Row 11: no auto-link, no mention, no formatting, no control character — on every platform."""
    text = shown_text(name, platform(name).render(hostile_everywhere()))
    if name in ("discord", "teams"):  # a backslash-escaped character is literal text there
        text = re.sub(r"\\.", "¤", text)
    for raw in LINKED + MENTIONS + MARKUP.get(name, FORMATTING):
        assert raw not in text, f"{name}: {raw!r} survived"
    assert not CONTROL.search(text), f"{name}: a control or bidi character survived"
    # still readable: the words are all there, just inert
    for word in ("evil.example/login", "everyone", "here", "PWNED", "bold", "code"):
        assert word in text.replace(WORD_JOINER, ""), f"{name}: {word!r} was lost"


@pytest.mark.parametrize("name", CHAT)
def test_every_chat_platform_escapes_through_the_one_shared_function(name: str) -> None:
    """Row 11: one defusing for every platform, no per-module twins."""
    assert platform(name).escape(CORPUS, 500) == defuse(CORPUS, name, 500)
    assert "[:]//" in defuse(CORPUS, "slack") and WORD_JOINER in defuse(CORPUS, name)


def test_slack_mrkdwn_is_verbatim_everywhere() -> None:
    """Row 11: ``verbatim: false`` let Slack auto-link domains and parse ``@here`` in inventory text."""
    payload = platform("slack").render(hostile_everywhere())
    objects = [b["text"] for b in payload["blocks"] if b["type"] == "section"]
    objects += [e for b in payload["blocks"] if b["type"] == "context" for e in b["elements"]]
    assert objects and all(o["type"] == "mrkdwn" and o["verbatim"] is True for o in objects)


def test_the_generic_webhook_carries_the_same_corpus_as_data() -> None:
    """The generic body is data for a receiver's code: one line, no control characters, not marked up
    (docs/webhooks.md: receivers escape for wherever they show it)."""
    body = platform("generic").render(hostile_everywhere())
    [alert] = body["alerts"]
    assert alert["label"] == clean(f"label {CORPUS}", 1000) == defuse(f"label {CORPUS}", "plain", 1000)
    assert not CONTROL.search("\n".join(strings(body)))
