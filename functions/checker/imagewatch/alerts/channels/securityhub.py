"""AWS Security Hub as a channel: each open violation one ASFF finding, rendered here (pure).

Not a chat platform: it has no webhook and no digest. Its ``Channel`` carries this module as its
platform so the ledger treats it as one more channel (its deliveries are confirmed before they are
recorded, retried next run, never lost); ``FINDINGS`` tells ``run.Notifier`` to hand it to
``findings_delivery`` (batches of ``BATCH`` through ``BatchImportFindings``) instead of a digest.

A finding per ledger entry (docs/securityhub.md):

* ``Id`` ``imagewatch/{target}/{fingerprint}``: the violation's fingerprint, so every import of it
  updates the same finding; the target keeps two targets' findings of one image apart in one account;
* ``ProductArn`` the account's default product (a custom integration), ``GeneratorId`` the policy;
* ``Severity`` mapped (critical → CRITICAL … info → INFORMATIONAL) and ``Types`` go in
  ``FindingProviderFields`` on every import: that is how a provider sets and updates them. The
  top-level ones (required of every finding) are sent on the first import (kind ``new``) only: AWS
  asks providers not to update them with ``BatchImportFindings`` — they are the customer's to change
  (``BatchUpdateFindings``), and Security Hub copies the provider's values there itself;
* ``Resources``: the image (a record or the fleet for those subjects) and the hosts the run names;
  a policy file that failed to load is a resource of its own, the file;
* open: ``RecordState`` ACTIVE, ``Compliance.Status`` FAILED; resolved: ARCHIVED and PASSED;
  exempted: ARCHIVED and still FAILED (an accepted violation, not a passed check: PASSED would make
  Security Hub set its workflow to RESOLVED). ``Workflow``, ``Note`` and ``UserDefinedFields`` are
  never sent: they are the customer's, and ``BatchImportFindings`` may not change them after the
  first import.

Inventory text is hostile: every string is one line without control or bidi characters, links are
defanged (the console shows every field to people), and each field is clipped to its ASFF limit
(counted in UTF-16 units, as the service counts), so a finding stays far below the 240 KB limit and
a batch below 6 MB (measured as botocore sends them: JSON with every non-ASCII character escaped).
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from msgspec import Struct

from imagewatch.alerts.delivery import Channel
from imagewatch.alerts.ledger import ChannelRule, LedgerEntry
from imagewatch.alerts.text import break_links, clean, utf16_len
from imagewatch.sla import DAY_MS, overdue_ms
from imagewatch.violation import Violation

NAME = "securityhub"
FINDINGS = True  # a findings sink, not a chat platform: no digest, no webhook (run.Notifier)
MIN_INTERVAL_S = 0.0
SCHEMA_VERSION = "2018-10-08"
BATCH = 100  # findings per BatchImportFindings call (the API's maximum)
# Security Hub deletes a finding 90 days after its last update: every open finding is re-imported
# weekly (a "reminder"), far inside that, and at a quarter of a daily refresh's ingestion cost.
REFRESH_MS = 7 * DAY_MS
SEVERITY_LABELS = {
    "critical": "CRITICAL",
    "high": "HIGH",
    "medium": "MEDIUM",
    "low": "LOW",
    "info": "INFORMATIONAL",
}
FINDING_TYPES = ("Software and Configuration Checks/Industry and Regulatory Standards",)
PRODUCT_NAME = "imagewatch"
TITLE_CHARS = 256  # ASFF limits (UTF-16 units)
DESCRIPTION_CHARS = 1024
ID_CHARS = 512
FIELD_CHARS = 1024  # ProductFields values (the limit is 2048; a quarter of it bounds a finding's size)
OTHER_CHARS = 256  # Resources[].Details.Other values (the limit is "fewer than 1,024")
HOST_RESOURCES = 3  # the hosts a run names for an image (workspace.HOST_NAMES_SHOWN)
INVALID_POLICY_ID = "imagewatch.invalid-policy"  # run.INVALID_POLICY_ID: its subject is the policy file


class Hub(Struct, frozen=True):
    """Where findings go: the caller's account and region (``BatchImportFindings`` takes findings of
    the calling account only), and that region's partition."""

    account: str
    region: str
    partition: str = "aws"

    @property
    def product_arn(self) -> str:
        """The account's default product: what a custom integration imports under."""
        return f"arn:{self.partition}:securityhub:{self.region}:{self.account}:product/{self.account}/default"


def rule() -> ChannelRule:
    """Everything, at every severity; resolved notices (archive); changes (``update``); a weekly
    refresh so no open finding ages out of Security Hub."""
    return ChannelRule(NAME, send_resolved=True, repeat_interval_ms=REFRESH_MS, send_updates=True)


def channel(others: Sequence[Channel]) -> Channel:
    """The Security Hub channel, beside ``others``; a chat channel may not take its name (the ledger
    keeps each channel's marks under its name)."""
    if any(other.name == NAME for other in others):
        from imagewatch.settings import SettingsError

        raise SettingsError(
            "SECURITY_HUB",
            "on",
            f"no chat channel named {NAME!r} (that name is Security Hub's in the ledger: rename the channel)",
        )
    return Channel(NAME, sys.modules[__name__], "", rule())


def finding_id(target: str, fingerprint: str) -> str:
    """``imagewatch/{target}/{fingerprint}``; a target too long for the 512-character Id is hashed."""
    found = f"imagewatch/{target}/{fingerprint}"
    if utf16_len(found) <= ID_CHARS:
        return found
    return f"imagewatch/{hashlib.sha256(target.encode()).hexdigest()[:32]}/{fingerprint}"


def iso(ms: int) -> str:
    """A ledger time as an ASFF timestamp (``2019-01-31T23:00:00.123Z``)."""
    moment = datetime.fromtimestamp(ms // 1000, UTC)  # whole seconds: no float rounding of the ms
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def fit(text: object, limit: int, fallback: str = "-") -> str:
    """``text`` as one clean line with its links defanged (``https[:]//``: the console shows every
    field to people), at most ``limit`` UTF-16 units ("…" marks a cut); ``fallback`` when nothing
    printable is left (ASFF strings must hold a non-blank character)."""
    value = break_links(clean(text, 4 * limit)).strip()
    if utf16_len(value) > limit:
        cut = value[: limit - 1]
        while utf16_len(cut) > limit - 1:
            cut = cut[:-1]
        value = cut + "…"
    return value if value.strip() else fallback


def finding(
    entry: LedgerEntry,
    violation: Violation | None,
    *,
    hub: Hub,
    target: str,
    title: str,
    now_ms: int,
    kind: str = "new",
) -> dict[str, Any]:
    """The ASFF finding for ``entry`` now (its current state: open, resolved or exempted).
    ``violation``: this run's finding of it, when there is one (it names the hosts). ``kind``: the
    ledger's alert; only a ``new`` one (a first import) carries the top-level severity and types."""
    open_ = entry.status == "open"
    label = SEVERITY_LABELS.get(entry.severity, "INFORMATIONAL")
    severity = {"Label": label, "Original": entry.severity if entry.severity in SEVERITY_LABELS else "info"}
    document: dict[str, Any] = {
        "SchemaVersion": SCHEMA_VERSION,
        "Id": finding_id(target, entry.fingerprint),
        "ProductArn": hub.product_arn,
        "ProductName": PRODUCT_NAME,
        "CompanyName": PRODUCT_NAME,
        "GeneratorId": fit(f"imagewatch/{entry.policy_id}", ID_CHARS),
        "AwsAccountId": hub.account,
        "Types": list(FINDING_TYPES),
        "CreatedAt": iso(entry.first_seen),
        "UpdatedAt": iso(now_ms),
        "FirstObservedAt": iso(entry.first_seen),
        "LastObservedAt": iso(entry.last_seen),
        "Severity": severity,
        "FindingProviderFields": {"Severity": dict(severity), "Types": list(FINDING_TYPES)},
        "Title": fit(title if entry.label == title else f"{title}: {entry.label}", TITLE_CHARS),
        "Description": fit(_description(entry), DESCRIPTION_CHARS),
        "ProductFields": _product_fields(entry, violation, target, now_ms),
        "Resources": _resources(entry, violation, target),
        "RecordState": "ACTIVE" if open_ else "ARCHIVED",
        "Compliance": {"Status": "PASSED" if entry.status == "resolved" else "FAILED"},
    }
    if kind != "new":  # the customer's to change from now on; the provider's values are above
        del document["Severity"], document["Types"]
    return document


def _description(entry: LedgerEntry) -> str:
    if entry.status == "resolved":
        when = iso(entry.resolved_at)[:10] if entry.resolved_at is not None else "this run"
        return f"Resolved: no longer found on {when}. Was: {entry.message}"
    if entry.status == "exempted":
        return f"Exempted: a policy exemption accepts it for now. {entry.message}"
    due = f" · due {iso(entry.due_at)[:10]}" if entry.due_at is not None else ""
    return f"{entry.message}{due}"


def _product_fields(
    entry: LedgerEntry, violation: Violation | None, target: str, now_ms: int
) -> dict[str, str]:
    fields = {
        "imagewatch/PolicyId": entry.policy_id,
        "imagewatch/Subject": entry.subject,
        "imagewatch/Target": target,
        "imagewatch/Status": entry.status,
        "imagewatch/FirstSeen": iso(entry.first_seen),
    }
    if entry.due_at is not None:
        fields["imagewatch/DueAt"] = iso(entry.due_at)
        fields["imagewatch/Overdue"] = "true" if overdue_ms(entry, now_ms) > 0 else "false"
    if entry.resolved_at is not None and entry.status == "resolved":
        fields["imagewatch/ResolvedAt"] = iso(entry.resolved_at)
    if violation is not None and violation.kind == "image":
        fields["imagewatch/Hosts"] = str(violation.hosts)
    return {key: fit(value, FIELD_CHARS) for key, value in fields.items()}


def _resources(entry: LedgerEntry, violation: Violation | None, target: str) -> list[dict[str, Any]]:
    """The subject — the image (an image on one host for a record subject), or the fleet — then the
    hosts this run names for it. The subject's resource is the same in every import of a finding.
    A policy file that failed to load is imagewatch's own: the file is the resource, no host."""
    if entry.policy_id == INVALID_POLICY_ID:
        return [
            _other(
                f"imagewatch/{target}/policy-file/{entry.subject}",
                {"PolicyFile": entry.subject, "Target": target},
            )
        ]
    where = f"fleet/{entry.policy_id}" if entry.subject == "fleet" else f"image/{entry.subject}"
    resources = [_other(f"hss/{target}/{where}", {"Name": entry.label, "Target": target})]
    hosts: Sequence[str] = ()
    if violation is not None and violation.kind == "image":
        hosts = violation.host_names[:HOST_RESOURCES]
    elif violation is not None and violation.kind == "record":
        hosts = tuple(name for name in (violation.host_name or violation.host,) if name)
    for host in hosts:
        resources.append(_other(f"hss/{target}/host/{host}", {"Name": host}))
    return resources


def _other(resource_id: str, details: Mapping[str, str]) -> dict[str, Any]:
    return {
        "Type": "Other",
        "Id": fit(resource_id, ID_CHARS),
        "Details": {"Other": {key: fit(value, OTHER_CHARS) for key, value in details.items()}},
    }


# -- a dry run: what would be imported, without a call ----------------------------------------------


def dry_run_payload(counts: Mapping[str, int], sample: Sequence[Mapping[str, str]]) -> dict[str, Any]:
    """A dry run's "digest" for Security Hub: how many findings would be imported, in how many
    batches, by kind, and the first few (``sample``: id, kind, severity, title)."""
    total = sum(counts.values())
    return {
        "destination": "AWS Security Hub (BatchImportFindings)",
        "findings": total,
        "batches": -(-total // BATCH),
        "by_kind": dict(counts),
        "sample": [dict(item) for item in sample],
    }


def to_text(payload: Mapping[str, Any]) -> str:
    """A readable view of a dry run's payload, for previews."""
    kinds = " · ".join(f"{n} {kind}" for kind, n in payload.get("by_kind", {}).items())
    lines = [
        f"imagewatch → AWS Security Hub: {payload.get('findings', 0)} finding(s) in "
        f"{payload.get('batches', 0)} batch(es) of up to {BATCH}" + (f" ({kinds})" if kinds else "")
    ]
    for item in payload.get("sample", []):
        lines.append(f"[{item.get('kind')}] {item.get('severity')} · {item.get('title')} · {item.get('id')}")
    more = payload.get("findings", 0) - len(payload.get("sample", []))
    if more > 0:
        lines.append(f"…and {more} more")
    return "\n".join(lines)
