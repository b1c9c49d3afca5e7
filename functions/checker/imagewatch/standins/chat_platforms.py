"""How each chat platform answers, for ``WebhookSink``: its URL path, its "yes", its "too fast", its
"this webhook is gone", and the checks it makes before accepting (size limits, keywords, signatures).

The limits here are written out independently of the renderers (from docs/webhooks.md), so a test
that a stand-in accepted a rendered digest proves the renderer kept within them. Where a platform's
exact answer is undocumented the stand-in picks a plausible one and says so.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True, slots=True)
class Scripted:
    """One HTTP answer."""

    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Received:
    """One request as the stand-in saw it (``path`` includes the query)."""

    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def query(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(urlsplit(self.path).query, keep_blank_values=True).items()}


def as_json(status: int, value: object, *headers: tuple[str, str]) -> Scripted:
    body = json.dumps(value).encode()
    return Scripted(status, body, (("Content-Type", "application/json"), *headers))


def strings(value: object) -> str:
    """Every string in a JSON value, joined: what a keyword filter searches."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return "\n".join(strings(v) for v in value.values())
    if isinstance(value, list):
        return "\n".join(strings(v) for v in value)
    return ""


def parse(request: Received) -> dict[str, Any] | None:
    try:
        value = request.json()
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class Behaviour:
    """The generic JSON webhook: 204, HMAC header signature, no limits. Platforms override."""

    name = "generic"
    signed = True  # whether a configured secret means the stand-in verifies a signature

    def path(self, token: str) -> str:
        return f"/hook/{token}"

    def success(self, request: Received) -> Scripted:
        return Scripted(204)

    def throttled(self, retry_after: float) -> Scripted:
        return Scripted(429, b"slow down", (("Retry-After", _seconds(retry_after)),))

    def removed(self) -> Scripted:
        return Scripted(410, b"gone")

    def bad_signature(self) -> Scripted:
        return Scripted(401, b"bad signature")

    def verify(self, request: Received, secret: str, now: float) -> bool:
        timestamp = request.headers.get("x-imagewatch-timestamp", "")
        mac = hmac.new(secret.encode(), timestamp.encode() + b"." + request.body, hashlib.sha256)
        fresh = timestamp.isdigit() and abs(now - int(timestamp)) <= 300
        return fresh and hmac.compare_digest(
            "sha256=" + mac.hexdigest(), request.headers.get("x-imagewatch-signature", "")
        )

    def check(self, request: Received, keywords: tuple[str, ...]) -> Scripted | None:
        """A rejection for a payload the platform would refuse, or None."""
        return None


def _seconds(value: float) -> str:
    return str(math.ceil(value)) if value != int(value) else str(int(value))


class Slack(Behaviour):
    name = "slack"
    signed = False
    MAX_BLOCKS = 50
    HEADER_CHARS = 150
    SECTION_CHARS = 3000

    def path(self, token: str) -> str:
        return f"/services/T000/B000/{token}"

    def success(self, request: Received) -> Scripted:
        return Scripted(200, b"ok")

    def throttled(self, retry_after: float) -> Scripted:
        return Scripted(429, b"rate_limited", (("Retry-After", _seconds(retry_after)),))

    def removed(self) -> Scripted:
        return Scripted(404, b"no_service")

    def check(self, request: Received, keywords: tuple[str, ...]) -> Scripted | None:
        payload = parse(request)
        if payload is None or not (payload.get("text") or payload.get("blocks")):
            return Scripted(400, b"invalid_payload")
        blocks = payload.get("blocks", [])
        too_long = any(
            (b["type"] == "header" and len(b["text"]["text"]) > self.HEADER_CHARS)
            or (b["type"] == "section" and len(b["text"]["text"]) > self.SECTION_CHARS)
            for b in blocks
        )
        return Scripted(400, b"invalid_blocks") if len(blocks) > self.MAX_BLOCKS or too_long else None


class Teams(Behaviour):
    """A Workflows "when a Teams webhook request is received" trigger."""

    name = "teams"
    signed = False
    MAX_BYTES = 28_000

    def path(self, token: str) -> str:
        return (
            f"/workflows/{token}/triggers/manual/paths/invoke?api-version=2016-06-01"
            f"&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={token}"
        )

    def success(self, request: Received) -> Scripted:
        return Scripted(202)

    def throttled(self, retry_after: float) -> Scripted:
        error = {"error": {"code": "WorkflowRequestsThrottled", "message": "Too many requests."}}
        return as_json(429, error, ("Retry-After", _seconds(retry_after)))

    def removed(self) -> Scripted:
        return as_json(404, {"error": {"code": "WorkflowNotFound", "message": "The workflow was not found."}})

    def check(self, request: Received, keywords: tuple[str, ...]) -> Scripted | None:
        if len(request.body) > self.MAX_BYTES:
            return as_json(413, {"error": {"code": "RequestEntityTooLarge", "message": "Too large."}})
        payload = parse(request) or {}
        attachments = payload.get("attachments") or [{}]
        card = attachments[0].get("content") or {}
        if (
            payload.get("type") != "message"
            or attachments[0].get("contentType") != "application/vnd.microsoft.card.adaptive"
            or card.get("type") != "AdaptiveCard"
            or card.get("version") != "1.4"
        ):
            return as_json(400, {"error": {"code": "InvalidRequestContent", "message": "Not a card."}})
        return None


class Feishu(Behaviour):
    """Feishu / Lark custom bot: always HTTP 200; the body's ``code`` says what happened."""

    name = "feishu"
    MAX_BYTES = 20_000

    def path(self, token: str) -> str:
        return f"/open-apis/bot/v2/hook/{token}"

    def success(self, request: Received) -> Scripted:
        return as_json(200, {"code": 0, "data": {}, "msg": "success"})

    def throttled(self, retry_after: float) -> Scripted:
        return as_json(200, {"code": 11232, "data": {}, "msg": "frequency limited psm[lark.oapi]"})

    def removed(self) -> Scripted:
        return as_json(
            200, {"code": 19001, "data": {}, "msg": "param invalid: incoming webhook access token invalid"}
        )

    def bad_signature(self) -> Scripted:
        msg = "sign match fail or timestamp is not within one hour from current time"
        return as_json(200, {"code": 19021, "data": {}, "msg": msg})

    def verify(self, request: Received, secret: str, now: float) -> bool:
        payload = parse(request) or {}
        timestamp, signature = str(payload.get("timestamp", "")), str(payload.get("sign", ""))
        key = f"{timestamp}\n{secret}".encode()
        expected = base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
        fresh = timestamp.isdigit() and abs(now - int(timestamp)) <= 3600
        return fresh and hmac.compare_digest(expected, signature)

    def check(self, request: Received, keywords: tuple[str, ...]) -> Scripted | None:
        payload = parse(request)
        # Feishu's code for an oversized body is undocumented; the stand-in answers 9499 Bad Received.
        if (
            payload is None
            or len(request.body) > self.MAX_BYTES
            or not isinstance(payload.get("card", {}), dict)
        ):
            return as_json(200, {"code": 9499, "data": {}, "msg": "Bad Received"})
        if keywords and not any(word in strings(payload) for word in keywords):
            return as_json(200, {"code": 19024, "data": {}, "msg": "Key Words Not Found"})
        return None


class DingTalk(Behaviour):
    """DingTalk custom robot: always HTTP 200; ``errcode`` says what happened; 加签 in the query."""

    name = "dingtalk"
    MAX_BYTES = 15_000  # the app-robot cap; custom robots are seen refusing ~20,000 with 460101

    def path(self, token: str) -> str:
        return f"/robot/send?access_token={token}"

    def success(self, request: Received) -> Scripted:
        return as_json(200, {"errcode": 0, "errmsg": "ok"})

    def throttled(self, retry_after: float) -> Scripted:
        return as_json(200, {"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"})

    def removed(self) -> Scripted:
        return as_json(200, {"errcode": 300001, "errmsg": "token is not exist"})

    def bad_signature(self) -> Scripted:
        return as_json(
            200, {"errcode": 310000, "errmsg": "sign not match, more: [https://open.dingtalk.com]"}
        )

    def verify(self, request: Received, secret: str, now: float) -> bool:
        query = request.query
        timestamp, signature = query.get("timestamp", ""), query.get("sign", "")
        mac = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
        fresh = timestamp.isdigit() and abs(now * 1000 - int(timestamp)) <= 3_600_000
        return fresh and hmac.compare_digest(base64.b64encode(mac).decode(), signature)

    def check(self, request: Received, keywords: tuple[str, ...]) -> Scripted | None:
        if len(request.body) > self.MAX_BYTES:
            return as_json(200, {"errcode": 460101, "errmsg": "description: body 大小不合法"})
        payload = parse(request) or {}
        markdown = payload.get("markdown") or {}
        if payload.get("msgtype") != "markdown" or not markdown.get("title") or not markdown.get("text"):
            return as_json(200, {"errcode": 40035, "errmsg": "缺少参数 markdown"})  # stand-in's choice
        if keywords and not any(word in strings(payload) for word in keywords):
            return as_json(200, {"errcode": 310000, "errmsg": "keywords not in content"})
        return None


class WeCom(Behaviour):
    """WeCom group robot: always HTTP 200; ``errcode`` says what happened; no signing."""

    name = "wecom"
    signed = False
    MAX_CONTENT_BYTES = 4096
    HINT = (
        ", hint: [1764144000_00_stand-in], from ip: 127.0.0.1, more info at https://open.work.weixin.qq.com/"
    )

    def path(self, token: str) -> str:
        return f"/cgi-bin/webhook/send?key={token}"

    def success(self, request: Received) -> Scripted:
        return as_json(200, {"errcode": 0, "errmsg": "ok"})

    def throttled(self, retry_after: float) -> Scripted:
        return as_json(200, {"errcode": 45009, "errmsg": "api freq out of limit" + self.HINT})

    def removed(self) -> Scripted:
        return as_json(200, {"errcode": 93000, "errmsg": "invalid webhook url" + self.HINT})

    def check(self, request: Received, keywords: tuple[str, ...]) -> Scripted | None:
        payload = parse(request) or {}
        content = (payload.get("markdown") or {}).get("content")
        if payload.get("msgtype") != "markdown" or not isinstance(content, str):
            return as_json(
                200, {"errcode": 40008, "errmsg": "Warning: wrong json format. invalid message type"}
            )
        if len(content.encode()) > self.MAX_CONTENT_BYTES:
            errmsg = "markdown.content exceed max length 4096. invalid Received Parameter" + self.HINT
            return as_json(200, {"errcode": 40058, "errmsg": errmsg})
        return None


class Discord(Behaviour):
    """Discord webhook: 204, 429 with JSON ``retry_after``, 404 10015 once deleted, 400 50035 limits."""

    name = "discord"
    signed = False
    LIMITS: ClassVar[dict[str, int]] = {
        "title": 256,
        "description": 4096,
        "name": 256,
        "value": 1024,
        "footer": 2048,
    }

    def path(self, token: str) -> str:
        return f"/api/webhooks/112233445566778899/{token}"

    def success(self, request: Received) -> Scripted:
        if request.query.get("wait") == "true":
            return as_json(200, {"id": "1", "type": 0, "content": (parse(request) or {}).get("content", "")})
        return Scripted(204)

    def throttled(self, retry_after: float) -> Scripted:
        body = {"message": "You are being rate limited.", "retry_after": retry_after, "global": False}
        return as_json(
            429,
            body,
            ("Retry-After", _seconds(max(retry_after, 1))),
            ("X-RateLimit-Limit", "5"),
            ("X-RateLimit-Remaining", "0"),
            ("X-RateLimit-Reset-After", str(retry_after)),
            ("X-RateLimit-Scope", "shared"),
        )

    def removed(self) -> Scripted:
        return as_json(404, {"message": "Unknown Webhook", "code": 10015})

    def check(self, request: Received, keywords: tuple[str, ...]) -> Scripted | None:
        payload = parse(request)
        if payload is None:
            return as_json(400, {"message": "Cannot send an empty message", "code": 50006})
        errors = self.errors(payload)
        if errors:
            return as_json(400, {"message": "Invalid Form Body", "code": 50035, "errors": errors})
        if not payload.get("content") and not payload.get("embeds"):
            return as_json(400, {"message": "Cannot send an empty message", "code": 50006})
        return None

    def errors(self, payload: dict[str, Any]) -> dict[str, str]:
        found: dict[str, str] = {}
        embeds = payload.get("embeds", [])
        if len(payload.get("content", "")) > 2000:
            found["content"] = "BASE_TYPE_MAX_LENGTH"
        if len(embeds) > 10:
            found["embeds"] = "BASE_TYPE_MAX_LENGTH"
        total = 0
        for i, embed in enumerate(embeds):
            parts = {
                "title": embed.get("title", ""),
                "description": embed.get("description", ""),
                "footer": embed.get("footer", {}).get("text", ""),
            }
            if len(embed.get("fields", [])) > 25:
                found[f"embeds.{i}.fields"] = "BASE_TYPE_MAX_LENGTH"
            for j, field in enumerate(embed.get("fields", [])):
                parts[f"fields.{j}.name"], parts[f"fields.{j}.value"] = field["name"], field["value"]
            for key, text in parts.items():
                if len(text) > self.LIMITS[key.rsplit(".", 1)[-1]]:
                    found[f"embeds.{i}.{key}"] = "BASE_TYPE_MAX_LENGTH"
                total += len(text)
        if total > 6000:
            found["embeds"] = "MAX_EMBED_SIZE_EXCEEDED"
        return found


class GoogleChat(Behaviour):
    """Google Chat incoming webhook: 200 with the created Message; Google's JSON errors otherwise."""

    name = "googlechat"
    signed = False
    MAX_BYTES = 32_000
    MAX_WIDGETS = 100  # Google ignores widgets past 100; the stand-in refuses them, to catch it

    def path(self, token: str) -> str:
        return f"/v1/spaces/AAAAstandin/messages?key=stand-in-key&token={token}"

    def success(self, request: Received) -> Scripted:
        payload = parse(request) or {}
        thread_key = (payload.get("thread") or {}).get("threadKey")
        message = {
            "name": "spaces/AAAAstandin/messages/stand-in.1",
            "sender": {"name": "users/114022495153014004089", "type": "BOT"},
            "createTime": "2026-11-26T08:00:00.000000Z",
            "text": payload.get("text", ""),
            "cardsV2": payload.get("cardsV2", []),
            "thread": {
                "name": "spaces/AAAAstandin/threads/t1",
                **({"threadKey": thread_key} if thread_key else {}),
            },
            "space": {"name": "spaces/AAAAstandin", "type": "ROOM", "spaceType": "SPACE"},
        }
        return as_json(200, message)

    def throttled(self, retry_after: float) -> Scripted:
        message = "Resource has been exhausted (e.g. check quota)."
        return as_json(429, {"error": {"code": 429, "message": message, "status": "RESOURCE_EXHAUSTED"}})

    def removed(self) -> Scripted:
        message = "Requested entity was not found."
        return as_json(404, {"error": {"code": 404, "message": message, "status": "NOT_FOUND"}})

    def check(self, request: Received, keywords: tuple[str, ...]) -> Scripted | None:
        payload = parse(request)
        widgets = sum(
            len(section.get("widgets", []))
            for card in (payload or {}).get("cardsV2", [])
            for section in card.get("card", {}).get("sections", [])
        )
        if payload is None or len(request.body) > self.MAX_BYTES or widgets > self.MAX_WIDGETS:
            message = "Invalid JSON payload or message too large."
            return as_json(400, {"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}})
        return None


BEHAVIOURS: dict[str, type[Behaviour]] = {
    cls.name: cls for cls in (Behaviour, Slack, Teams, Feishu, DingTalk, WeCom, Discord, GoogleChat)
}
BEHAVIOURS["lark"] = Feishu
