"""Discord webhooks: embeds; success is 204 (or 200 with ``?wait=true``).

Limits (Discord docs): ≤ 10 embeds; title ≤ 256, description ≤ 4096, ≤ 25 fields (name ≤ 256,
value ≤ 1024), footer ≤ 2048; all embed text together ≤ 6000; ``content`` ≤ 2000. Characters are
counted as UTF-16 units (never fewer than code points). ``allowed_mentions`` is always
``{"parse": []}`` plus the configured users/roles, so nothing in the text can ping; inventory text is
also backslash-escaped and its ``@`` defused so it cannot even look like markup or a mention.
A 429 carries ``retry_after`` (float seconds) in JSON; a 404 means the webhook was deleted.
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
    report_line,
    safe_url,
    transient,
    worst_firing,
)
from imagewatch.alerts.channels.result import SendResult
from imagewatch.alerts.digest import Digest, DigestItem, Fitted
from imagewatch.alerts.text import clean, defuse, utf16_len
from imagewatch.retry import parse_retry_after

NAME = "discord"
MIN_INTERVAL_S = 2.0  # 30 messages/min per channel for webhooks; per-route buckets come in headers
HOSTS = ("discord.com", "discordapp.com", "ptb.discord.com", "canary.discord.com")
MAX_EMBEDS = 10
TITLE_CHARS = 256
DESCRIPTION_CHARS = 4096
MAX_FIELDS = 25
FIELD_NAME_CHARS = 256
FIELD_VALUE_CHARS = 1024
FOOTER_CHARS = 2048
TOTAL_EMBED_CHARS = 6000
CONTENT_CHARS = 2000
THROTTLE_S = 1.0  # when a 429 names no delay at all
COLOURS = {"critical": 0xB00020, "high": 0xE65100, "medium": 0xF9A825, "low": 0x1565C0, "info": 0x607D8B}
RESOLVED_COLOUR = 0x2E7D32
PERMANENT_CODES = {
    10015: "unknown webhook (deleted)",
    50027: "invalid webhook token",
    50035: "invalid form body",
}
_PATH = re.compile(r"^/api(/v\d+)?/webhooks/\d+/[\w-]+/?$")
_SNOWFLAKE = re.compile(r"^\d{5,25}$")


def matches(url: str) -> bool:
    """``https://discord.com/api/webhooks/<id>/<token>`` (also discordapp.com, ptb., canary.)."""
    parts = urlsplit(url)
    return (parts.hostname or "").lower() in HOSTS and bool(_PATH.match(parts.path))


def escape(text: object, limit: int = 300) -> str:
    return defuse(text, NAME, limit)


def _clip(text: str, limit: int) -> str:
    """At most ``limit`` UTF-16 units (escaping can lengthen text after ``clean`` clipped it)."""
    while utf16_len(text) > limit:
        text = text[: max(0, len(text) - max(1, utf16_len(text) - limit))]
    return text


def _field(item: DigestItem) -> JsonDict:
    value = escape(item.text(), 600)
    if item.examples:
        value += "\ne.g. " + ", ".join(escape(example, 60) for example in item.examples[:5])
    return {
        "name": _clip(f"{heading(item)} · {escape(item.policy_title, 150)}", FIELD_NAME_CHARS),
        "value": _clip(value, FIELD_VALUE_CHARS),
        "inline": False,
    }


def _mentions(targets: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """Configured ids: ``123…`` or ``user:123…`` for users, ``&123…`` or ``role:123…`` for roles."""
    users: list[str] = []
    roles: list[str] = []
    for raw in targets:
        target = clean(raw, 64).strip()
        kind, _, ident = target.rpartition(":") if ":" in target else ("", "", target)
        if ident.startswith("&"):
            kind, ident = "role", ident[1:]
        if _SNOWFLAKE.match(ident):
            (roles if kind == "role" else users).append(ident)
    return users[:100], roles[:100]


def embed_chars(embeds: list[JsonDict]) -> int:
    """What Discord counts towards the 6000: titles, descriptions, field names and values, footers."""
    total = 0
    for embed in embeds:
        total += utf16_len(embed.get("title", "")) + utf16_len(embed.get("description", ""))
        total += utf16_len(embed.get("footer", {}).get("text", ""))
        total += utf16_len(embed.get("author", {}).get("name", ""))
        total += sum(utf16_len(f["name"]) + utf16_len(f["value"]) for f in embed.get("fields", []))
    return total


def render(digest: Digest) -> JsonDict:
    worst = worst_firing(digest)
    colour = COLOURS.get(worst, COLOURS["critical"]) if worst else RESOLVED_COLOUR
    users, roles = _mentions(digest.mentions)
    title = _clip(escape(digest.title, 250), TITLE_CHARS)
    lines = [f"**{escape(digest.target, 200)}** · {escape(digest.severity_line())}"]
    lines += [f"⚠️ {escape(p, 400)}" for p in digest.problems[:MAX_PROBLEMS]]
    lines += [f"🕒 {escape(n, 400)}" for n in digest.notes[:MAX_PROBLEMS]]
    description = _clip("\n".join(lines), DESCRIPTION_CHARS)
    content = " ".join([f"<@{u}>" for u in users] + [f"<@&{r}>" for r in roles])
    content = _clip(f"{title}\n{content}".strip(), CONTENT_CHARS)
    report, local = safe_url(digest.report_url), report_line(digest)

    def build(fitted: Fitted) -> JsonDict:
        fields = [_field(item) for item in fitted.shown]
        first: JsonDict = {"title": title, "description": description, "color": colour}
        if report:
            first["url"] = report
        embeds = [first] + [{"color": colour} for _ in range((len(fields) - 1) // MAX_FIELDS)]
        for index, embed in enumerate(embeds):
            chunk = fields[index * MAX_FIELDS : (index + 1) * MAX_FIELDS]
            if chunk:
                embed["fields"] = chunk
        footer = escape(closing_line(digest, fitted), 400)
        if local:  # a line of its own: the path keeps its own budget
            footer += "\n" + escape(local, REPORT_LINE_CHARS)
        embeds[-1]["footer"] = {"text": _clip(footer, FOOTER_CHARS)}
        embeds[-1]["timestamp"] = clean(digest.generated_at, 40)
        allowed: JsonDict = {"parse": []}
        if users:
            allowed["users"] = users
        if roles:
            allowed["roles"] = roles
        return {"content": content, "embeds": embeds, "allowed_mentions": allowed}

    return fit_payload(
        digest.items,
        build,
        lambda payload: embed_chars(payload["embeds"]),
        TOTAL_EMBED_CHARS,
        lambda item: embed_chars([{"fields": [_field(item)]}]),
        MAX_EMBEDS * MAX_FIELDS,
    )


def prepare(url: str, payload: JsonDict, secret: str | None, now: float) -> tuple[str, dict, bytes]:
    """Discord signs nothing: the token in the URL is the secret."""
    return url, {"Content-Type": "application/json"}, encode(payload)


def judge(status: int, headers: dict[str, str], body: bytes, now: float) -> SendResult:
    if status in (200, 204):
        return SendResult(ok=True)
    answer = answer_json(body)
    if status == 429:
        after = answer.get("retry_after")
        if isinstance(after, int | float) and not isinstance(after, bool):
            wait = max(0.0, float(after))
        else:
            wait = parse_retry_after(headers.get("retry-after"), now) or THROTTLE_S
        scope = " (global)" if answer.get("global") else ""
        return SendResult(False, True, wait, f"discord HTTP 429{scope}")
    if is_transient(status):
        return transient(NAME, status, headers, now, THROTTLE_S)
    code = answer.get("code")
    known = PERMANENT_CODES.get(code, "") if isinstance(code, int) else ""
    if status == 404 and not known:
        known = "webhook not found (deleted)"
    suffix = f" code {code}" if isinstance(code, int) else ""
    return SendResult(False, False, None, f"discord HTTP {status}{suffix} {known}".strip())


def to_text(payload: JsonDict) -> str:
    lines = [payload.get("content", "")]
    for embed in payload["embeds"]:
        if "title" in embed:
            lines += [embed["title"], "=" * len(embed["title"])]
        if "description" in embed:
            lines += [embed["description"], ""]
        for field in embed.get("fields", []):
            lines += [field["name"], field["value"], ""]
        if "footer" in embed:
            lines.append(embed["footer"]["text"])
    return re.sub(r"\\(.)", r"\1", "\n".join(lines)).replace("\u2060", "")
