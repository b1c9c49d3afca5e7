"""Microsoft Teams via a Workflows (Power Automate) webhook: an Adaptive Card 1.4; success is 200/202.

Limits: the message ≤ 28 KB; rate limit not documented (we pace one a second). The flow runs
asynchronously, so a 202 only means "accepted": failures inside the flow are never reported back.
Legacy Office 365 connector URLs (``*.webhook.office.com``) are still recognised and sent the same
card, but Microsoft retires them: their success (body ``1``) is reported with a note to move on, and
their HTTP-200 "delivery failed … 429" answers are read as throttling.
TextBlocks render a markdown subset, so inventory text is backslash-escaped, ``< > [ ]`` become
look-alikes (no ``<at>`` tag or link can form) and ``@`` is defused. No signing: the ``sig`` in the
URL is the secret.
"""

from __future__ import annotations

import re
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
    is_transient,
    reason,
    report_line,
    safe_url,
    size,
    transient,
    worst_firing,
)
from imagewatch.alerts.channels.result import SendResult
from imagewatch.alerts.digest import Digest, DigestItem, Fitted
from imagewatch.alerts.text import clean, defuse

NAME = "teams"
MIN_INTERVAL_S = 1.0  # undocumented for Workflows (legacy connectors: 4/s); one a second is safe
WORKFLOW_HOST_SUFFIXES = (".logic.azure.com", ".powerplatform.com")
LEGACY_HOST_SUFFIXES = (".webhook.office.com",)
LEGACY_NOTE = "legacy Office 365 connector: retired by Microsoft, move to a Workflows webhook"
MAX_BODY_BYTES = 28_000  # "28 KB", read as 28,000
MAX_ITEMS = 60  # our cap: a readable card
THROTTLE_S = 1.0
CARD_VERSION = "1.4"
CARD_TYPE = "application/vnd.microsoft.card.adaptive"
SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
TITLE_COLOURS = {"critical": "Attention", "high": "Attention", "medium": "Warning", "low": "Default"}


def matches(url: str) -> bool:
    """Workflows: ``https://….logic.azure.com/workflows/…`` or ``https://….powerplatform.com/…``
    with ``sig``; legacy connectors: ``https://<tenant>.webhook.office.com/webhookb2/…``."""
    host = (urlsplit(url).hostname or "").lower()
    return host.endswith(WORKFLOW_HOST_SUFFIXES) or is_legacy(url)


def is_legacy(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return host.endswith(LEGACY_HOST_SUFFIXES) or host == "outlook.office.com"


def escape(text: object, limit: int = 300) -> str:
    return defuse(text, NAME, limit)


def _text(text: str, **style: object) -> JsonDict:
    return {"type": "TextBlock", "text": text, "wrap": True, **style}


def _item_block(item: DigestItem) -> JsonDict:
    text = f"**{heading(item)}** · {escape(item.policy_title, 150)}\n\n{escape(item.text(), 600)}"
    if item.examples:
        text += "\n\ne.g. " + ", ".join(escape(example, 80) for example in item.examples[:5])
    return _text(text, separator=True)


def _mentions(targets: tuple[str, ...]) -> tuple[str, list[JsonDict]]:
    """Configured ids (AAD object id or UPN) as ``<at>…</at>`` text with matching entities."""
    entities: list[JsonDict] = []
    for raw in targets:
        ident = re.sub(r"[^\w@.\-]", "", clean(raw, 100))
        if ident:
            tag = f"<at>{ident}</at>"
            entities.append({"type": "mention", "text": tag, "mentioned": {"id": ident, "name": ident}})
    return " ".join(entity["text"] for entity in entities), entities


def render(digest: Digest) -> JsonDict:
    worst = worst_firing(digest)
    colour = TITLE_COLOURS.get(worst, "Default") if worst else "Good"
    head = [
        _text(clean(digest.title, 200), size="Large", weight="Bolder", color=colour),
        _text(f"**{escape(digest.target, 200)}** · {escape(digest.severity_line())}", spacing="None"),
    ]
    head += [_text(f"⚠️ {escape(p, 400)}", color="Warning") for p in digest.problems[:MAX_PROBLEMS]]
    head += [_text(f"🕒 {escape(n, 400)}", isSubtle=True) for n in digest.notes[:MAX_PROBLEMS]]
    mention_text, entities = _mentions(digest.mentions)
    if mention_text:
        head.append(_text(mention_text))
    report, local = safe_url(digest.report_url), report_line(digest)

    def build(fitted: Fitted) -> JsonDict:
        body = [*head, *(_item_block(item) for item in fitted.shown)]
        body.append(_text(escape(closing_line(digest, fitted), 400), isSubtle=True, separator=True))
        if local:  # a line of its own: the path keeps its own budget
            body.append(_text(escape(local, REPORT_LINE_CHARS), isSubtle=True, spacing="None"))
        card: JsonDict = {"$schema": SCHEMA, "type": "AdaptiveCard", "version": CARD_VERSION, "body": body}
        if report:
            card["actions"] = [{"type": "Action.OpenUrl", "title": "Open report", "url": report}]
        card["msteams"] = {"width": "full", **({"entities": entities} if entities else {})}
        attachment = {"contentType": CARD_TYPE, "contentUrl": None, "content": card}
        return {"type": "message", "attachments": [attachment]}

    return fit_payload(
        digest.items, build, size, MAX_BODY_BYTES, lambda item: size(_item_block(item)) + 1, MAX_ITEMS
    )


def prepare(url: str, payload: JsonDict, secret: str | None, now: float) -> tuple[str, dict, bytes]:
    """Teams signs nothing: the ``sig`` query parameter of the URL is the secret."""
    return url, {"Content-Type": "application/json"}, encode(payload)


def judge(status: int, headers: dict[str, str], body: bytes, now: float) -> SendResult:
    text = body[:300].decode("utf-8", "replace").strip()
    if status == 200 and text.startswith("Webhook message delivery failed"):  # legacy connector
        throttled = "429" in text
        return SendResult(
            False, throttled, THROTTLE_S if throttled else None, "teams connector delivery failed"
        )
    if status in (200, 202):
        return SendResult(True, detail=LEGACY_NOTE if text == "1" else "")
    if is_transient(status):
        return transient(NAME, status, headers, now, THROTTLE_S)
    error = answer_json(body).get("error")
    code = reason(error.get("code")) if isinstance(error, dict) else ""
    return SendResult(False, False, None, f"teams HTTP {status} {code}".strip())


def to_text(payload: JsonDict) -> str:
    card = payload["attachments"][0]["content"]
    lines = [block["text"].replace("\n\n", "\n") for block in card["body"] if block["type"] == "TextBlock"]
    lines += [f"{action['title']}: {action['url']}" for action in card.get("actions", [])]
    return re.sub(r"\\(.)", r"\1", "\n\n".join(lines)).replace("\u2060", "")
