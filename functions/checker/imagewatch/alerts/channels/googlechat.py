"""Google Chat incoming webhooks: a ``cardsV2`` card; success is HTTP 200 with the created Message.

Limits (Google docs): message ≤ 32,000 bytes, ≤ 100 widgets per card (more are ignored), 60 messages/
min per space. No signing: ``key`` and ``token`` in the URL are the secret. Threads: add
``threadKey=…`` to the configured URL and ``prepare`` moves it into the body with
``messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD``. Card text reads a little HTML, so
inventory text is HTML-escaped (brackets too); configured mentions (``<users/ID>``) go in the
top-level ``text``.
"""

from __future__ import annotations

import html
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
    is_transient,
    reason,
    report_line,
    safe_url,
    size,
    transient,
)
from imagewatch.alerts.channels.result import SendResult
from imagewatch.alerts.digest import Digest, DigestItem, Fitted
from imagewatch.alerts.text import clean, defuse

NAME = "googlechat"
MIN_INTERVAL_S = 1.0  # 60/min per space
HOST = "chat.googleapis.com"
MAX_BODY_BYTES = 32_000
THREAD_RESERVE_BYTES = 200  # ``"thread":{"threadKey":"…"}`` added by ``prepare``
MAX_WIDGETS = 100
FIXED_WIDGETS = 2 * MAX_PROBLEMS + 3  # target, problems, notes, closing line, report button
THROTTLE_S = 1.0  # one message a second is the space's pace
REPLY_OPTION = "REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD"


def matches(url: str) -> bool:
    """``https://chat.googleapis.com/v1/spaces/<space>/messages?key=…&token=…``."""
    parts = urlsplit(url)
    path = parts.path.split("/")
    return (parts.hostname or "").lower() == HOST and len(path) == 5 and path[1:3] == ["v1", "spaces"]


def escape(text: object, limit: int = 300) -> str:
    """HTML-escaped; brackets as entities too (same look), so no markdown link forms if Chat reads any."""
    return defuse(text, NAME, limit)


def _mention(target: str) -> str:
    """``users/123`` or ``123`` → ``<users/123>``; ``all`` → ``<users/all>``."""
    ident = clean(target, 80).removeprefix("users/")
    ident = "".join(char for char in ident if char.isalnum() or char in "_-.@")
    return f"<users/{ident}>"


def _widget(item: DigestItem) -> JsonDict:
    text = escape(item.text(), 600)
    if item.examples:
        text += "<br>e.g. " + ", ".join(escape(example, 80) for example in item.examples[:5])
    label = f"{heading(item)} · {escape(item.policy_title, 150)}"
    return {"decoratedText": {"topLabel": label, "text": text, "wrapText": True}}


def _note(icon: str, text: str) -> JsonDict:
    return {"decoratedText": {"startIcon": {"knownIcon": icon}, "text": text, "wrapText": True}}


def render(digest: Digest) -> JsonDict:
    title = clean(digest.title, 200)
    text = " ".join([title, *(_mention(m) for m in digest.mentions)])
    status = [_note("BOOKMARK", f"<b>{escape(digest.target, 200)}</b>")]
    status += [_note("DESCRIPTION", f"⚠️ {escape(p, 400)}") for p in digest.problems[:MAX_PROBLEMS]]
    status += [_note("CLOCK", f"🕒 {escape(n, 400)}") for n in digest.notes[:MAX_PROBLEMS]]
    report, local = safe_url(digest.report_url), report_line(digest)

    def build(fitted: Fitted) -> JsonDict:
        sections: list[JsonDict] = []
        sections.append({"header": "Status", "widgets": status})
        if fitted.shown:
            sections.append({"header": "Violations", "widgets": [_widget(item) for item in fitted.shown]})
        closing: list[JsonDict] = [{"decoratedText": {"text": escape(closing_line(digest, fitted), 400)}}]
        if report:
            button = {"text": "Open report", "onClick": {"openLink": {"url": report}}}
            closing.append({"buttonList": {"buttons": [button]}})
        elif local:  # the report button's place: a widget of its own, the path's own budget
            closing.append({"decoratedText": {"text": escape(local, REPORT_LINE_CHARS)}})
        sections.append({"widgets": closing})
        header = {"title": title, "subtitle": digest.severity_line()}  # header text is plain: ours only
        card = {"header": header, "sections": sections}
        return {"text": text, "cardsV2": [{"cardId": "imagewatch-digest", "card": card}]}

    return fit_payload(
        digest.items,
        build,
        size,
        MAX_BODY_BYTES - THREAD_RESERVE_BYTES,
        lambda item: size(_widget(item)) + 1,
        MAX_WIDGETS - FIXED_WIDGETS,
    )


def prepare(url: str, payload: JsonDict, secret: str | None, now: float) -> tuple[str, dict, bytes]:
    """No signing; a ``threadKey`` in the configured URL becomes the body's thread."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    thread = [value for key, value in query if key == "threadKey"]
    body = dict(payload)
    if thread:
        body["thread"] = {"threadKey": clean(thread[0], 150)}
        query = [(k, v) for k, v in query if k not in ("threadKey", "messageReplyOption")]
        query.append(("messageReplyOption", REPLY_OPTION))
        url = urlunsplit(parts._replace(query=urlencode(query)))
    return url, {"Content-Type": "application/json; charset=UTF-8"}, encode(body)


def judge(status: int, headers: dict[str, str], body: bytes, now: float) -> SendResult:
    answer = answer_json(body)
    if status == 200 and str(answer.get("name", "")).startswith("spaces/"):
        return SendResult(ok=True)
    if is_transient(status):
        return transient(NAME, status, headers, now, THROTTLE_S)
    error = answer.get("error") if isinstance(answer.get("error"), dict) else {}
    code = error.get("status") or reason(error.get("message")) or "no Message in the answer"
    return SendResult(False, False, None, f"googlechat HTTP {status} {code}")


def to_text(payload: JsonDict) -> str:
    card = payload["cardsV2"][0]["card"]
    lines = [card["header"]["title"], card["header"]["subtitle"], ""]
    for section in card["sections"]:
        if section.get("header"):
            lines.append(f"[{section['header']}]")
        for widget in section["widgets"]:
            decorated = widget.get("decoratedText")
            if decorated:
                lines += [part for part in (decorated.get("topLabel"), decorated["text"]) if part]
        lines.append("")
    return html.unescape("\n".join(lines).replace("<br>", "\n").replace("\u2060", ""))
