"""DingTalk custom robots: a markdown message; success is ``errcode == 0`` in the body.

DingTalk answers HTTP 200 even when it refuses a message. Limits: 20 messages/min per robot (over that
the robot is blocked for 10 minutes); the body size limit is not documented for custom robots — the
app-robot API caps 15,000 bytes and custom robots are seen refusing ~20,000 (460101), so we stay under
15,000. Optional 加签: query ``timestamp`` (ms) and url-encoded ``sign`` =
``base64(HMAC-SHA256(key=secret, msg=f"{timestamp}\\n{secret}"))`` — key and message are the other way
round from Feishu. Mentions need both the ``at`` object and ``@id`` in the text; inventory text has its
``@`` defused and ``< > [ ]`` swapped for look-alikes, so it can form neither mentions nor links.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

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
)
from imagewatch.alerts.channels.result import SendResult
from imagewatch.alerts.digest import Digest, DigestItem, Fitted
from imagewatch.alerts.text import clean, defuse, utf8_len

NAME = "dingtalk"
MIN_INTERVAL_S = 3.0  # 20/min per robot
HOST = "oapi.dingtalk.com"
PATH = "/robot/send"
MAX_BODY_BYTES = 15_000
MAX_ITEMS = 100  # our cap: a readable digest
THROTTLE_S = 60.0  # 130101: the per-minute window; a robot blocked for 10 minutes resends next run
RETRY_CODES = {130101: "send too fast"}
PERMANENT_CODES = {
    300001: "token does not exist (robot removed?)",
    310000: "keyword, signature, timestamp or IP check failed",
    400102: "robot stopped",
    460101: "body too large",
}
_PHONE = re.compile(r"^\+?[0-9-]{5,20}$")


def matches(url: str) -> bool:
    """``https://oapi.dingtalk.com/robot/send?access_token=…``."""
    parts = urlsplit(url)
    return (parts.hostname or "").lower() == HOST and parts.path == PATH


def escape(text: object, limit: int = 300) -> str:
    return defuse(text, NAME, limit)


def _at(mentions: tuple[str, ...]) -> tuple[JsonDict, str]:
    """The ``at`` object and the ``@…`` text for configured mentions: phones, user ids, or ``all``."""
    mobiles: list[str] = []
    users: list[str] = []
    at_all = False
    for raw in mentions:
        target = clean(raw, 64).lstrip("@")
        if target.lower() == "all":
            at_all = True
        elif _PHONE.match(target):
            mobiles.append(target)
        elif ident := "".join(char for char in target if char.isalnum() or char in "_-."):
            users.append(ident)
    text = " ".join(f"@{who}" for who in [*mobiles, *users]) + (" @all" if at_all else "")
    return {"atMobiles": mobiles, "atUserIds": users, "isAtAll": at_all}, text.strip()


def _item_md(item: DigestItem) -> str:
    text = f"- **{heading(item)}** · {escape(item.policy_title, 150)}  \n  {escape(item.text(), 600)}"
    if item.examples:
        text += "  \n  e.g. " + ", ".join(escape(example, 80) for example in item.examples[:5])
    return text


def render(digest: Digest) -> JsonDict:
    at, mention_text = _at(digest.mentions)
    head = [
        f"#### {clean(digest.title, 200)}",
        f"**{escape(digest.target, 200)}** · {escape(digest.severity_line())}",
    ]
    head += [f"> ⚠️ {escape(p, 400)}" for p in digest.problems[:MAX_PROBLEMS]]
    head += [f"> 🕒 {escape(n, 400)}" for n in digest.notes[:MAX_PROBLEMS]]
    report, local = safe_url(digest.report_url), report_line(digest)

    def build(fitted: Fitted) -> JsonDict:
        tail = [escape(closing_line(digest, fitted), 400)]
        if local:
            tail.append(escape(local, REPORT_LINE_CHARS))
        if report:
            tail.append(f"[report]({report})")
        if mention_text:
            tail.append(mention_text)
        text = "\n\n".join([*head, "---", *(_item_md(item) for item in fitted.shown), "---", *tail])
        return {
            "msgtype": "markdown",
            "markdown": {"title": clean(digest.title, 100), "text": text},
            "at": at,
        }

    return fit_payload(
        digest.items, build, size, MAX_BODY_BYTES, lambda item: utf8_len(_item_md(item)) + 8, MAX_ITEMS
    )


def sign(secret: str, timestamp: str) -> str:
    """DingTalk's scheme: the key is the secret, the message ``timestamp + "\\n" + secret``."""
    digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def prepare(url: str, payload: JsonDict, secret: str | None, now: float) -> tuple[str, dict, bytes]:
    if secret:
        timestamp = str(int(now * 1000))
        parts = urlsplit(url)
        query = [
            (k, v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
            if k not in ("timestamp", "sign")
        ]
        query += [("timestamp", timestamp), ("sign", sign(secret, timestamp))]
        url = urlunsplit(parts._replace(query=urlencode(query)))
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
    text = payload["markdown"]["text"].replace("\u2060", "")
    return text.replace("  \n", "\n").replace("\n\n", "\n")
