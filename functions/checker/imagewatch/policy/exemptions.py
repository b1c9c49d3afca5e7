"""Exemptions: images a policy knowingly lets pass, for a stated reason, until a stated moment.

An exemption applies only while ``now < expires``; afterwards the violation comes back by itself.
Dates (``YYYY-MM-DD``) hold through the end of that day, UTC. No expiry must be said out loud:
``"expires": "never"``. Time is always the injected ``now``, never the system clock.
"""

from __future__ import annotations

from typing import Any

from msgspec import Struct

from imagewatch.policy.compile import CompiledCondition, compile_condition
from imagewatch.policy.conditions import ConditionReader, Problems
from imagewatch.policy.errors import BadValue, child, show
from imagewatch.policy.instants import DAY_MS, parse_expiry

EXPIRING_WINDOW_MS = 14 * DAY_MS


class Exemption(Struct, frozen=True):
    """One entry of a policy's ``exempt`` list."""

    policy_id: str
    pointer: str  # e.g. "/exempt/0"
    reason: str
    owner: str | None
    expires: str  # as written: a date, a timestamp or "never"
    expires_ms: int | None  # None: never
    condition: CompiledCondition

    def expired(self, now_ms: int) -> bool:
        return self.expires_ms is not None and now_ms >= self.expires_ms

    def expiring_soon(self, now_ms: int, window_ms: int = EXPIRING_WINDOW_MS) -> bool:
        """Still applies, but lapses within ``window_ms``."""
        return self.expires_ms is not None and 0 < self.expires_ms - now_ms <= window_ms

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready facts about the exemption, for run reports."""
        return {
            "policy_id": self.policy_id,
            "pointer": self.pointer,
            "reason": self.reason,
            "owner": self.owner,
            "expires": self.expires,
        }

    def describe(self) -> str:
        owner = f", owner {self.owner}" if self.owner else ""
        return f"{self.pointer} ({show(self.reason)}, expires {self.expires}{owner})"


def read_exemptions(
    raw: object, policy_id: str, reader: ConditionReader, problems: Problems
) -> tuple[Exemption, ...]:
    """The ``exempt`` list of one policy; problems go to ``problems`` (the caller checks them)."""
    if not isinstance(raw, list):
        return ()
    exemptions: list[Exemption] = []
    for index, item in enumerate(raw):
        pointer = child("/exempt", index)
        if not isinstance(item, dict):
            continue
        node = reader.read(item.get("where"), child(pointer, "where"))
        try:
            expires_ms = parse_expiry(item.get("expires"))
        except BadValue as error:
            if "expires" in item:
                problems.append((child(pointer, "expires"), error.message))
            continue
        reason, owner = item.get("reason"), item.get("owner")
        if node is None or not isinstance(reason, str) or not (owner is None or isinstance(owner, str)):
            continue
        condition = compile_condition(node, f"{policy_id} exemption {index}")
        exemptions.append(
            Exemption(policy_id, pointer, reason, owner, str(item["expires"]), expires_ms, condition)
        )
    return tuple(exemptions)
