"""The ``summary`` action's I/O: read the ledger and the run history, send one summary per channel.

The summary itself is built by ``imagewatch.summary`` (pure). Here: the ledger is read page by page
(``store.scan``) into a bounded tally, the history for the stats window, the previous summary's time
(a per-target marker) and the latest report's key; each channel gets its platform's rendering
through the same ``Deliverer`` as digests (limits, signing, retries); a findings channel (AWS
Security Hub) gets none, and with no chat channel beside it the summary is skipped, quietly. A
summary touches no ledger entry; its time is remembered only once at least one channel confirmed
it, so a summary nobody received does not move the "since the last summary" baseline.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from imagewatch.alerts.store import StateStoreError

if TYPE_CHECKING:
    from imagewatch.request import RunRequest
    from imagewatch.run import RunDeps

log = logging.getLogger(__name__)

SUMMARY_MARKER = "summary_at"  # ms since the epoch of the last summary a channel confirmed
REPORT_MARKER = "last_report"  # the latest check's report: its HTML page, else its JSON (remember_report)


def _int_marker(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def remember_report(deps: RunDeps, key: str) -> None:
    """After a check wrote its report: the summary links the latest one. A failed write loses only
    the link, never the run."""
    try:
        deps.store.set_marker(deps.settings.target, REPORT_MARKER, key)
    except (StateStoreError, OSError) as exc:
        log.warning("could not remember the report for the summary: %s", exc)


def send_summary(request: RunRequest, deps: RunDeps) -> dict[str, Any]:
    """Build the summary and send it to every channel (or render it, on a dry run); the run summary."""
    from imagewatch import history, sla
    from imagewatch.misconfiguration import channel_warnings
    from imagewatch.run import Notifier, _iso
    from imagewatch.summary import STATS_WINDOW_MS, SummaryTally, build_summary

    store, target = deps.store, deps.settings.target
    started = deps.clock()
    now = int(started * 1000)
    previous = _int_marker(store.marker(target, SUMMARY_MARKER))
    since = min(now - STATS_WINDOW_MS, previous if previous is not None else now)
    problems: list[str] = []
    history_read = True
    try:
        records = list(store.history(target, since))
    except StateStoreError as exc:  # the summary still goes out: the ledger's figures stand alone
        records, history_read = [], False
        problems.append(f"run history could not be read: {exc}")
    tally = SummaryTally(now, previous, sla.overdue_ms).extend(store.scan(target))
    last = history.last_complete(records)
    stats = {
        "mttr": history.mttr(records, now, STATS_WINDOW_MS),
        "sla": history.sla_compliance(records, now, STATS_WINDOW_MS),
    }
    report_key = store.marker(target, REPORT_MARKER)
    report_url = deps.reports.link(report_key) if report_key else None
    notifier = Notifier(request, deps, _iso(started), report_key or "", {}, {}, problems, [])
    chat = [c for c in deps.channels if not getattr(c.platform, "FINDINGS", False)]  # not Security Hub
    for channel in chat:
        digest = build_summary(
            tally,
            records,
            target=target,
            run_id=request.run_id,
            previous_ms=previous,
            stats=stats,
            last_complete_at=last.at if last is not None else None,
            report_url=report_url,
            mentions=channel.mentions,
            dry_run=request.dry_run,
            problems=problems,
            history_read=history_read,
        )
        payload = channel.platform.render(digest)
        if request.dry_run:
            notifier.digests.append(
                {"channel": channel.name, "platform": channel.platform_name, "payload": payload}
            )
            continue
        outcome = deps.deliverer.send(channel, payload)
        notifier.outcomes.append({**outcome.to_dict(), "alerts": dict(digest.counts)})
    tally_sent = notifier.tally()
    if not request.dry_run and tally_sent["sent"]:
        store.set_marker(target, SUMMARY_MARKER, str(now))
    errors = [] if chat or deps.channels else ["no channel configured: set WEBHOOK_URL or CHANNELS_FILE"]
    warnings = channel_warnings(deps.settings, deps.channels)
    if not chat and deps.channels:  # AWS Security Hub alone: it takes findings, never a summary
        warnings.append(
            "no summary sent: no chat channel is configured (AWS Security Hub takes findings, not"
            " summaries); set WEBHOOK_URL or CHANNELS_FILE, or disable the summary schedule"
        )
    result: dict[str, Any] = {
        "run_id": request.run_id,
        "action": "summary",
        "trigger": request.trigger,
        "scheduled_time": request.scheduled_time,
        "dry_run": request.dry_run,
        "target": target,
        "target_name": (request.target or {}).get("name"),
        "started_at": _iso(started),
        "previous_summary_at": _iso(previous / 1000) if previous is not None else None,
        "latest_report": report_key,  # linked in the summary where the report sink can make a link
        "last_complete_read_at": _iso(last.at / 1000) if last is not None else None,
        "open_by_severity": dict(tally.open_by_severity),
        # what --fail-on reads: the open violations, as a check's summary says them
        "violations": {
            "total": sum(tally.open_by_severity.values()),
            "by_severity": dict(tally.open_by_severity),
        },
        "overdue": {"total": tally.overdue, "by_severity": dict(tally.overdue_by_severity)},
        "exempted_open": tally.exempted,
        "unranked": tally.untracked,  # open violations of images past MAX_TRACKED_IMAGES: counted, not ranked
        "notifications": tally_sent,
        "problems": problems,
        "errors": errors,
        "warnings": warnings,
        "status": "failed" if errors or tally_sent["failed"] else "partial" if not history_read else "ok",
        # the exit code's "store failed" (5) when the history was unreadable: the summary went out without it
        **({"store_errors": problems[:1]} if not history_read else {}),
    }
    if request.dry_run:
        result["digests"] = notifier.digests
    return result
