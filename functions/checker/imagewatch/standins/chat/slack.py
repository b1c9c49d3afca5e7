"""The Slack stand-in: see ``Behaviour`` for what each method means."""

from __future__ import annotations

from imagewatch.standins.chat.base import Behaviour, Received, Scripted, parse, seconds


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
        return Scripted(429, b"rate_limited", (("Retry-After", seconds(retry_after)),))

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
