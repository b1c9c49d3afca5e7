"""The DingTalk stand-in: see ``Behaviour`` for what each method means."""

from __future__ import annotations

import base64
import hashlib
import hmac

from imagewatch.standins.chat.base import Behaviour, Received, Scripted, as_json, parse, strings


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
