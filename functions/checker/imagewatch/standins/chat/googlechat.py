"""The GoogleChat stand-in: see ``Behaviour`` for what each method means."""

from __future__ import annotations

from imagewatch.standins.chat.base import Behaviour, Received, Scripted, as_json, parse


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
