"""The Feishu stand-in: see ``Behaviour`` for what each method means."""

from __future__ import annotations

import base64
import hashlib
import hmac

from imagewatch.standins.chat.base import Behaviour, Received, Scripted, as_json, parse, strings


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
