"""Making untrusted inventory text safe to show: no control characters, bounded length, inert markup.

``defuse(text, dialect)`` is the one way inventory text (image names, versions, host names, messages
built from HSS fields, exemption reasons, problems) reaches a chat message, on every platform:

1. ``clean``: one line, control and bidi characters removed, clipped;
2. ``break_links``: ``://`` becomes ``[:]//`` (and a leading ``www.`` becomes ``www[.]``), the
   defanging convention of security tooling — visible, so nobody copies a working link by mistake,
   and no client auto-links it;
3. the platform's markup escape (its ``dialect``), so no emphasis, code, heading, link, tag or
   ``<@id>`` can form;
4. ``defuse_mentions``: a word joiner after every ``@`` that starts a name, so ``@here``,
   ``@everyone``, ``@all`` or ``@13800001111`` read the same and ping nobody.

The ``plain`` dialect (the generic JSON webhook) is step 1 only: its receiver is a program, and the
values stay the data they are (docs/webhooks.md asks receivers to escape for wherever they show them).
"""

from __future__ import annotations

import re
from collections.abc import Callable

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069]")
_MENTION = re.compile(r"@(?=[\w.+&-])")  # @everyone, @here, @all, @13800001111, <@id>, <@&role>
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


# Emphasis and code markers of renderers with no documented escape (Slack mrkdwn, DingTalk, WeCom): a
# look-alike shows the same, formats nothing. ``_`` only where it could open or close emphasis, so
# ``my_app_v2`` stays copyable.
_EMPHASIS = str.maketrans({"*": "\u2217", "~": "\u223c", "`": "\u02cb"})
_DELIMITING_UNDERSCORE = re.compile(r"(?<![^\W_])_|_(?![^\W_])")  # not between two letters/digits
_LEADING_BLOCK = {"#": "\uff03", "-": "\uff0d", "+": "\uff0b", ">": "\uff1e"}  # heading, list, quote
_SCHEME = re.compile(r"://")
_WWW = re.compile(r"(?<![\w.])(www)\.", re.IGNORECASE)
DISCORD_MARKUP = "\\`*_~|[]()<>"  # emphasis, code, spoilers, quotes, links, <@id> / <#id> / <t:…> tags
TEAMS_MARKUP = "\\`*_~#"  # emphasis, code, headings; ``< > [ ]`` become look-alikes (mobile clients
# render backslash escapes inconsistently, so links and tags are broken in a way every client shows)


def break_links(text: str) -> str:
    """``https://evil.example`` → ``https[:]//evil.example``, ``www.evil.example`` → ``www[.]evil.example``:
    no platform auto-links either. Bare registry hosts (``swr.cn-north-4.myhuaweicloud.com/ns/app``)
    are left alone: every image name starts with one, and Slack (the one platform that links them)
    gets ``verbatim: true`` instead."""
    return _WWW.sub(r"\1[.]", _SCHEME.sub("[:]//", text))


def emphasis_lookalikes(text: str) -> str:
    """``* ~ ` `` (and a delimiting ``_``) as look-alikes, a leading block marker too."""
    value = _DELIMITING_UNDERSCORE.sub("\u02cd", text.translate(_EMPHASIS))
    return _LEADING_BLOCK.get(value[:1], value[:1]) + value[1:]


def _discord(text: str) -> str:
    value = backslash_markdown(text, DISCORD_MARKUP)
    return "\\" + value if value[:1] in ("#", "-", "+") else value  # block markers count at line start


ESCAPERS: dict[str, Callable[[str], str]] = {
    "slack": lambda text: emphasis_lookalikes(html_escape(text)),
    "teams": lambda text: lookalike_brackets(backslash_markdown(text, TEAMS_MARKUP)),
    "feishu": numeric_entities,
    "dingtalk": lambda text: emphasis_lookalikes(lookalike_brackets(text)),
    "wecom": lambda text: emphasis_lookalikes(lookalike_brackets(text)),
    "discord": _discord,
    "googlechat": lambda text: html_escape(text).replace("[", "&#91;").replace("]", "&#93;"),
}


def defuse(text: object, dialect: str, limit: int = 300) -> str:
    """Inventory text made safe for ``dialect`` (a platform name, or ``plain``): see the module doc."""
    value = clean(text, limit)
    if dialect == "plain":
        return value
    return defuse_mentions(ESCAPERS[dialect](break_links(value)))
