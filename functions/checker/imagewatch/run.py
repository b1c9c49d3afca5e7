"""``check()``: one compliance run, readable top to bottom.

policies → plan → fetch → evaluate → reconcile → notify → record (README, "How a run stays
trustworthy"). Every stage but fetch, the store, delivery and the report sink is pure; those four are
ports in ``RunDeps``.

Ordering is what makes alerts trustworthy: the target's lease is taken first (two overlapping runs
never both send), the reconciled ledger is saved *before* anything is sent (the run never sends what
it cannot record), and each channel's confirmation is saved right after that channel confirms (a
failed or interrupted send is due again next run).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

from msgspec import Struct, field, structs

from imagewatch.alerts.adopt import adopt_record_entries
from imagewatch.alerts.delivery import Channel, Deliverer
from imagewatch.alerts.digest import DigestCollector, build_digest
from imagewatch.alerts.ledger import (
    Alert,
    is_finished,
    mark_attempted,
    mark_delivered,
    unmark_attempted,
)
from imagewatch.alerts.ledger_copy import LedgerCopy
from imagewatch.alerts.merge import Batch, Merged, merge_ledger, new_collectors
from imagewatch.alerts.staged_merge import StagedMerge
from imagewatch.alerts.store import LeaseHeldError, StateStore, StateStoreError
from imagewatch.history import run_record
from imagewatch.hss.client import HssClient
from imagewatch.hss.errors import HssError
from imagewatch.hss.model import Image
from imagewatch.hss.paging import Listing
from imagewatch.plan import PlannedQuery, plan
from imagewatch.policy import EvaluationResult, Evaluator, LoadResult, Policy, load_policies
from imagewatch.report.run_report import ViolationReport, render_json, report_key
from imagewatch.report.sink import ReportSink
from imagewatch.request import RunRequest
from imagewatch.settings import Settings
from imagewatch.sla import sla_for
from imagewatch.violation import SEVERITIES, Violation
from imagewatch.workspace import Workspace

if TYPE_CHECKING:
    from imagewatch.alerts.findings_delivery import FindingsPort
    from imagewatch.report.html_report import HtmlReport

log = logging.getLogger(__name__)

INVALID_POLICY_ID = "imagewatch.invalid-policy"  # reserved: a policy file that failed to load
INVALID_POLICY_TITLE = "Policy file is invalid and was skipped"
LEASE_TTL_MS = 20 * 60_000  # longer than a Lambda can live (15 min), so a crashed run's lease lapses


class RunDeps(Struct):
    """The run's ports and settings, built once by the handler or the CLI."""

    settings: Settings
    hss: HssClient
    store: StateStore
    channels: Sequence[Channel]
    deliverer: Deliverer
    reports: ReportSink
    clock: Callable[[], float] = time.time
    deadline: float | None = None  # time.monotonic() by which fetching must stop (the time budget)
    ends_at: float | None = None  # time.monotonic() when the function's time is up (Lambda); None: never
    progress: Callable[[Listing], None] | None = None  # told after each page (the CLI's progress line)
    findings: FindingsPort | None = None  # AWS Security Hub when SECURITY_HUB=on (its channel: in channels)


class QueryOutcome(Struct):
    filters: dict[str, object]
    policies: tuple[str, ...]
    images: int = 0
    pages: int = 0
    retries: int = 0
    throttled: int = 0  # 429 answers (APIG.0308) among the retries
    duplicates: int = 0
    complete: bool = False
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return structs.asdict(self)


class Findings(Struct):
    """What the policies found (the violations themselves went to the workspace): which policies were
    judged on complete reads, and how each query went."""

    judged: set[str]
    queries: list[QueryOutcome] = field(default_factory=list)
    evaluations: list[EvaluationResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    records_read: int | None = None  # distinct records, when one listing held every other (else counted)


class ReadCounter(Protocol):
    """Counts what the run read (the workspace does): records and images, each once."""

    def saw(self, image: Image) -> None: ...

    def saw_image(self, image: Image) -> None: ...


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- stages -----------------------------------------------------------------------------------------


def select_policies(loaded: LoadResult, request: RunRequest) -> tuple[list[Policy], list[str]]:
    """The policies this run evaluates, and an error for each requested id that is not loaded."""
    if request.policy_ids is None:
        return list(loaded.policies), []
    known = {p.id for p in loaded.policies}
    chosen = [p for p in loaded.policies if p.id in request.policy_ids]
    return chosen, [
        f"policy {pid!r} requested but not loaded" for pid in request.policy_ids if pid not in known
    ]


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


def fetch_and_evaluate(
    hss: HssClient,
    planned: PlannedQuery,
    now_ms: int,
    deadline: float | None,
    found: Callable[[Violation], None],
    progress: Callable[[Listing], None] | None = None,
    seen: Callable[[Image], None] | None = None,
    exempted: Callable[[str], None] | None = None,
) -> tuple[QueryOutcome, EvaluationResult]:
    """Stream one listing through its policies into ``found`` (and each record into ``seen``, which
    counts what the run read; each exempted subject's fingerprint into ``exempted``, which pauses its
    SLA clock); neither images nor violations are kept."""
    outcome = QueryOutcome(planned.query.filters(), planned.policy_ids)
    evaluator = Evaluator(list(planned.policies), now_ms, sink=found, exempt_sink=exempted)
    listing = hss.list_images(planned.query, deadline=deadline)
    listing.progress = progress
    add, saw = evaluator.add, seen or _ignore
    try:
        for image in listing:
            add(image)
            saw(image)
    except HssError as exc:
        outcome.problems.append(str(exc))
    stats = listing.stats
    outcome.images, outcome.pages = evaluator.images_seen, stats.pages
    outcome.retries, outcome.duplicates, outcome.throttled = stats.retries, stats.duplicates, stats.throttled
    outcome.problems.extend(listing.problems)
    outcome.problems.extend(str(error) for error in listing.record_errors[:20])
    if listing.record_error_count > 20:
        outcome.problems.append(f"…and {listing.record_error_count - 20} more malformed records")
    outcome.complete = listing.complete and not outcome.problems
    return outcome, evaluator.finish()


def find_violations(
    hss: HssClient,
    policies: Sequence[Policy],
    loaded: LoadResult,
    enterprise_project: str | None,
    now_ms: int,
    deadline: float | None,
    found: Callable[[Violation], None],
    progress: Callable[[Listing], None] | None = None,
    reads: ReadCounter | None = None,
    exempted: Callable[[str], None] | None = None,
    group_read: Callable[[tuple[str, ...], bool], None] | None = None,
) -> Findings:
    """Plan, fetch and evaluate every query, each violation handed to ``found`` as it is met; broken
    policy files count as violations too, after the last query. ``reads`` counts the distinct records
    and images read: when one listing holds every other (a query without filters), only it is
    counted, and its records are distinct already; otherwise every listing is. ``group_read`` hears,
    as each query but the last ends, its policies and whether their read was complete: nothing more
    will be found for them (the staged merge starts on them)."""
    findings = Findings({INVALID_POLICY_ID})
    planned_queries = plan(policies, enterprise_project)
    widest = covering_query(planned_queries)
    for number, planned in enumerate(planned_queries, 1):
        seen = None
        if reads is not None and widest is None:
            seen = reads.saw
        elif reads is not None and planned is widest:
            seen = reads.saw_image
        outcome, result = fetch_and_evaluate(hss, planned, now_ms, deadline, found, progress, seen, exempted)
        if planned is widest:
            findings.records_read = outcome.images
        findings.queries.append(outcome)
        findings.evaluations.append(result)
        for violation in result.violations:  # fleet rules: one each, known once the listing ended
            found(violation)
        if outcome.complete:
            findings.judged.update(planned.policy_ids)
        else:
            findings.problems.append(
                f"incomplete read of {planned.query.describe()}: nothing in it is marked resolved"
                f" ({'; '.join(outcome.problems[:3])})"
            )
        if group_read is not None and number < len(planned_queries):
            group_read(planned.policy_ids, outcome.complete)
    for violation in invalid_policy_violations(loaded.errors):
        found(violation)
    return findings


def covering_query(queries: Sequence[PlannedQuery]) -> PlannedQuery | None:
    """The listing every other one is a part of: no filter but an enterprise project that the others
    share (or ``all_granted_eps``), so a record another query reads, it reads too. None when every
    query filters (each policy selects): then the run counts the union."""
    for planned in queries:
        filters = planned.query.filters()
        project = filters.pop("enterprise_project_id", None) or "0"
        if filters:
            continue
        if project == "all_granted_eps" or all(
            (q.query.enterprise_project_id or "0") == project for q in queries
        ):
            return planned
    return None


def log_warnings(warnings: Sequence[str], settings: Settings) -> None:
    """Each warning in the log too, at WARNING: a run that says "ok" while doing less than meant says
    why. The enterprise-project note stays in the summary only: it is a standing fact of every run that
    leaves the variable unset, not a fault, and would repeat in every log of such a deployment."""
    from imagewatch.misconfiguration import enterprise_project_warnings

    standing = set(enterprise_project_warnings(settings))
    for warning in warnings:
        if warning not in standing:
            log.warning(warning)


def _ignore(image: Image) -> None:
    return None


def fleet_rules(policies: Sequence[Policy], found: Findings) -> list[dict[str, Any]]:
    """Every fleet rule's figure, passing or not (a passing 7.5% is news too), for the summary."""
    by_id = {p.id: p for p in policies}
    rules = []
    for result in found.evaluations:
        for figure in result.fleet:
            policy = by_id.get(figure.policy_id)
            incomplete = "" if figure.policy_id in found.judged else " (on an incomplete read)"
            rules.append(
                {
                    "policy_id": figure.policy_id,
                    "title": policy.title if policy else figure.policy_id,
                    "severity": policy.severity if policy else None,
                    "passed": figure.passed,
                    "value": figure.figure,
                    "threshold": figure.threshold,
                    "numerator": figure.count,
                    "denominator": figure.total,
                    "text": figure.text + incomplete,
                }
            )
    return rules


def note_dict(report: Any) -> dict[str, Any]:
    """An expired or expiring exemption for the summary: its first subjects (the evaluation keeps
    ``SUBJECTS_CAP``) and ``records``, every record it concerned (the true count beside them)."""
    return {
        **report.exemption.to_dict(),
        "subjects": list(report.subjects),
        "labels": list(report.labels),
        "records": report.records,
    }


def exemption_notes(evaluations: Sequence[EvaluationResult]) -> list[str]:
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


class Notifier(Struct):
    """Stage 6: one digest per channel, rendered by its platform, confirmed before it is recorded.

    The alerts a digest carries are read back from the workspace (``due``), so marking a channel's
    100,000 new alerts costs batches of writes, never a list of them."""

    request: RunRequest
    deps: RunDeps
    started_at: str
    report_key: str
    titles: dict[str, str]
    open_by_severity: dict[str, int]
    problems: list[str]
    notes: list[str]
    outcomes: list[dict[str, Any]] = field(default_factory=list)
    digests: list[dict[str, Any]] = field(default_factory=list)

    def send(
        self,
        channel: Channel,
        collected: DigestCollector,
        work: Workspace | None,
        now_ms: int,
        *,
        test: bool = False,
    ) -> None:
        if getattr(channel.platform, "FINDINGS", False):  # Security Hub: a finding per alert, no digest
            if not test:  # it hears no test notification: `imagewatch doctor` checks it
                self._send_findings(channel, collected, work, now_ms)
            return
        digest = build_digest(
            collected,
            target=self.deps.settings.target,
            run_id=self.request.run_id,
            generated_at=self.started_at,
            titles=self.titles,
            open_by_severity=self.open_by_severity,
            problems=self.problems,
            notes=self.notes,
            mentions=channel.mentions,
            report_url=None if test else self.deps.reports.link(html_report_key(self.report_key)),
            dry_run=self.request.dry_run,
            test=test,
        )
        payload = channel.platform.render(digest)
        if self.request.dry_run:
            self.digests.append(
                {"channel": channel.name, "platform": channel.platform_name, "payload": payload}
            )
            return
        if work is not None:  # if the run dies mid-send, the next one knows this channel may know
            self._mark(work, channel.name, lambda alerts, _: mark_attempted(alerts, channel.name, now_ms))
        outcome = self.deps.deliverer.send(channel, payload)
        self.outcomes.append({**outcome.to_dict(), "alerts": dict(digest.counts)})
        if work is not None:
            if outcome.ok:
                self._mark(work, channel.name, lambda alerts, _: mark_delivered(alerts, channel.name, now_ms))
            else:
                self._mark(
                    work,
                    channel.name,
                    lambda alerts, previous: unmark_attempted(alerts, channel.name, previous),
                )

    def _send_findings(
        self, channel: Channel, collected: DigestCollector, work: Workspace | None, now_ms: int
    ) -> None:
        """A findings channel's alerts, as findings in batches (``findings_delivery``), each batch
        marked by ``_mark`` as a digest's alerts are."""
        from imagewatch.alerts.findings_delivery import deliver_findings

        done = deliver_findings(
            channel,
            collected,
            work,
            self.deps.findings,
            mark=lambda rows, how: self._mark(work, channel.name, how, rows),  # type: ignore[arg-type]
            titles=self.titles,
            target=self.deps.settings.target,
            now_ms=now_ms,
            dry_run=self.request.dry_run,
            ends_at=self.deps.ends_at,
        )
        if done.digest is not None:
            self.digests.append(done.digest)
        if done.outcome is not None:
            self.outcomes.append(done.outcome)
        if done.problem is not None:
            self.problems.append(done.problem)

    def _mark(
        self,
        work: Workspace,
        channel: str,
        mark: Callable[[list[Alert], dict[str, int | None]], object],
        rows: Sequence[tuple[str, str, int | None]] | None = None,
    ) -> None:
        """Apply ``mark`` to every alert ``channel`` is due (or to ``rows`` of them), a batch at a time
        (with each alert's mark before this send); each batch is saved to the store and the workspace
        before the next. What ``mark_attempted`` returns — the marks to put back on a refusal — goes
        to the workspace too."""
        store, target = self.deps.store, self.deps.settings.target

        def write(batch: list[tuple[str, str, int | None]]) -> None:
            alerts = [Alert(kind, work.entry(fp)) for fp, kind, _ in batch]  # type: ignore[arg-type]
            result = mark(alerts, {fp: previous for fp, _, previous in batch})
            if isinstance(result, dict):
                work.note_previous(channel, result)
            entries = [alert.entry for alert in alerts]
            store.save(target, entries)
            work.keep_entries(entries)

        Batch(write).extend(work.due(channel) if rows is None else rows)

    def tally(self) -> dict[str, Any]:
        return {
            "sent": sum(1 for o in self.outcomes if o["ok"]),
            "failed": sum(1 for o in self.outcomes if not o["ok"]),
            "channels": self.outcomes,
        }


# -- the run ----------------------------------------------------------------------------------------


def check(request: RunRequest, deps: RunDeps) -> dict[str, Any]:
    """Run once and return the summary (JSON-ready). Holds the target's lease unless read-only."""
    if request.action == "test-notification":
        return test_notification(request, deps)
    if request.action == "summary":
        from imagewatch.summary_run import send_summary

        return send_summary(request, deps)
    target = deps.settings.target
    if request.dry_run:
        return _check(request, deps)
    try:
        deps.store.acquire(target, request.run_id, int(deps.clock() * 1000), LEASE_TTL_MS)
    except LeaseHeldError as exc:
        return {
            "run_id": request.run_id,
            "trigger": request.trigger,
            "scheduled_time": request.scheduled_time,
            "target": target,
            "status": "skipped",
            "errors": [str(exc)],
        }
    try:
        return _check(request, deps)
    finally:
        deps.store.release(target, request.run_id)


def _check(request: RunRequest, deps: RunDeps) -> dict[str, Any]:
    settings, target = deps.settings, deps.settings.target
    started = deps.clock()
    now_ms = int(started * 1000)
    started_at = _iso(started)

    # 1. policies
    loaded = load_policies(settings.policy_path)
    policies, errors = select_policies(loaded, request)
    if request.action == "resend" and request.channel not in {c.name for c in deps.channels}:
        errors.append(f"resend: no channel named {request.channel!r}")
    titles = {p.id: p.title for p in loaded.policies} | {INVALID_POLICY_ID: INVALID_POLICY_TITLE}
    labels = {p.id: dict(p.labels) for p in loaded.policies if p.labels}
    key = report_key(settings.report_prefix, target, started_at, request.run_id, "json")
    report = None if request.dry_run else ViolationReport(deps.reports, key[: -len(".json")])
    page = None

    with Workspace() as work, LedgerCopy() as ledger:
        try:
            page = None if report is None else html_report(deps, key, titles)
            # the ledger, copied while HSS is read (a ledger kept by record subjects is adopted first, once)
            if not request.dry_run:
                images = {p.id for p in loaded.policies if p.subject == "image"}
                adopt_record_entries(deps.store, target, images, work)
            ledger.start(deps.store.scan(target))

            # 5. reconcile, set up first: the ledger and the findings merged in fingerprint order, written
            # before anything is sent; each query's policies as soon as its listing ends, while the next
            # one is read (alerts/staged_merge.py)
            rules = [channel.rule for channel in deps.channels]
            merge = partial(
                merge_ledger,
                now_ms=now_ms,
                rules=rules,
                labels=labels,
                titles=titles,
                save=None if request.dry_run else lambda entries: deps.store.save(target, entries),
                forget=None if request.dry_run else lambda fps: deps.store.forget(target, fps),
                resend_to=request.channel if request.action == "resend" else None,
                on_current=both(report.add, page.rows.add) if report and page else None,
                on_resolved=both(report.add_resolved, page.rows.add_resolved) if report and page else None,
                sla=sla_for(settings.sla_by_severity, loaded.policies),
            )
            with StagedMerge(ledger, work, merge, new_collectors(rules, titles, now_ms)) as staged:
                # 2. plan, 3. fetch, 4. evaluate: every finding into the workspace, merged per subject
                found = find_violations(
                    deps.hss,
                    policies,
                    loaded,
                    settings.hss_enterprise_project_id,
                    now_ms,
                    deps.deadline,
                    work.add,
                    deps.progress,
                    work,
                    exempted=work.exempt,
                    group_read=staged.stage,
                )
                # 5. reconcile what is left: the last query's policies, and entries no query judges
                merged = staged.finish(found.judged)

            # 6. notify
            notifier = Notifier(
                request,
                deps,
                started_at,
                key,
                titles=titles,
                open_by_severity=dict(merged.open_by_severity),
                problems=found.problems,
                notes=exemption_notes(found.evaluations),
            )
            for channel in deps.channels:
                collected = merged.collectors.get(channel.name)
                if collected is not None:
                    notifier.send(channel, collected, None if request.dry_run else work, now_ms)
            if not request.dry_run:
                deps.store.forget(
                    target, [e.fingerprint for e in work.entries() if is_finished(e, rules, labels)]
                )

            # 7. record
            summary = summarize(
                request, deps, started, policies, loaded, found, work, merged, notifier, errors
            )
            log_warnings(summary["warnings"], deps.settings)
            if not request.dry_run and request.action == "check":
                append_history(deps, summary, now_ms, merged)
        except BaseException:
            if report is not None:
                report.abort()
            if page is not None:
                page.abort()
            raise
    if request.dry_run:
        summary["digests"] = notifier.digests
    else:
        assert report is not None and page is not None
        opened = dict(merged.open_by_severity)  # the page's open figures: the ledger's, as the digest's
        summary["report"] = write_report(deps, key, summary, loaded, found, report, page, now_ms, opened)
    return summary


def html_report(deps: RunDeps, key: str, titles: dict[str, str]) -> HtmlReport:
    """The run's HTML report (``report/html_report.py``), collecting rows from the merge on: loaded
    here, by a run that writes reports, never at cold start."""
    from imagewatch.report.html_report import HtmlReport

    return HtmlReport(deps.reports, html_report_key(key), titles, not_images=[INVALID_POLICY_ID])


def html_report_key(json_key: str) -> str:
    """The HTML report's key, beside the run's JSON summary: the page chat digests link to."""
    return json_key.removesuffix(".json") + ".html"


def both(first: Callable[..., None], second: Callable[..., None]) -> Callable[..., None]:
    """One merge callback that tells two listeners (the JSON/CSV report and the HTML page)."""

    def call(*args: Any) -> None:
        first(*args)
        second(*args)

    return call


def append_history(deps: RunDeps, summary: dict[str, Any], at: int, merged: Merged) -> None:
    """The run's record in the history (history.py), written after every ledger write and send: a
    failed write is logged and named in ``problems`` and ``store_errors`` (the CLI's exit 5), and
    costs no alert."""
    record = run_record(
        summary, at=at, open_by_severity=dict(merged.open_by_severity), fixed=merged.tally.as_fixed()
    )
    try:
        deps.store.append_history(record)
    except Exception as exc:  # a trend without this run, never a run without its alerts
        reason = str(exc) if isinstance(exc, StateStoreError) else exc.__class__.__name__
        log.error("run history not written: %s", reason)
        problem = f"run history not written (trends and MTTR will miss this run): {reason}"
        summary["problems"].append(problem)
        summary.setdefault("store_errors", []).append(problem)


def summarize(
    request: RunRequest,
    deps: RunDeps,
    started: float,
    policies: Sequence[Policy],
    loaded: LoadResult,
    found: Findings,
    work: Workspace,
    merged: Merged,
    notifier: Notifier,
    errors: list[str],
) -> dict[str, Any]:
    """The run summary the handler returns (and the report starts from)."""
    from imagewatch.misconfiguration import warnings_for  # at run time: not on the cold start's path

    by_severity = {sev: n for sev in SEVERITIES if (n := merged.found_by_severity.get(sev))}
    counted_records, images = work.read_counts()
    records_read = counted_records if found.records_read is None else found.records_read
    return {
        "run_id": request.run_id,
        "action": request.action,
        "trigger": request.trigger,
        "scheduled_time": request.scheduled_time,
        "dry_run": request.dry_run,
        "target": deps.settings.target,
        "target_name": (request.target or {}).get("name"),
        "started_at": _iso(started),
        "duration_ms": int((deps.clock() - started) * 1000),
        "policies": {
            "evaluated": [p.id for p in policies],
            "invalid": [str(error) for error in loaded.errors],
        },
        "queries": [q.to_dict() for q in found.queries],
        # records read, summed over the queries (a record two queries read counts twice): the work done
        "images_evaluated": sum(q.images for q in found.queries),
        "records_read": records_read,  # distinct records (an image on a host), over all queries
        "images": images,  # distinct images (as an image subject names one), over all queries
        "violations": {"total": sum(by_severity.values()), "by_severity": by_severity},
        "fleet_rules": fleet_rules(policies, found),
        "new": merged.new,
        "resolved": merged.resolved,
        "still_open": merged.still_open,
        "overdue": {
            "total": sum(merged.overdue_by_severity.values()),
            "by_severity": {s: n for s in SEVERITIES if (n := merged.overdue_by_severity.get(s))},
        },
        "exempted_open": merged.exempted_open,
        "notifications": notifier.tally(),
        "exemptions": {
            "applied": sum(result.exempted_count for result in found.evaluations),
            "expired": [note_dict(r) for result in found.evaluations for r in result.expired_exemptions],
            "expiring_soon": [note_dict(r) for result in found.evaluations for r in result.expiring_soon],
        },
        "problems": found.problems,
        "errors": errors,
        "warnings": warnings_for(deps.settings, deps.channels),
        "status": run_status(found.queries, errors),
    }


def write_report(
    deps: RunDeps,
    key: str,
    summary: dict[str, Any],
    loaded: LoadResult,
    found: Findings,
    report: ViolationReport,
    page: HtmlReport,
    now_ms: int,
    open_by_severity: dict[str, int],
) -> dict[str, str]:
    """Evidence of the run: the summary, settings (secrets redacted), policy hashes and exemptions in a
    small JSON document; every violation in the streamed JSON Lines and CSV files it names; and the
    HTML page people open from chat (``write_html``).

    The JSON document comes first (naming the page's key) and is remembered for the weekly summary,
    so whatever becomes of the page (a bug, a refusing store, the function's time running out) the
    run's evidence is there. It is written again only when the page failed, to say so."""
    from imagewatch.summary_run import remember_report  # the summary links the latest report

    try:
        streams = report.close()
        exempted = [
            {"policy_id": x.policy_id, "subject": x.subject, "label": x.label, **x.exemption.to_dict()}
            for result in found.evaluations
            for x in result.exempted
        ]
        document = {
            **summary,
            "settings": deps.settings.redacted(),
            "policy_sources": [
                {"id": p.id, "source": str(p.source), "sha256": p.sha256} for p in loaded.policies
            ],
            "exempted": exempted,
            "violation_files": streams,
            "html_report_key": html_report_key(key),
        }
        written = {"json": deps.reports.put(key, render_json(document), "application/json"), **streams}
    except BaseException:
        page.abort()
        raise
    remember_report(deps, key)
    html = write_html(deps, summary, loaded, exempted, page, now_ms, open_by_severity, written)
    if "html" in html:
        remember_report(deps, html_report_key(key))
    else:  # the document says what became of the page
        document.update(problems=summary["problems"], store_errors=summary.get("store_errors", []))
        if "html_placeholder" not in html:
            del document["html_report_key"]
        try:
            deps.reports.put(key, render_json(document), "application/json")
        except Exception as exc:
            log.error("JSON report not updated with the HTML report's failure: %s", exc)
    return {**written, **html}


def write_html(
    deps: RunDeps,
    summary: dict[str, Any],
    loaded: LoadResult,
    exempted: list[dict[str, Any]],
    page: HtmlReport,
    now_ms: int,
    open_by_severity: dict[str, int],
    files: dict[str, str],
) -> dict[str, str]:
    """The HTML page, with the trend from the run history. Any failure (a report store that refuses
    it, a bug in the page) costs the page only: logged with its traceback, named in ``problems`` and
    ``store_errors`` (the CLI's exit 5), and a small placeholder page takes its key, which the digest
    already links, naming the JSON and CSV reports (``files``). A stop that is no error
    (``KeyboardInterrupt``, ``SystemExit``) goes on up: the JSON document is written already."""
    from imagewatch.report.html_charts import Point
    from imagewatch.report.html_report import HISTORY_WINDOW_MS, history_points, put_placeholder

    target = deps.settings.target
    this_run = Point(now_ms, str(summary.get("status", "")), open_by_severity)
    policies = [
        {"id": p.id, "title": p.title, "severity": p.severity, "source": str(p.source), "sha256": p.sha256}
        for p in loaded.policies
    ]
    try:
        try:
            history = deps.store.history(target, now_ms - HISTORY_WINDOW_MS)
            records = history_points(history, this_run)
            note = (
                f"the last {len(records)} runs" if len(records) > 1 else "this run only: history starts here"
            )
        except StateStoreError as exc:
            records = history_points((), this_run)
            note = f"this run only: the run history could not be read ({exc})"
        where = page.write(
            summary,
            open_by_severity=open_by_severity,
            policies=policies,
            exempted=exempted,
            history=records,
            history_note=note,
            csv=files.get("csv", ""),
        )
    except Exception as exc:
        page.abort()
        stored = isinstance(exc, OSError | StateStoreError) or type(exc).__module__.startswith("botocore")
        reason = str(exc) if stored else f"{type(exc).__name__}: {exc}"
        log.error("HTML report not written: %s", reason[:500], exc_info=exc)
        placeholder = put_placeholder(deps.reports, page.key, summary, files)
        where_now = (
            "a placeholder page at its link says so"
            if placeholder
            else "nothing is at its link (see the log)"
        )
        problem = (
            f"HTML report not written (the JSON, JSON Lines and CSV reports are; {where_now}): {reason[:500]}"
        )
        summary["problems"].append(problem)
        summary.setdefault("store_errors", []).append(problem)
        return {"html_placeholder": placeholder} if placeholder else {}
    return {"html": where}


def test_notification(request: RunRequest, deps: RunDeps) -> dict[str, Any]:
    """One small message to every channel, so a user can check their setup; touches no ledger."""
    started = deps.clock()
    notifier = Notifier(request, deps, _iso(started), "", {}, {}, [], [])
    for channel in deps.channels:
        notifier.send(channel, DigestCollector({}), None, int(started * 1000), test=True)
    tally = notifier.tally()
    errors = [] if deps.channels else ["no channel configured: set WEBHOOK_URL or CHANNELS_FILE"]
    if deps.channels and all(getattr(c.platform, "FINDINGS", False) for c in deps.channels):
        errors = [
            "no chat channel configured: set WEBHOOK_URL or CHANNELS_FILE (AWS Security Hub takes no test"
            " notification: `imagewatch doctor` checks it)"
        ]
    from imagewatch.misconfiguration import channel_warnings

    return {
        "run_id": request.run_id,
        "action": request.action,
        "trigger": request.trigger,
        "target": deps.settings.target,
        "notifications": tally,
        "errors": errors,
        "warnings": channel_warnings(deps.settings, deps.channels),  # a misspelt WEBHOOK_URL, a look-alike
        "status": "ok" if not errors and tally["failed"] == 0 else "failed",
    }
