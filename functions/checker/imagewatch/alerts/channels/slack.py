"""Slack incoming webhooks: a Block Kit digest; success is HTTP 200 with the body ``ok``.

Limits (Slack docs): ≤ 50 blocks, header ≤ 150 chars, section text ≤ 3000 chars, fallback ``text``
≤ 40,000 chars. Inventory text goes through ``text.defuse`` (``& < >`` as entities, emphasis and code
markers as look-alikes, ``://`` broken, ``@`` defused) and every mrkdwn object is ``verbatim``, so it
can form no link, mention, ``<!channel>`` or formatting.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from imagewatch.alerts.channels.common import REPORT_LINE_CHARS, TAGS, report_line, safe_url
from imagewatch.alerts.channels.result import SendResult
from imagewatch.alerts.digest import Digest, DigestItem, fit
from imagewatch.alerts.text import clean, defuse
from imagewatch.retry import parse_retry_after

NAME = "slack"
MIN_INTERVAL_S = 1.0  # "about one message per second" per webhook, short bursts allowed
MAX_BLOCKS = 50
HEADER_CHARS = 150
SECTION_CHARS = 3000
ITEM_CHARS = 900
FIXED_BLOCKS = 7  # header, summary, mentions, problems, notes, divider, closing context


def matches(url: str) -> bool:
    """``https://hooks.slack.com/services/T…/B…/…``."""
    parts = urlsplit(url)
    return (parts.hostname or "").lower() == "hooks.slack.com" and parts.path.startswith("/services/")


def escape(text: object, limit: int = 300) -> str:
    return defuse(text, NAME, limit)


def mrkdwn(text: str) -> dict[str, object]:
    """A mrkdwn text object with ``verbatim: true``: Slack does not auto-link URLs or domains, nor turn
    ``@here``-like words into mentions; only our explicit ``<@U…>``/``<!here>``/``<url|text>`` count."""
    return {"type": "mrkdwn", "text": text[:SECTION_CHARS], "verbatim": True}


def _mention(target: str) -> str:
    """``U123`` → ``<@U123>``; ``!here``, ``!channel``, ``!subteam^S1`` → ``<!here>`` and so on."""
    target = clean(target, 60).replace("<", "").replace(">", "")
    return f"<{target}>" if target.startswith("!") else f"<@{target}>"


def _item_text(item: DigestItem) -> str:
    text = (
        f"*{TAGS[item.kind]}* · *{item.severity.upper()}* · {escape(item.policy_title, 150)}\n"
        f"{escape(item.text(), 600)}"
    )
    if item.examples:
        text += "\n_e.g._ " + ", ".join(f"`{escape(example, 80)}`" for example in item.examples[:5])
    return text[:ITEM_CHARS]


def render(digest: Digest) -> dict[str, object]:
    fitted = fit(digest.items, lambda item: 1, MAX_BLOCKS - FIXED_BLOCKS, MAX_BLOCKS - FIXED_BLOCKS)
    summary = f"*{escape(digest.target, 200)}* · {escape(digest.severity_line())}"
    blocks: list[dict[str, object]] = [
        {"type": "header", "text": {"type": "plain_text", "text": clean(digest.title, HEADER_CHARS)}},
        {"type": "section", "text": mrkdwn(summary)},
    ]
    if digest.problems:
        problems = "\n".join(f"⚠️ {escape(p, 400)}" for p in digest.problems)
        blocks.append({"type": "section", "text": mrkdwn(problems)})
    if digest.notes:
        notes = "\n".join(f"🕒 {escape(n, 400)}" for n in digest.notes)
        blocks.append({"type": "section", "text": mrkdwn(notes)})
    blocks.append({"type": "divider"})
    blocks.extend({"type": "section", "text": mrkdwn(_item_text(item))} for item in fitted.shown)
    if digest.mentions:  # configured user/group ids, not inventory text
        mention_text = " ".join(_mention(m) for m in digest.mentions)
        blocks.insert(2, {"type": "section", "text": mrkdwn(mention_text)})
    closing = [fitted.more_line(), f"run {digest.run_id} · {digest.generated_at}"]
    report, local = safe_url(digest.report_url), report_line(digest)
    if report:
        closing.append(f"<{report}|report>")
    elements = [mrkdwn(" · ".join(c for c in closing if c))]
    if local:  # an element of its own: the path keeps its own budget
        elements.append(mrkdwn(escape(local, REPORT_LINE_CHARS)))
    blocks.append({"type": "context", "elements": elements})
    fallback = f"{digest.title} — {digest.severity_line()}"
    return {"text": fallback[:40_000], "blocks": blocks}


def prepare(url: str, payload: dict[str, object], secret: str | None, now: float) -> tuple[str, dict, bytes]:
    """Slack signs nothing: the URL is the secret."""
    body = json.dumps(payload, ensure_ascii=False).encode()
    return url, {"Content-Type": "application/json"}, body


def judge(status: int, headers: dict[str, str], body: bytes, now: float) -> SendResult:
    text = body[:200].decode("utf-8", "replace").strip()
    if status == 200 and text == "ok":
        return SendResult(ok=True)
    if status == 429 or status >= 500:
        return SendResult(False, True, parse_retry_after(headers.get("retry-after"), now), f"HTTP {status}")
    return SendResult(False, False, None, f"HTTP {status} {clean(text, 80)}".strip())


def to_text(payload: dict[str, object]) -> str:
    """A readable plain-text view of a rendered payload (for previews and the demo)."""
    lines: list[str] = []
    for block in payload.get("blocks", []):  # type: ignore[union-attr]
        kind = block.get("type")
        if kind == "header":
            lines += [block["text"]["text"], "=" * len(block["text"]["text"])]
        elif kind == "section":
            lines += [block["text"]["text"], ""]
        elif kind == "divider":
            lines.append("-" * 40)
        elif kind == "context":
            lines += [element["text"] for element in block["elements"]]
    text = "\n".join(lines).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return text.replace("\u2060", "")
