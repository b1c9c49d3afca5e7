"""Feishu and Lark custom bots: an interactive card; success is ``code == 0`` in the body.

Both answer HTTP 200 even when they refuse a message, so only the body decides. Limits (Feishu docs):
request body ≤ 20 KB, 100 messages/min and 5/s per bot. Optional signature: ``timestamp`` and ``sign``
in the body, ``sign = base64(HMAC-SHA256(key=f"{timestamp}\\n{secret}", msg=b""))``, valid one hour.
Inventory text goes through ``numeric_entities`` (the escape ``lark_md`` documents), so it cannot form
``<at>`` mentions, links or emphasis.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
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
    size,
    worst_firing,
)
from imagewatch.alerts.channels.result import SendResult
from imagewatch.alerts.digest import Digest, DigestItem, Fitted
from imagewatch.alerts.text import clean, defuse

NAME = "feishu"
ALIASES = ("lark",)
MIN_INTERVAL_S = 0.6  # 100/min per bot (and 5/s)
HOSTS = ("open.feishu.cn", "open.larksuite.com")
PATH_PREFIX = "/open-apis/bot/v2/hook/"
MAX_BODY_BYTES = 20_000  # "request body ≤ 20 KB", read as 20,000 to stay clear of either reading
SIGN_RESERVE_BYTES = 120  # ``"timestamp":"…","sign":"<44 chars>"`` added by ``prepare``
MAX_ELEMENTS = 50  # our cap on card elements: one per item keeps cards readable
FIXED_ELEMENTS = 7  # summary, problems, notes, mentions, two rules, note
TEMPLATES = {"critical": "red", "high": "orange", "medium": "yellow", "low": "blue", "info": "grey"}
RESOLVED_TEMPLATE = "green"
THROTTLE_S = 1.0  # 11232 names no delay; one second clears the 5/s window
RETRY_CODES = {11232: "frequency limited"}
PERMANENT_CODES = {
    9499: "bad request",
    19001: "webhook token invalid (bot removed?)",
    19002: "params error",
    19021: "signature or timestamp mismatch",
    19022: "IP not allowed",
    19024: "keyword not found",
}


def matches(url: str) -> bool:
    """``https://open.feishu.cn/open-apis/bot/v2/hook/<token>`` (Lark: ``open.larksuite.com``)."""
    parts = urlsplit(url)
    return (parts.hostname or "").lower() in HOSTS and parts.path.startswith(PATH_PREFIX)


def escape(text: object, limit: int = 300) -> str:
    return defuse(text, NAME, limit)


def _mention(target: str) -> str:
    """A configured open_id/user_id (or ``all``) as a ``lark_md`` at-tag."""
    ident = "".join(char for char in clean(target, 64) if char.isalnum() or char in "_-.@")
    return f"<at id={ident}></at>" if ident else ""


def _item_md(item: DigestItem) -> str:
    text = f"**{heading(item)}** · {escape(item.policy_title, 150)}\n{escape(item.text(), 600)}"
    if item.examples:
        text += "\ne.g. " + ", ".join(escape(example, 80) for example in item.examples[:5])
    return text


def _div(content: str) -> JsonDict:
    return {"tag": "div", "text": {"tag": "lark_md", "content": content}}


def render(digest: Digest) -> JsonDict:
    worst = worst_firing(digest)
    template = TEMPLATES.get(worst, "red") if worst else RESOLVED_TEMPLATE
    fixed: list[JsonDict] = [_div(f"**{escape(digest.target, 200)}** · {escape(digest.severity_line())}")]
    if digest.problems:
        fixed.append(_div("\n".join(f"⚠️ {escape(p, 400)}" for p in digest.problems[:MAX_PROBLEMS])))
    if digest.notes:
        fixed.append(_div("\n".join(f"🕒 {escape(n, 400)}" for n in digest.notes[:MAX_PROBLEMS])))
    tags = [tag for tag in map(_mention, digest.mentions) if tag]
    if tags:
        fixed.append(_div(" ".join(tags)))
    report, local = safe_url(digest.report_url), report_line(digest)

    def build(fitted: Fitted) -> JsonDict:
        closing = escape(closing_line(digest, fitted), 400) + (f" · [report]({report})" if report else "")
        if local:  # a line of its own: the path keeps its own budget
            closing += "\n" + escape(local, REPORT_LINE_CHARS)
        elements = [
            *fixed,
            {"tag": "hr"},
            *(_div(_item_md(item)) for item in fitted.shown),
            {"tag": "hr"},
            {"tag": "note", "elements": [{"tag": "lark_md", "content": closing}]},
        ]
        header = {"title": {"tag": "plain_text", "content": clean(digest.title, 200)}, "template": template}
        card = {"config": {"wide_screen_mode": True}, "header": header, "elements": elements}
        return {"msg_type": "interactive", "card": card}

    return fit_payload(
        digest.items,
        build,
        size,
        MAX_BODY_BYTES - SIGN_RESERVE_BYTES,
        cost=lambda item: size(_div(_item_md(item))) + 1,
        max_items=MAX_ELEMENTS - FIXED_ELEMENTS,
    )


def sign(secret: str, timestamp: str) -> str:
    """Feishu's scheme: the key is ``timestamp + "\\n" + secret`` and the message is empty."""
    key = f"{timestamp}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


def prepare(url: str, payload: JsonDict, secret: str | None, now: float) -> tuple[str, dict, bytes]:
    body = dict(payload)
    if secret:
        timestamp = str(int(now))
        body.update(timestamp=timestamp, sign=sign(secret, timestamp))
    return url, {"Content-Type": "application/json; charset=utf-8"}, encode(body)


def judge(status: int, headers: dict[str, str], body: bytes, now: float) -> SendResult:
    answer = answer_json(body)
    return judge_code(
        NAME,
        "code",
        status,
        headers,
        answer.get("code", answer.get("StatusCode")),
        answer.get("msg", answer.get("StatusMessage", "")),
        now,
        retry_codes=RETRY_CODES,
        permanent_codes=PERMANENT_CODES,
        throttle_s=THROTTLE_S,
    )


def to_text(payload: JsonDict) -> str:
    card = payload["card"]
    title = card["header"]["title"]["content"]
    lines = [title, "=" * len(title)]
    for element in card["elements"]:
        if element["tag"] == "div":
            lines += [element["text"]["content"], ""]
        elif element["tag"] == "hr":
            lines.append("-" * 40)
        elif element["tag"] == "note":
            lines += [part["content"] for part in element["elements"]]
    return _unescape("\n".join(lines))


def _unescape(text: str) -> str:
    return html.unescape(text.replace("\u2060", ""))
