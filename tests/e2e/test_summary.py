"""The summary action end to end: ``imagewatch invoke events/summary.json`` through every stand-in.

A real check first (the emulator's known fleet into the ledger, a report written), then the summary as
the schedule would start it, as a subprocess: each of the eight platforms' stand-ins accepts it within
its own limits, keyword filter and signature check; it is sent again when nothing changed; a dry run
sends nothing.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from imagewatch.alerts.digest import HEADER
from imagewatch.alerts.sqlite_store import SqliteStore
from imagewatch.settings import Settings
from imagewatch.standins.chat.base import strings
from imagewatch.standins.webhook_sink import WebhookSink
from support.cli import run_imagewatch
from support.known_fleet import EXPECTED, ROOT

SUMMARY_EVENT = str(ROOT / "events" / "summary.json")
PLATFORMS = ("slack", "teams", "feishu", "dingtalk", "wecom", "discord", "googlechat", "generic")
SIGNED = {"feishu", "dingtalk", "generic"}
SECRET = "summary-signing-secret"


def imagewatch(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return run_imagewatch(*args, stdin=stdin)


@pytest.fixture
def sinks() -> Iterator[dict[str, WebhookSink]]:
    with contextlib.ExitStack() as stack:
        yield {
            name: stack.enter_context(
                WebhookSink(
                    name,
                    secret=SECRET if name in SIGNED else None,
                    keywords=(HEADER,) if name in ("feishu", "dingtalk") else (),
                )
            )
            for name in PLATFORMS
        }


@pytest.fixture
def summary_env(
    env: dict, sinks: dict[str, WebhookSink], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict:
    channels = [
        {"name": name, "platform": name, "url": f"${{CHANNEL_{name.upper()}_URL}}"}
        | ({"secret": "${CHAT_SECRET}"} if name in SIGNED else {})
        for name in PLATFORMS
    ]
    path = tmp_path / "channels.json"
    path.write_text(json.dumps({"channels": channels}))
    monkeypatch.delenv("WEBHOOK_URL")
    monkeypatch.delenv("WEBHOOK_SECRET")
    monkeypatch.setenv("CHANNELS_FILE", str(path))
    monkeypatch.setenv("CHAT_SECRET", SECRET)
    for name, sink in sinks.items():
        monkeypatch.setenv(f"CHANNEL_{name.upper()}_URL", sink.url)
    values = {key: value for key, value in env.items() if not key.startswith("WEBHOOK_")}
    return {**values, "CHANNELS_FILE": str(path), "CHAT_SECRET": SECRET}


def summary_texts(sinks: dict[str, WebhookSink], index: int) -> dict[str, str]:
    return {name: strings(sink.received[index].json()) for name, sink in sinks.items()}


def test_summary_through_every_stand_in(summary_env: dict, sinks: dict[str, WebhookSink]) -> None:
    check = imagewatch("run")
    assert check.returncode == 0, check.stderr
    assert all(len(sink.received) == 1 for sink in sinks.values())  # the check's digest

    done = imagewatch("invoke", SUMMARY_EVENT)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["action"] == "summary" and summary["status"] == "ok"
    assert summary["notifications"]["sent"] == len(PLATFORMS) and summary["notifications"]["failed"] == 0
    assert sum(summary["open_by_severity"].values()) == len(EXPECTED)
    assert summary["previous_summary_at"] is None
    for name, sink in sinks.items():
        assert not sink.rejections, (name, sink.rejections)
        assert len(sink.received) == 2, name
    for name, text in summary_texts(sinks, 1).items():
        assert "weekly summary" in text, name
        assert "last complete read" in text or "LAST COMPLETE READ" in text, name
        assert "MTTR" in text and "first summary for this target" in text, name
    generic = sinks["generic"].received[1].json()
    assert generic["title"] == f"{HEADER}: weekly summary"
    assert {alert["kind"] for alert in generic["alerts"]} == {"open"}
    assert 1 <= len(generic["alerts"]) <= 5
    page = Path(summary_env["REPORT_DIR"]) / summary["latest_report"]
    assert page.suffix == ".html" and page.is_file()  # the latest check's HTML report
    assert generic["report_url"] == page.as_uri()  # a local report folder: the file's URI
    for name, text in summary_texts(sinks, 1).items():  # the chat platforms say where it is, as text
        assert name == "generic" or page.name in text.replace("\\", ""), name

    # nothing changed: sent again, and now it compares with the first summary
    again = json.loads(imagewatch("invoke", SUMMARY_EVENT).stdout)
    assert again["notifications"]["sent"] == len(PLATFORMS)
    assert again["previous_summary_at"] == summary["started_at"]
    for name, text in summary_texts(sinks, 2).items():
        assert "no change in open" in text and summary["started_at"][:10] in text, name

    # a summary touches no ledger entry
    target = Settings.from_env(summary_env).target
    store = SqliteStore(summary_env["STATE_PATH"])
    try:
        assert len(store.load(target)) == len(EXPECTED)
        assert store.marker(target, "summary_at") is not None
    finally:
        store.close()


def test_dry_run_renders_without_sending_or_remembering(
    summary_env: dict, sinks: dict[str, WebhookSink]
) -> None:
    event = json.dumps({"source": "manual", "action": "summary", "dry_run": True})
    done = imagewatch("invoke", "-", stdin=event)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["notifications"]["sent"] == 0 and len(summary["digests"]) == len(PLATFORMS)
    assert all(not sink.received for sink in sinks.values())
    generic = next(d for d in summary["digests"] if d["platform"] == "generic")["payload"]
    assert generic["title"] == f"[dry run] {HEADER}: weekly summary"
    assert any("LAST COMPLETE READ: NEVER" in problem for problem in generic["problems"])
    store = SqliteStore(summary_env["STATE_PATH"])
    try:
        assert store.marker(Settings.from_env(summary_env).target, "summary_at") is None
    finally:
        store.close()


def test_a_channel_that_fails_is_exit_4_and_the_baseline_stays(
    summary_env: dict, sinks: dict[str, WebhookSink]
) -> None:
    for sink in sinks.values():
        sink.remove()
    done = imagewatch("invoke", SUMMARY_EVENT)
    assert done.returncode == 4, done.stderr
    summary = json.loads(done.stdout)
    assert summary["notifications"]["failed"] == len(PLATFORMS)
    store = SqliteStore(summary_env["STATE_PATH"])
    try:
        assert store.marker(Settings.from_env(summary_env).target, "summary_at") is None
    finally:
        store.close()


def test_preview_summary_renders_for_a_platform_without_sending(env: dict, sink: WebhookSink) -> None:
    assert imagewatch("run").returncode == 0
    done = imagewatch("preview", "--summary", "--platform", "slack")
    assert done.returncode == 0, done.stderr
    assert "weekly summary" in done.stdout and "--- channel preview (slack): payload ---" in done.stdout
    assert "OPEN" in done.stdout and "last complete read" in done.stdout.lower()
    assert len(sink.received) == 1  # the run's digest only
    as_json = json.loads(imagewatch("preview", "--summary", "--format", "json").stdout)
    assert as_json["action"] == "summary" and as_json["digests"][0]["payload"]["title"].endswith(
        "weekly summary"
    )
    both = imagewatch("preview", "--summary", "--all", "--platform", "slack")
    assert both.returncode == 2 and "--all and --summary" in both.stderr
    # --fail-on reads the open violations the summary counts (the known fleet has critical ones)
    assert as_json["violations"]["by_severity"]["critical"] >= 1
    gated = imagewatch("preview", "--summary", "--platform", "slack", "--fail-on", "critical")
    assert gated.returncode == 1, gated.stderr
