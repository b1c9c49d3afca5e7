"""``RunRequest``: what one invocation asks of a run, parsed from its event."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from msgspec import Struct, field

Action = Literal["check", "test-notification", "resend", "summary"]


class RunRequest(Struct, frozen=True):
    """What was asked: by whom, for which scheduled time, and whether to change anything."""

    trigger: str  # schedule | eventbridge | manual | cli
    scheduled_time: str | None = None
    dry_run: bool = False
    policy_ids: tuple[str, ...] | None = None  # a subset of the pack; None = all
    action: Action = "check"
    channel: str | None = None  # resend: the one channel to send everything open to
    target: dict[str, Any] | None = None  # which HSS project, when not the default
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
