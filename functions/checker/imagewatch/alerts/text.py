"""Making untrusted inventory text safe to show: no control characters, bounded length, inert markup.

``clean`` comes first for every platform (one line, clipped); the escapers below then make what is
left unable to form markup, links or mentions in one platform's dialect. Each platform module picks
the ones its renderer understands (see docs/webhooks.md).
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069]")
_MENTION = re.compile(r"@(?=[\w.+-])")  # @everyone, @here, @all, @13800001111, <@id>, <@&role>
WORD_JOINER = "\u2060"  # invisible, not stripped by ``clean``; splits "@" from a name so nothing pings
MARKDOWN_PUNCTUATION = "\\`*_{}[]()#+-.!|~<>"
_LOOKALIKES = str.maketrans({"<": "＜", ">": "＞", "[": "［", "]": "］"})
_ENTITIES = {
    "&": "&#38;",
    "<": "&#60;",
    ">": "&#62;",
    "*": "&#42;",
    "_": "&#95;",
    "~": "&#126;",
    "`": "&#96;",
    "[": "&#91;",
    "]": "&#93;",
    "(": "&#40;",
    ")": "&#41;",
    "#": "&#35;",
}


def clean(text: object, limit: int = 300) -> str:
    """One safe line: control and bidi characters removed, newlines folded, at most ``limit`` chars."""
    value = _CONTROL.sub("", str(text)).replace("\n", " ").replace("\r", " ").replace("\t", " ")
    if len(value) > limit:
        return value[: max(0, limit - 1)] + "…"
    return value


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def utf16_len(text: str) -> int:
    """Length as JavaScript counts it (≥ code points): the safe measure for "characters" limits."""
    return len(text.encode("utf-16-le")) // 2


def defuse_mentions(text: str) -> str:
    """``@name`` → ``@⁠name`` (word joiner): looks the same, never pings anyone on any platform."""
    return _MENTION.sub("@" + WORD_JOINER, text)


def backslash_markdown(text: str, punctuation: str = MARKDOWN_PUNCTUATION) -> str:
    """CommonMark-style escapes, for renderers that honour them (Discord, Adaptive Cards)."""
    return "".join("\\" + char if char in punctuation else char for char in text)


def html_escape(text: str) -> str:
    """``& < >`` as entities, for renderers that read HTML (Google Chat cards, Slack mrkdwn)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def numeric_entities(text: str) -> str:
    """Markup characters as numeric entities, the escape Feishu/Lark ``lark_md`` documents."""
    return "".join(_ENTITIES.get(char, char) for char in text)


def lookalike_brackets(text: str) -> str:
    """``< > [ ]`` → full-width look-alikes, for renderers whose escaping is undocumented
    (DingTalk, WeCom): no tag, link or ``<@userid>`` mention can form, and the text stays readable."""
    return text.translate(_LOOKALIKES)
