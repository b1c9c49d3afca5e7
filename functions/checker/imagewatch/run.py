"""``check()``: one compliance run, readable top to bottom.

policies → plan → fetch → evaluate → reconcile → notify → record (docs/architecture.md). Every stage
but fetch, the store, delivery and the report sink is pure; those four are ports in ``RunDeps``.

Ordering is what makes alerts trustworthy: the reconciled ledger is saved *before* anything is sent
(so the run never sends what it cannot record), and each channel's confirmation is saved right after
that channel confirms (so a failed or crashed send is due again next run).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from imagewatch.alerts.delivery import Channel, Deliverer
from imagewatch.alerts.digest import build_digest
from imagewatch.alerts.ledger import due_alerts, is_finished, mark_delivered, reconcile
from imagewatch.alerts.store import StateStore
from imagewatch.hss.client import HssClient
from imagewatch.hss.errors import HssError
from imagewatch.plan import PlannedQuery, plan
from imagewatch.policy import Evaluator, load_policies
from imagewatch.report.run_report import render_csv, render_json, report_key
from imagewatch.report.sink import ReportSink
from imagewatch.request import RunRequest
from imagewatch.settings import Settings
from imagewatch.violation import SEVERITIES, Violation

INVALID_POLICY_ID = "imagewatch.invalid-policy"  # reserved: a policy file that failed to load
INVALID_POLICY_TITLE = "Policy file is invalid and was skipped"


@dataclass
class RunDeps:
    """The run's ports and settings, built once by the handler or the CLI."""

    settings: Settings
    hss: HssClient
    store: StateStore
    channels: Sequence[Channel]
    deliverer: Deliverer
    reports: ReportSink
    clock: Callable[[], float] = time.time


@dataclass
class QueryOutcome:
    filters: dict[str, object]
    policies: tuple[str, ...]
    images: int = 0
    pages: int = 0
    retries: int = 0
    duplicates: int = 0
    complete: bool = False
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def fetch_and_evaluate(hss: HssClient, planned: PlannedQuery, now_ms: int) -> tuple[QueryOutcome, Any]:
    """Stream one listing through its policies; the images themselves are never kept."""
    outcome = QueryOutcome(planned.query.filters(), planned.policy_ids)
    evaluator = Evaluator(list(planned.policies), now_ms)
    listing = hss.list_images(planned.query)
    try:
        for image in listing:
            evaluator.add(image)
    except HssError as exc:
        outcome.problems.append(str(exc))
    stats = listing.stats
    outcome.images, outcome.pages = evaluator.images_seen, stats.pages
    outcome.retries, outcome.duplicates = stats.retries, stats.duplicates
    outcome.problems.extend(listing.problems)
    outcome.problems.extend(str(error) for error in listing.record_errors[:20])
    if len(listing.record_errors) > 20:
        outcome.problems.append(f"…and {len(listing.record_errors) - 20} more malformed records")
    outcome.complete = listing.complete and not outcome.problems
    return outcome, evaluator.finish()


def invalid_policy_violations(errors: Sequence[Any]) -> list[Violation]:
    """One violation per policy file that failed to load, so chat hears when it breaks and is fixed."""
    by_file: dict[str, list[str]] = {}
    for error in errors:
        by_file.setdefault(error.file, []).append(f"{error.pointer or '/'}: {error.message}")
    return [
        Violation(
            INVALID_POLICY_ID,
            INVALID_POLICY_TITLE,
            "high",
            subject=file,
            label=file,
            message=f"{file} was skipped: " + "; ".join(messages[:3]) + ("; …" if len(messages) > 3 else ""),
        )
        for file, messages in by_file.items()
    ]


def note_dict(report: Any) -> dict[str, Any]:
    return {**report.exemption.to_dict(), "subjects": list(report.subjects)}


def exemption_notes(evaluations: Sequence[Any]) -> list[str]:
    """What the digest says about exemptions: which expired, which lapse within 14 days."""
    notes = []
    for result in evaluations:
        for report in result.expired_exemptions:
            e = report.exemption
            notes.append(
                f"exemption {e.policy_id}{e.pointer} expired {e.expires} ({e.reason}); "
                f"{len(report.subjects)} image(s) count again"
            )
        for report in result.expiring_soon:
            e = report.exemption
            owner = f", owner {e.owner}" if e.owner else ""
            notes.append(
                f"exemption {e.policy_id}{e.pointer} expires {e.expires}{owner}; "
                f"it covers {len(report.subjects)} image(s)"
            )
    return notes


def run_status(queries: Sequence[QueryOutcome], errors: Sequence[str]) -> str:
    """``failed`` when no listing could be read at all, ``partial`` when some were incomplete."""
    if queries and all(not q.complete and q.images == 0 for q in queries):
        return "failed"
    if errors or any(not q.complete for q in queries):
        return "partial"
    return "ok"


def check(request: RunRequest, deps: RunDeps) -> dict[str, Any]:
    """Run the pipeline once and return its summary (JSON-ready)."""
    settings, target = deps.settings, deps.settings.target
    started = deps.clock()
    now_ms = int(started * 1000)
    started_at = _iso(started)
    errors: list[str] = []

    # 1. policies
    loaded = load_policies(settings.policy_path)
    policies = [p for p in loaded.policies if request.policy_ids is None or p.id in request.policy_ids]
    if request.policy_ids is not None:
        missing = sorted(set(request.policy_ids) - {p.id for p in loaded.policies})
        errors.extend(f"policy {pid!r} requested but not loaded" for pid in missing)
    problems: list[str] = []
    violations: list[Violation] = invalid_policy_violations(loaded.errors)
    judged: set[str] = {INVALID_POLICY_ID}  # loading is always a complete read of the policy folder

    # 2. plan, 3. fetch, 4. evaluate
    queries: list[QueryOutcome] = []
    evaluations = []
    for planned in plan(policies, settings.hss_enterprise_project_id):
        outcome, result = fetch_and_evaluate(deps.hss, planned, now_ms)
        queries.append(outcome)
        evaluations.append(result)
        violations.extend(result.violations)
        if outcome.complete:
            judged.update(planned.policy_ids)
        else:
            problems.append(
                f"incomplete read of {planned.query.describe()}: nothing in it is marked resolved"
                f" ({'; '.join(outcome.problems[:3])})"
            )
    violations.sort(key=Violation.sort_key)

    # 5. reconcile (the ledger is written before anything is sent)
    previous = deps.store.load(target)
    ledger = reconcile(previous, violations, judged, now_ms)
    if not request.dry_run:
        deps.store.save(target, [ledger.entries[fp] for fp in ledger.changed])
    open_by_severity = Counter(e.severity for e in ledger.entries.values() if e.status == "open")
    current = {v.fingerprint: v for v in violations}
    titles = {p.id: p.title for p in loaded.policies} | {INVALID_POLICY_ID: INVALID_POLICY_TITLE}
    notes = exemption_notes(evaluations)

    # 6. notify
    key = report_key(settings.report_prefix, target, started_at, request.run_id, "json")
    outcomes, digests = [], []
    for channel in deps.channels:
        alerts = due_alerts(ledger.entries.values(), channel.rule, now_ms, current)
        if not alerts:
            continue
        digest = build_digest(
            alerts,
            target=target,
            run_id=request.run_id,
            generated_at=started_at,
            titles=titles,
            open_by_severity=open_by_severity,
            problems=problems,
            notes=notes,
            report_url=deps.reports.link(key),
            dry_run=request.dry_run,
        )
        payload = channel.platform.render(digest)
        if request.dry_run:
            digests.append({"channel": channel.name, "platform": channel.platform_name, "payload": payload})
            continue
        outcome = deps.deliverer.send(channel, payload)
        outcomes.append({**outcome.to_dict(), "alerts": dict(digest.counts)})
        if outcome.ok:
            delivered = mark_delivered(alerts, channel.name, now_ms)
            deps.store.save(target, [ledger.entries[fp] for fp in delivered])
    rules = [channel.rule for channel in deps.channels]
    if not request.dry_run:
        deps.store.forget(target, [fp for fp, e in ledger.entries.items() if is_finished(e, rules)])

    # 7. record
    finished = deps.clock()
    summary: dict[str, Any] = {
        "run_id": request.run_id,
        "trigger": request.trigger,
        "scheduled_time": request.scheduled_time,
        "dry_run": request.dry_run,
        "target": target,
        "started_at": started_at,
        "duration_ms": int((finished - started) * 1000),
        "policies": {
            "evaluated": [p.id for p in policies],
            "invalid": [str(error) for error in loaded.errors],
        },
        "queries": [q.to_dict() for q in queries],
        "images_evaluated": sum(q.images for q in queries),
        "violations": {
            "total": len(violations),
            "by_severity": {
                sev: n for sev in SEVERITIES if (n := sum(v.severity == sev for v in violations))
            },
        },
        "new": len(ledger.new),
        "resolved": len(ledger.resolved),
        "still_open": len(ledger.still_open),
        "notifications": {
            "sent": sum(1 for o in outcomes if o["ok"]),
            "failed": sum(1 for o in outcomes if not o["ok"]),
            "channels": outcomes,
        },
        "exemptions": {
            "applied": sum(len(result.exempted) for result in evaluations),
            "expired": [note_dict(r) for result in evaluations for r in result.expired_exemptions],
            "expiring_soon": [note_dict(r) for result in evaluations for r in result.expiring_soon],
        },
        "problems": problems,
        "errors": errors,
        "status": run_status(queries, errors),
    }
    if request.dry_run:
        summary["digests"] = digests
    else:
        report = {
            **summary,
            "settings": settings.redacted(),
            "policy_sources": [
                {"id": p.id, "source": str(p.source), "sha256": p.sha256} for p in loaded.policies
            ],
            "violations_list": [v.to_dict() for v in violations],
            "exempted": [
                {"policy_id": x.policy_id, "subject": x.subject, "label": x.label, **x.exemption.to_dict()}
                for result in evaluations
                for x in result.exempted
            ],
            "new_fingerprints": [e.fingerprint for e in ledger.new],
            "resolved_fingerprints": [e.fingerprint for e in ledger.resolved],
        }
        summary["report"] = {
            "json": deps.reports.put(key, render_json(report), "application/json"),
            "csv": deps.reports.put(key[: -len("json")] + "csv", render_csv(violations), "text/csv"),
        }
    return summary
