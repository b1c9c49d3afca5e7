"""Run metrics, as CloudWatch Embedded Metric Format through Powertools ``Metrics``.

``metric_points`` is the pure part: which figures a run summary yields. ``publish`` hands them to
Powertools, which writes one EMF log line per dimension set (CloudWatch turns them into metrics).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from msgspec import Struct

from imagewatch.violation import SEVERITIES


class MetricPoint(Struct, frozen=True):
    name: str
    unit: str  # Count | Milliseconds
    value: float
    dimensions: tuple[tuple[str, str], ...] = ()


def metric_points(summary: Mapping[str, Any]) -> list[MetricPoint]:
    """Images evaluated, violations by severity, new, resolved, notifications, API pages and retries,
    duration, complete reads by target — from a run summary (nothing else is read, so nothing secret
    can leak into metrics)."""
    queries = summary.get("queries", [])
    notifications = summary.get("notifications", {})
    by_severity = summary.get("violations", {}).get("by_severity", {})
    if summary.get("action", "check") != "check":  # a summary, resend or test message reads no fleet:
        return [  # its zeros would sink the fleet graphs (and the dead man's sum is of checks only)
            MetricPoint("NotificationsSent", "Count", notifications.get("sent", 0)),
            MetricPoint("NotificationsFailed", "Count", notifications.get("failed", 0)),
            MetricPoint("RunFailed", "Count", 1 if summary.get("status") == "failed" else 0),
        ]
    points = [
        MetricPoint("ImagesEvaluated", "Count", summary.get("images_evaluated", 0)),
        MetricPoint("Violations", "Count", summary.get("violations", {}).get("total", 0)),
        MetricPoint("NewViolations", "Count", summary.get("new", 0)),
        MetricPoint("ResolvedViolations", "Count", summary.get("resolved", 0)),
        MetricPoint("NotificationsSent", "Count", notifications.get("sent", 0)),
        MetricPoint("NotificationsFailed", "Count", notifications.get("failed", 0)),
        MetricPoint("ApiPages", "Count", sum(q.get("pages", 0) for q in queries)),
        MetricPoint("ApiRetries", "Count", sum(q.get("retries", 0) for q in queries)),
        MetricPoint("ApiThrottled", "Count", sum(q.get("throttled", 0) for q in queries)),
        MetricPoint("IncompleteReads", "Count", sum(1 for q in queries if not q.get("complete"))),
        MetricPoint("RunFailed", "Count", 1 if summary.get("status") == "failed" else 0),
        MetricPoint("DurationMs", "Milliseconds", summary.get("duration_ms", 0)),
    ]
    points += [
        MetricPoint("ViolationsBySeverity", "Count", by_severity.get(severity, 0), (("severity", severity),))
        for severity in SEVERITIES
    ]
    points.append(complete_reads(summary))
    return points


def complete_reads(summary: Mapping[str, Any]) -> MetricPoint:
    """The dead man's switch: 1 when the run read every listing completely, else 0 (a failed,
    partial, skipped or read-less run), per ``target``. The template's alarm sums it over twice the
    schedule period and treats missing data as breaching: a checker that stops running, or runs but
    cannot read, raises it."""
    queries = summary.get("queries") or []
    complete = 1 if queries and all(q.get("complete") for q in queries) else 0
    return MetricPoint("CompleteReads", "Count", complete, (("target", str(summary.get("target") or "")),))


def publish(summary: Mapping[str, Any], namespace: str, service: str) -> None:
    """Write the run's metrics as EMF (stdout, where Lambda's log capture picks them up), unless
    ``POWERTOOLS_METRICS_DISABLED`` says not to (Powertools' own switch; its single-metric writer
    would not honour it by itself)."""
    from aws_lambda_powertools import Metrics
    from aws_lambda_powertools.metrics import single_metric
    from aws_lambda_powertools.metrics.functions import is_metrics_disabled

    if is_metrics_disabled():
        return

    metrics = Metrics(namespace=namespace, service=service)
    for point in metric_points(summary):
        if point.dimensions:
            with single_metric(point.name, point.unit, point.value, namespace=namespace) as metric:
                metric.add_dimension("service", service)
                for key, value in point.dimensions:
                    metric.add_dimension(key, value)
        else:
            metrics.add_metric(point.name, point.unit, point.value)
    metrics.add_metadata("run_id", str(summary.get("run_id", "")))
    metrics.flush_metrics()
