"""The Lambda handler's logic: parse the event, wire the run's ports from settings, run ``check()``.

``functions/checker/app.py`` re-exports ``lambda_handler`` from here. Each port gets its AWS adapter
when its setting is present — ``STATE_TABLE`` (DynamoDB ledger), ``REPORT_BUCKET`` (S3 reports),
``SETTINGS_SECRET`` (Secrets Manager overlay), ``POLICY_S3_URI`` (policies from S3) — and the
embedded default otherwise (SQLite file, local folder, environment, ``POLICY_PATH``). With
``SECURITY_HUB=on`` AWS Security Hub is one more channel, with its port (``RunDeps.findings``). boto3
clients and the secret are cached per container.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools import Logger
from msgspec import structs

from imagewatch import allocator
from imagewatch.alerts.delivery import Deliverer
from imagewatch.alerts.routing import channels_for
from imagewatch.alerts.store import StateStore
from imagewatch.events import check_target, parse_event
from imagewatch.hss.factory import build_client
from imagewatch.hss.paging import Listing
from imagewatch.report.sink import LocalReportSink, ReportSink
from imagewatch.run import RunDeps, check
from imagewatch.secret_settings import overlay
from imagewatch.settings import Settings

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME") or "imagewatch"
logger = Logger(service=SERVICE, stream=sys.stderr)
# Libraries that log secrets at DEBUG/INFO: httpx logs every request URL (a webhook URL is a secret),
# botocore logs response bodies (GetSecretValue's among them). Whatever the root log level, they
# may only speak up for warnings.
for _name in ("httpx", "httpcore", "botocore", "boto3", "urllib3", "s3transfer"):
    logging.getLogger(_name).setLevel(logging.WARNING)


def build_store(settings: Settings) -> StateStore:
    if settings.state_table:
        from imagewatch import aws
        from imagewatch.alerts.dynamodb_store import DynamoDbStore

        return DynamoDbStore(settings.state_table, aws.client("dynamodb"), ttl_days=settings.ledger_ttl_days)
    from imagewatch.alerts.sqlite_store import SqliteStore

    return SqliteStore(settings.state_path)


def build_reports(settings: Settings) -> ReportSink:
    if settings.report_bucket:
        from imagewatch import aws
        from imagewatch.report.s3_sink import S3ReportSink

        return S3ReportSink(settings.report_bucket, aws.client("s3"), link_ttl_s=settings.report_link_ttl_s)
    return LocalReportSink(settings.report_dir)


def resolve_policies(settings: Settings) -> Settings:
    """With ``POLICY_S3_URI``, this run's policies are a fresh copy of that S3 folder."""
    if not settings.policy_s3_uri:
        return settings
    from imagewatch import aws
    from imagewatch.policy_source import fetch_policies

    return structs.replace(settings, policy_path=fetch_policies(settings.policy_s3_uri, aws.client("s3")))


def build_deps(settings: Settings, env: Mapping[str, str]) -> RunDeps:
    settings = resolve_policies(settings)
    channels = channels_for(
        settings.channels_file,
        settings.webhook_url,
        settings.webhook_secret,
        settings.webhook_platform,
        env,
    )
    findings = None
    if settings.security_hub:  # loaded only when on: boto3's Security Hub client is not on the cold path
        from imagewatch.alerts.channels import securityhub
        from imagewatch.alerts.securityhub_client import SecurityHubClient

        channels = [*channels, securityhub.channel(channels)]
        findings = SecurityHubClient.from_environment()
    return RunDeps(
        settings=settings,
        hss=build_client(settings),
        store=build_store(settings),
        channels=channels,
        deliverer=Deliverer(),
        reports=build_reports(settings),
        findings=findings,
    )


def target_env(env: Mapping[str, str], target: Mapping[str, Any] | None) -> dict[str, str]:
    """The settings for one target: its region, project and enterprise project over the base
    settings, then its own settings secret (its credentials) over those. The target's region and
    endpoint are checked against the base settings first (``check_target``): an event cannot send
    the deployment's credentials to an endpoint the operator did not configure."""
    if not target:
        return dict(env)
    check_target(target, env)
    named = {
        "HSS_REGION": target.get("region"),
        "HSS_ENDPOINT": target.get("endpoint"),
        "HSS_PROJECT_ID": target.get("project_id"),
        "HSS_ENTERPRISE_PROJECT_ID": target.get("enterprise_project_id"),
        "SETTINGS_SECRET": target.get("settings_secret"),
    }
    merged = {**env, **{key: value for key, value in named.items() if value}}
    if target.get("region") and not target.get("endpoint"):
        merged.pop("HSS_ENDPOINT", None)  # the target's region decides its endpoint
    return overlay(merged) if target.get("settings_secret") else merged


def fetch_deadline(remaining_ms: int, now: float) -> float:
    """When fetching must stop so the run can still send and record what it found: the Lambda's
    remaining time less a margin of 15% (at least 20 s, at most 90 s)."""
    remaining = remaining_ms / 1000
    margin = min(90.0, max(20.0, 0.15 * remaining))
    return now + max(0.0, remaining - margin)


def handle(
    event: object,
    env: Mapping[str, str],
    *,
    deadline: float | None = None,
    ends_at: float | None = None,
    progress: Callable[[Listing], None] | None = None,
) -> dict[str, Any]:
    """Parse, wire, run, close: returns the run summary. ``deadline`` (``time.monotonic()``) bounds
    fetching; a run stopped by it resolves nothing and says so. ``ends_at``: when the function's time
    is up (Security Hub's imports keep a reserve before it). ``progress``: the CLI's progress line."""
    allocator.configure()  # before any thread allocates: see imagewatch.allocator
    request = parse_event(event)
    env = target_env(overlay(env), request.target)
    settings = Settings.from_env(env)
    logger.append_keys(run_id=request.run_id, target=settings.target)
    logger.info(
        "run starting",
        extra={"trigger": request.trigger, "action": request.action, "scheduled_time": request.scheduled_time,
               "dry_run": request.dry_run, "settings": settings.redacted()},
    )  # fmt: skip
    deps = build_deps(settings, env)
    deps.deadline, deps.ends_at, deps.progress = deadline, ends_at, progress
    try:
        summary = check(request, deps)
    except Exception:
        logger.exception("run failed")
        raise
    finally:
        deps.hss.close()
        deps.deliverer.close()
        deps.store.close()
    logger.info(
        "run finished",
        extra={key: summary.get(key) for key in ("status", "new", "resolved", "still_open", "notifications",
                                                  "problems", "errors", "report", "duration_ms")},
    )  # fmt: skip
    return summary


class RunFailedError(RuntimeError):
    """The run could not read any inventory (or send a test notification): Lambda should count it as
    an error, so the retry, the failure queue and the alarm all see it. Carries the summary."""

    def __init__(self, summary: dict[str, Any]) -> None:
        self.summary = summary
        reasons = summary.get("errors", []) + summary.get("problems", [])
        super().__init__(
            f"run {summary.get('run_id')} failed: " + ("; ".join(reasons[:5]) or "see the summary")
        )


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    from imagewatch.report.metrics import publish

    remaining = getattr(context, "get_remaining_time_in_millis", None)
    now, left_ms = time.monotonic(), remaining() if callable(remaining) else None
    deadline = fetch_deadline(left_ms, now) if left_ms is not None else None
    ends_at = now + left_ms / 1000 if left_ms is not None else None
    summary = handle(event, os.environ, deadline=deadline, ends_at=ends_at)
    publish(summary, os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "imagewatch", SERVICE)
    if summary.get("status") == "failed":
        raise RunFailedError(summary)
    return summary
