"""The Teams stand-in: see ``Behaviour`` for what each method means."""

from __future__ import annotations

from imagewatch.standins.chat.base import Behaviour, Received, Scripted, as_json, parse, seconds


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
        return as_json(429, error, ("Retry-After", seconds(retry_after)))

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
