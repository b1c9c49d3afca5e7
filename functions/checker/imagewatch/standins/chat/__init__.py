"""How each chat platform answers, for ``WebhookSink``: one behaviour per platform (``base`` has the
generic webhook's and the shared pieces)."""

from __future__ import annotations

from imagewatch.standins.chat.base import Behaviour, Received, Scripted
from imagewatch.standins.chat.dingtalk import DingTalk
from imagewatch.standins.chat.discord import Discord
from imagewatch.standins.chat.feishu import Feishu
from imagewatch.standins.chat.googlechat import GoogleChat
from imagewatch.standins.chat.slack import Slack
from imagewatch.standins.chat.teams import Teams
from imagewatch.standins.chat.wecom import WeCom

__all__ = ["BEHAVIOURS", "Behaviour", "Received", "Scripted"]

BEHAVIOURS: dict[str, type[Behaviour]] = {
    cls.name: cls for cls in (Behaviour, Slack, Teams, Feishu, DingTalk, WeCom, Discord, GoogleChat)
}
BEHAVIOURS["lark"] = Feishu
