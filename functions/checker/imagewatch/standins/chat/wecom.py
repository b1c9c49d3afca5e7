"""The WeCom stand-in: see ``Behaviour`` for what each method means."""

from __future__ import annotations

from imagewatch.standins.chat.base import Behaviour, Received, Scripted, as_json, parse


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
