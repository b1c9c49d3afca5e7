"""``make demo``: the whole job on one laptop, on embedded defaults.

Starts the HSS emulator (a synthetic fleet) and a Slack-like webhook sink on free loopback ports,
invokes the Lambda handler with ``events/scheduled.json`` three times — first run, unchanged fleet,
fleet with some images fixed — and prints each run's summary and the chat message the sink received.
Everything runs in this process and stops with it: nothing is left behind but the state and reports
under ``.imagewatch/demo/`` (git-ignored, cleared at the next demo).
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import sys
from pathlib import Path

# The demo shows summaries and chat messages; the handler's JSON logs and EMF metrics (what CloudWatch
# would get) stay quiet here. Set before the handler module creates its logger.
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")

from imagewatch.alerts.channels.slack import to_text
from imagewatch.emulator.auth import DEMO_AK, DEMO_SK
from imagewatch.emulator.entries import identity_of
from imagewatch.emulator.fleet import Fleet
from imagewatch.emulator.server import Emulator
from imagewatch.handler import lambda_handler
from imagewatch.local_context import LocalContext
from imagewatch.standins.webhook_sink import WebhookSink
from imagewatch.terminal import safe_output

FLEET_SIZE = 400
SEED = 7
ROOT = Path(__file__).resolve().parents[3]


def _summary_line(summary: dict) -> str:
    violations = summary["violations"]
    sent = summary["notifications"]
    return (  # distinct records and images: a record two queries read is one (issue 14)
        f"records read {summary['records_read']} ({summary['images']} images) · "
        f"violations {violations['total']} {json.dumps(violations['by_severity'])} · "
        f"new {summary['new']} · resolved {summary['resolved']} · "
        f"still open {summary['still_open']} · messages sent {sent['sent']}, failed {sent['failed']}"
    )


def _run(title: str, event: dict, sink: WebhookSink) -> dict:
    before = len(sink.received)
    print(f"\n### {title}")
    summary = lambda_handler(event, LocalContext())
    print(_summary_line(summary))
    for problem in summary["problems"] + summary["errors"]:
        print(f"  ! {problem}")
    arrived = sink.wait_for(before + summary["notifications"]["sent"], timeout=5)[before:]
    if not arrived:
        print("chat: nothing sent (nothing new or resolved)")
    for message in arrived:
        print("chat message received by the sink:\n")
        print("    " + to_text(message.json()).replace("\n", "\n    "))
    report = summary.get("report", {})
    print(f"report: {report.get('json')}\n  the page to open: {report.get('html')}")
    return summary


def main() -> int:
    """The demo, its output without terminal control characters (it prints what the sink received)."""
    with safe_output():
        return _main()


def _main() -> int:
    event = json.loads((ROOT / "events" / "scheduled.json").read_text())
    work = Path(os.environ.get("IMAGEWATCH_DEMO_DIR") or ROOT / ".imagewatch" / "demo")  # fresh each time
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    fleet = Fleet.synthetic(FLEET_SIZE, seed=SEED)
    with Emulator(fleet) as emulator, WebhookSink("slack") as sink:
        os.environ.update(
            {
                "HSS_ENDPOINT": emulator.url,
                "HSS_PROJECT_ID": emulator.project_id,
                "HSS_ENTERPRISE_PROJECT_ID": "all_granted_eps",  # every enterprise project, not just "0"
                "HSS_AK": DEMO_AK,
                "HSS_SK": DEMO_SK,
                "WEBHOOK_URL": sink.url,
                "WEBHOOK_PLATFORM": "slack",
                "POLICY_PATH": str(ROOT / "policies"),
                "STATE_PATH": f"{work}/state.sqlite3",
                "REPORT_DIR": f"{work}/reports",
            }
        )
        print(f"HSS emulator: {emulator.url} ({FLEET_SIZE} synthetic images, seed {SEED})")
        print(f"webhook sink: {sink.url} (answers like Slack)")
        print(f"policies: {ROOT / 'policies'}")
        first = _run("Run 1: first look at the fleet", event, sink)
        _run("Run 2: same fleet — nothing is re-alerted", event, sink)
        fixed = _some_violating_images(first["report"]["jsonl"], 3)
        records = [identity_of(r) for r in fleet.listing() if r.get("image_id") in fixed]
        fleet.delete(records)
        print(f"\n(removing {len(fixed)} violating images, {len(records)} records, from the emulator's fleet,"
              " as if fixed)")  # fmt: skip
        _run("Run 3: three images fixed — their violations resolve", event, sink)
    print("\nDemo finished; emulator and sink stopped.")
    return 0


def _some_violating_images(violations_file: str, count: int) -> set[str]:
    """The ids of the first ``count`` images the run's report names as violating (image subjects)."""
    chosen: set[str] = set()
    with gzip.open(violations_file, "rt", encoding="utf-8") as lines:
        for line in lines:
            row = json.loads(line)
            if row.get("kind") == "image" and len(chosen) < count:
                chosen.add(row["subject"])
    return chosen


if __name__ == "__main__":
    sys.exit(main())
