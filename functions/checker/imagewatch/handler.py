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

from imagewatch.alerts.channels import platform_for
from imagewatch.alerts.delivery import Channel, Deliverer
from imagewatch.alerts.ledger import ChannelRule
from imagewatch.alerts.store import SqliteStore
from imagewatch.events import parse_event
from imagewatch.hss.factory import build_client
from imagewatch.report.sink import LocalReportSink
from imagewatch.run import RunDeps, check
from imagewatch.settings import Settings


def channels_from_settings(settings: Settings) -> list[Channel]:
    """The chat channels of this run: ``WEBHOOK_URL`` alone makes one channel named ``default``."""
    if not settings.webhook_url:
        return []
    return [
        Channel(
            name="default",
            platform=platform_for(settings.webhook_url, settings.webhook_platform),
            url=settings.webhook_url,
            rule=ChannelRule("default"),
            secret=settings.webhook_secret,
        )
    ]


def build_deps(settings: Settings) -> RunDeps:
    return RunDeps(
        settings=settings,
        hss=build_client(settings),
        store=SqliteStore(settings.state_path),
        channels=channels_from_settings(settings),
        deliverer=Deliverer(),
        reports=LocalReportSink(settings.report_dir),
        clock=time.time,
    )


def handle(event: object, env: Mapping[str, str]) -> dict[str, Any]:
    """Parse, wire, run, close: returns the run summary."""
    request = parse_event(event)
    deps = build_deps(Settings.from_env(env))
    try:
        return check(request, deps)
    finally:
        deps.hss.close()
        deps.deliverer.close()
        deps.store.close()


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    return handle(event, os.environ)
