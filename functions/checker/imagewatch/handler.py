"""The Lambda handler's logic: parse the event, wire the run's ports from settings, run ``check()``.

``functions/checker/app.py`` re-exports ``lambda_handler`` from here. Ports are chosen by settings:
the embedded defaults (SQLite ledger, local report folder, environment settings) unless AWS settings
say otherwise.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

from imagewatch.alerts.delivery import Deliverer
from imagewatch.alerts.routing import channels_for
from imagewatch.alerts.store import SqliteStore
from imagewatch.events import parse_event
from imagewatch.hss.factory import build_client
from imagewatch.report.sink import LocalReportSink
from imagewatch.run import RunDeps, check
from imagewatch.settings import Settings


def build_deps(settings: Settings, env: Mapping[str, str]) -> RunDeps:
    return RunDeps(
        settings=settings,
        hss=build_client(settings),
        store=SqliteStore(settings.state_path),
        channels=channels_for(
            settings.channels_file,
            settings.webhook_url,
            settings.webhook_secret,
            settings.webhook_platform,
            env,
        ),
        deliverer=Deliverer(),
        reports=LocalReportSink(settings.report_dir),
        clock=time.time,
    )


def handle(event: object, env: Mapping[str, str]) -> dict[str, Any]:
    """Parse, wire, run, close: returns the run summary."""
    request = parse_event(event)
    deps = build_deps(Settings.from_env(env), env)
    try:
        return check(request, deps)
    finally:
        deps.hss.close()
        deps.deliverer.close()
        deps.store.close()


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
    summary = handle(event, os.environ)
    if summary.get("status") == "failed":
        raise RunFailedError(summary)
    return summary
