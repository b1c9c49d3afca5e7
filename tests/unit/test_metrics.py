"""Run metrics: which figures a summary yields, and that EMF is what Powertools writes."""

from __future__ import annotations

import json

import pytest

from imagewatch.report.metrics import metric_points, publish

SUMMARY = {
    "run_id": "r1",
    "status": "partial",
    "images_evaluated": 1200,
    "violations": {"total": 9, "by_severity": {"critical": 2, "medium": 7}},
    "new": 3,
    "resolved": 1,
    "notifications": {"sent": 2, "failed": 1},
    "queries": [
        {"pages": 4, "retries": 1, "throttled": 1, "complete": True},
        {"pages": 2, "retries": 0, "complete": False},
    ],
    "duration_ms": 5300,
}


def test_points_from_a_summary() -> None:
    points = {(p.name, p.dimensions): p.value for p in metric_points(SUMMARY)}
    assert points[("ImagesEvaluated", ())] == 1200 and points[("NewViolations", ())] == 3
    assert points[("NotificationsFailed", ())] == 1 and points[("ApiPages", ())] == 6
    assert points[("ApiRetries", ())] == 1 and points[("IncompleteReads", ())] == 1
    assert points[("ApiThrottled", ())] == 1
    assert points[("RunFailed", ())] == 0 and points[("DurationMs", ())] == 5300
    assert points[("ViolationsBySeverity", (("severity", "critical"),))] == 2
    assert points[("ViolationsBySeverity", (("severity", "high"),))] == 0


def test_publish_writes_embedded_metric_format(capsys: pytest.CaptureFixture[str]) -> None:
    publish(SUMMARY, "imagewatch-test", "imagewatch")
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    main = next(line for line in lines if "ImagesEvaluated" in line)
    assert main["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "imagewatch-test"
    assert main["ImagesEvaluated"] == [1200.0]
    assert main["run_id"] == "r1"
    by_severity = [line for line in lines if "ViolationsBySeverity" in line]
    assert {line["severity"] for line in by_severity} == {"critical", "high", "medium", "low", "info"}


def test_powertools_switch_silences_every_metric(capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    publish(SUMMARY, "imagewatch-test", "imagewatch")
    assert capsys.readouterr().out == ""
