"""``RunRequest``: what one invocation asks of a run, parsed from its event."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class RunRequest:
    """What was asked: by whom, for which scheduled time, and whether to change anything."""

    trigger: str  # schedule | eventbridge | manual | cli
    scheduled_time: str | None = None
    dry_run: bool = False
    policy_ids: tuple[str, ...] | None = None  # a subset of the pack; None = all
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
