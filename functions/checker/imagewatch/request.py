"""``RunRequest``: what one invocation asks of a run, parsed from its event."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

Action = Literal["check", "test-notification", "resend"]


@dataclass(frozen=True, slots=True)
class RunRequest:
    """What was asked: by whom, for which scheduled time, and whether to change anything."""

    trigger: str  # schedule | eventbridge | manual | cli
    scheduled_time: str | None = None
    dry_run: bool = False
    policy_ids: tuple[str, ...] | None = None  # a subset of the pack; None = all
    action: Action = "check"
    channel: str | None = None  # resend: the one channel to send everything open to
    target: dict[str, Any] | None = field(default=None, hash=False)  # which HSS project, when not the default
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
