"""``Violation``: what evaluation produces and what the ledger, digests and reports consume.

A violation's fingerprint is stable across runs: a hash of the policy id and the subject — the image
record's identity (``Image.identity``) for image rules, ``fleet`` for fleet rules — so the ledger can
tell new from still-open from resolved.
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

from msgspec import Struct, field

Severity = Literal["critical", "high", "medium", "low", "info"]
SEVERITIES: tuple[Severity, ...] = ("critical", "high", "medium", "low", "info")
SEVERITY_ORDER: dict[str, int] = {name: rank for rank, name in enumerate(SEVERITIES)}  # 0 = worst


def fingerprint(policy_id: str, subject: str) -> str:
    """Stable id of (policy, subject): 20 hex chars of SHA-256 over ``policy_id NUL subject``."""
    return hashlib.sha256(f"{policy_id}\x00{subject}".encode()).hexdigest()[:20]


SubjectKind = Literal["image", "record", "fleet"]


class Violation(Struct, frozen=True):
    """One policy broken by one subject: an image (all its hosts together), one image record (an
    image on one host), or the fleet as a whole."""

    policy_id: str
    policy_title: str
    severity: Severity
    subject: str  # image: the image key; record: Image.identity; fleet: "fleet"
    label: str  # what people call it: "nginx:1.25 on 6 hosts (ecs-a, ecs-b, …)", or the policy title
    message: str
    fields: dict[str, Any] = field(default_factory=dict)
    examples: tuple[str, ...] = ()  # fleet rules: a few image labels that count towards the figure
    kind: SubjectKind = "record"
    host: str = ""  # image and record subjects: the host_id of the record it was found on
    host_name: str = ""
    hosts: int = 0  # image subjects, once aggregated: hosts with a record that breaks the rule
    host_names: tuple[str, ...] = ()  # image subjects, once aggregated: a few of those hosts' names

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.policy_id, self.subject)

    def sort_key(self) -> tuple[int, str, str]:
        """Worst first, then by policy and subject, so every digest and report orders alike."""
        return (SEVERITY_ORDER[self.severity], self.policy_id, self.subject)

    def to_dict(self, known_fingerprint: str | None = None) -> dict[str, Any]:
        """JSON-ready; ``known_fingerprint``: this violation's, when the caller has it (no re-hash)."""
        return {
            "fingerprint": known_fingerprint or self.fingerprint,
            "policy_id": self.policy_id,
            "policy_title": self.policy_title,
            "severity": self.severity,
            "subject": self.subject,
            "label": self.label,
            "message": self.message,
            "fields": dict(self.fields),
            **({"examples": list(self.examples)} if self.examples else {}),
            "kind": self.kind,
            **({"hosts": self.hosts, "host_names": list(self.host_names)} if self.kind == "image" else {}),
        }
