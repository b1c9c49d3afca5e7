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


def test_complete_reads_is_one_only_when_every_listing_was_complete() -> None:
    """The dead man's switch counts complete reads per target: a partial, failed or skipped run is 0."""

    def complete_reads(summary: dict) -> list[tuple[float, tuple]]:
        return [(p.value, p.dimensions) for p in metric_points(summary) if p.name == "CompleteReads"]

    target = (("target", "eu-west-101/p1/0"),)
    complete = {"target": "eu-west-101/p1/0", "queries": [{"complete": True}, {"complete": True}]}
    assert complete_reads(complete) == [(1, target)]
    assert complete_reads(SUMMARY | {"target": "eu-west-101/p1/0"}) == [(0, target)]  # one incomplete
    assert complete_reads({"target": "eu-west-101/p1/0", "status": "skipped"}) == [(0, target)]
    assert complete_reads({"target": "eu-west-101/p1/0", "queries": []}) == [(0, target)]


def test_complete_reads_is_published_with_its_target(capsys: pytest.CaptureFixture[str]) -> None:
    summary = {"target": "eu-west-101/p1/0", "queries": [{"pages": 1, "complete": True}]}
    publish(summary, "imagewatch-test", "imagewatch")
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    [line] = [line for line in lines if "CompleteReads" in line]
    assert line["CompleteReads"] == [1.0] and line["target"] == "eu-west-101/p1/0"
    assert line["service"] == "imagewatch"
    [dimensions] = line["_aws"]["CloudWatchMetrics"][0]["Dimensions"]
    assert set(dimensions) == {"service", "target"}


@pytest.mark.parametrize("action", ["summary", "resend", "test-notification"])
def test_a_run_that_reads_no_fleet_publishes_only_its_notifications(action: str) -> None:
    """A weekly summary's zeros would sink the Violations graphs and add nothing to the dead man's sum."""
    points = {p.name: p.value for p in metric_points({**SUMMARY, "action": action, "status": "ok"})}
    assert points == {"NotificationsSent": 2, "NotificationsFailed": 1, "RunFailed": 0}
    checked = {p.name for p in metric_points({**SUMMARY, "action": "check"})}
    assert {"Violations", "CompleteReads", "NotificationsSent"} <= checked
