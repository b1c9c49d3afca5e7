"""WeCom (企业微信) group robots: a markdown message; success is ``errcode == 0`` in the body.

WeCom answers HTTP 200 even when it refuses a message. Limits (WeCom docs): markdown ``content`` ≤ 4096
bytes UTF-8 (over it: errcode 40058), 20 messages/min per robot. No signing: the ``key`` in the URL is
the secret. Colour via ``<font color="warning|comment|info">``, mentions via ``<@userid>``; inventory
text has ``< > [ ]`` swapped for look-alikes and ``@`` defused, so it can form neither.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from imagewatch.alerts.channels.common import (
    MAX_PROBLEMS,
    REPORT_LINE_CHARS,
    JsonDict,
    answer_json,
    closing_line,
    encode,
    fit_payload,
    heading,
    judge_code,
    report_line,
    safe_url,
)
from imagewatch.alerts.channels.result import SendResult
from imagewatch.alerts.digest import Digest, DigestItem, Fitted
from imagewatch.alerts.text import clean, defuse, utf8_len

NAME = "wecom"
MIN_INTERVAL_S = 3.0  # 20/min per robot
HOST = "qyapi.weixin.qq.com"
PATH = "/cgi-bin/webhook/send"
MAX_CONTENT_BYTES = 4096
MAX_ITEMS = 60  # our cap; the byte budget binds long before
THROTTLE_S = 60.0  # 45009: the per-minute window
COLOURS = {"critical": "warning", "high": "warning", "medium": "comment", "low": "comment", "info": "comment"}
RETRY_CODES = {45009: "api freq out of limit"}
PERMANENT_CODES = {
    93000: "invalid webhook URL (robot removed?)",
    40058: "content too long or invalid parameter",
    40008: "invalid message type",
    93004: "robot disabled",
}


def matches(url: str) -> bool:
    """``https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…``."""
    parts = urlsplit(url)
    return (parts.hostname or "").lower() == HOST and parts.path == PATH


def escape(text: object, limit: int = 300) -> str:
    return defuse(text, NAME, limit)


def _mention(target: str) -> str:
    ident = "".join(char for char in clean(target, 64).lstrip("@") if char.isalnum() or char in "_-.")
    return f"<@{ident}>"


def _item_md(item: DigestItem) -> str:
    colour = "info" if item.kind == "resolved" else COLOURS.get(item.severity, "comment")
    text = f'<font color="{colour}">**{heading(item)}**</font> {escape(item.policy_title, 120)}'
    text += f"\n> {escape(item.text(), 400)}"
    if item.examples:
        text += "\n> e.g. " + ", ".join(escape(example, 60) for example in item.examples[:3])
    return text


def render(digest: Digest) -> JsonDict:
    head = [
        f"**{clean(digest.title, 200)}**",
        f"{escape(digest.target, 200)} · {escape(digest.severity_line())}",
    ]
    head += [f'<font color="warning">⚠️ {escape(p, 300)}</font>' for p in digest.problems[:MAX_PROBLEMS]]
    head += [f'<font color="comment">🕒 {escape(n, 300)}</font>' for n in digest.notes[:MAX_PROBLEMS]]
    if digest.mentions:
        head.append(" ".join(_mention(m) for m in digest.mentions))
    report, local = safe_url(digest.report_url), report_line(digest)

    def build(fitted: Fitted) -> JsonDict:
        tail = f'<font color="comment">{escape(closing_line(digest, fitted), 300)}</font>'
        if local:
            tail += f'\n<font color="comment">{escape(local, REPORT_LINE_CHARS)}</font>'
        if report:
            tail += f"\n[report]({report})"
        content = "\n".join([*head, *(_item_md(item) for item in fitted.shown), tail])
        return {"msgtype": "markdown", "markdown": {"content": content}}

    return fit_payload(
        digest.items,
        build,
        lambda payload: utf8_len(payload["markdown"]["content"]),
        MAX_CONTENT_BYTES,
        lambda item: utf8_len(_item_md(item)) + 1,
        MAX_ITEMS,
    )


def prepare(url: str, payload: JsonDict, secret: str | None, now: float) -> tuple[str, dict, bytes]:
    """WeCom signs nothing: the ``key`` in the URL is the secret."""
    return url, {"Content-Type": "application/json; charset=utf-8"}, encode(payload)


def judge(status: int, headers: dict[str, str], body: bytes, now: float) -> SendResult:
    answer = answer_json(body)
    return judge_code(
        NAME,
        "errcode",
        status,
        headers,
        answer.get("errcode"),
        answer.get("errmsg"),
        now,
        retry_codes=RETRY_CODES,
        permanent_codes=PERMANENT_CODES,
        throttle_s=THROTTLE_S,
    )


def to_text(payload: JsonDict) -> str:
    content = payload["markdown"]["content"].replace("\u2060", "")
    for tag in ('<font color="warning">', '<font color="comment">', '<font color="info">', "</font>"):
        content = content.replace(tag, "")
    return content
