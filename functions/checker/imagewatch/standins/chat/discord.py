"""The Discord stand-in: see ``Behaviour`` for what each method means."""

from __future__ import annotations

from typing import Any, ClassVar

from imagewatch.standins.chat.base import Behaviour, Received, Scripted, as_json, parse, seconds


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
            ("Retry-After", seconds(max(retry_after, 1))),
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
