"""A realistic HTML report and its screenshot for the docs: ``tests/support/report_screenshot.py``.

Eight daily runs of the shipped policies (from the fourth, one image is exempted until a date soon, so
the page shows an exemption) against the HSS emulator's synthetic fleet (2,000 records, seed 7), the
run's clock moved a day at a time: between runs a few images are fixed and a few new ones appear, so
the trend, the new and the resolved figures move. The last report is screenshotted in headless
Chromium (the top of the page, 1280 px wide) to ``docs/img/report.png``; its path is printed, to open
it in a browser. Needs ``/usr/bin/chromium`` (``make test`` installs it). Not a test: asserts nothing.

    .venv/bin/python tests/support/report_screenshot.py [--out docs/img/report.png] [--keep DIR]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "functions" / "checker"), str(ROOT / "tests")]
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")

from imagewatch.emulator import Emulator, Fleet  # noqa: E402 (after the path and the log level)
from support.html_reports import chromium, emulator_env, run_check  # noqa: E402

DAY = 86_400.0
RUNS = 8
FLEET, SEED = 2_000, 7
EVENT = {
    "source": "schedule",
    "scheduled_time": "2026-12-01T06:00:00Z",
    "target": {"name": "prod-cn-north-4"},
}


class Clock:
    """The real clock moved back by ``behind`` seconds: runs take the time they take."""

    def __init__(self, behind: float) -> None:
        self.behind = behind

    def __call__(self) -> float:
        return time.time() - self.behind


def exempt_one_image(policies: Path, report: dict, expires: str) -> None:
    """Give ``high-severity`` one more exemption, until ``expires``: for an image the run found."""
    with gzip.open(report["jsonl"], "rt", encoding="utf-8") as rows:
        name = next(
            row["fields"]["image_name"]
            for row in map(json.loads, rows)
            if row["policy_id"] == "high-severity"
        )
    path = policies / "high-severity.json"
    policy = json.loads(path.read_text())
    policy.setdefault("exempt", []).append(
        {
            "where": {"field": "image_name", "op": "eq", "value": name},
            "reason": "Vendor base image; the patched release is scheduled (CHG-20931)",
            "owner": "platform-team",
            "expires": expires,
        }
    )
    path.write_text(json.dumps(policy, indent=2))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "report.png")
    parser.add_argument("--keep", type=Path, help="write the runs' state and reports here (kept)")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="imagewatch-report-"))
    folder.mkdir(parents=True, exist_ok=True)
    now = time.time()
    clock = Clock(now - ((now // DAY) * DAY + 6 * 3600 - (RUNS - 1) * DAY))  # from 06:00 UTC, a week ago
    fleet = Fleet.synthetic(FLEET, seed=SEED)
    expires = time.strftime("%Y-%m-%d", time.gmtime(now + 9 * DAY))
    policies = folder / "policies"
    shutil.copytree(ROOT / "policies", policies)
    summary: dict = {}
    with Emulator(fleet) as hss:
        env = emulator_env(hss, folder, policies)
        for day in range(RUNS):
            if day:
                clock.behind -= DAY
                fleet.delete_front(25 + 5 * day)  # fixed: their violations resolve
                fleet.clone_front(12 if day % 3 else 40)  # new builds: new violations
            summary = run_check(env, clock, EVENT)
            if day == 2:  # from the fourth run on, one image is let pass (its alert stops its clock)
                exempt_one_image(policies, summary["report"], expires)
            print(
                f"run {day + 1}: {summary['status']}, {summary['violations']['total']} violations,"
                f" {summary['new']} new, {summary['resolved']} resolved"
            )
    page = Path(summary["report"]["html"])
    with chromium() as browser:
        tab = browser.new_page(viewport={"width": 1280, "height": 1480}, device_scale_factor=1)
        tab.goto(page.as_uri())
        tab.wait_for_selector("#rows-table[data-ready]")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        tab.screenshot(path=str(args.out))
    print(f"report: {page}\nscreenshot: {args.out}")
    if not args.keep:
        print(f"(the runs' files are in {folder}; delete it when done)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
