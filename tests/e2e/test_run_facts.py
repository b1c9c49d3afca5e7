"""``imagewatch run`` says numbers that add up and warns about what it silently did not do (issue 14,
points 6 and 7), through the real command line against the emulator.

The fleet is small and known by hand: image A on three hosts, image B on one, image C on two (six
records, three images), all in the default enterprise project, plus image D in another enterprise
project. Two queries read it (the high-severity policy selects ``scan_status=success``; the fleet rules
read everything), so the records read, summed over queries, are 5 + 6 = 11: ``images_evaluated``.
``records_read`` says 6 and ``images`` 3; with ``all_granted_eps``, 7 and 4.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from imagewatch.emulator import Emulator, Fleet
from imagewatch.emulator.auth import DEMO_AK, DEMO_SK
from imagewatch.standins.webhook_sink import WebhookSink
from support.known_fleet import FIXTURE_PACK, ROOT

pytestmark = pytest.mark.slow
PACKAGE_ROOT = ROOT / "functions" / "checker"
NOW_MS = 1_793_491_200_000  # 2026-11-01
FLEET_FAR = {"enterprise_project_id": "b83e0d57-2c41-4f9e-a6d2-71c5e8f3094b"}


def record(image: str, host: str, **fields: object) -> dict:
    return {
        "image_id": image,
        "image_name": f"shop/{image}",
        "image_version": "1.0",
        "host_id": host,
        "host_name": f"node-{host}",
        "scan_status": "success",
        "severity_level": "Security",
        "latest_scan_time": NOW_MS - 86_400_000,
        **fields,
    }


RECORDS = [
    *(record("a", host, severity_level="High", vul_num=12) for host in ("h1", "h2", "h3")),
    record("b", "h1", scan_status="unscan", severity_level="", latest_scan_time=0),
    *(record("c", host) for host in ("h2", "h3")),
    {**record("d", "h9", severity_level="High"), "_emulator": FLEET_FAR},
]
AT_MOST_HALF_HIGH = {
    "id": "at-most-half-high",
    "title": "At most half the images rated High",
    "severity": "medium",
    "fleet": {
        "ratio": {"where": {"field": "severity_level", "op": "gte", "value": "High"}},
        "op": "lte",
        "value": 0.5,
    },
    "message": "{percent} rated High; at most {threshold} may be",
}


@pytest.fixture
def hss() -> Iterator[Emulator]:
    with Emulator(Fleet.from_records(RECORDS)) as running:
        yield running


@pytest.fixture
def env(hss: Emulator, tmp_path: Path) -> dict[str, str]:
    pack = tmp_path / "policies"
    pack.mkdir()
    for name in ("high-severity", "fleet-scan-coverage"):
        shutil.copy(FIXTURE_PACK / f"{name}.json", pack)
    (pack / "at-most-half-high.json").write_text(json.dumps(AT_MOST_HALF_HIGH))
    return {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": os.pathsep.join([str(PACKAGE_ROOT), os.environ.get("PYTHONPATH", "")]),
        "HSS_ENDPOINT": hss.url,
        "HSS_PROJECT_ID": hss.project_id,
        "HSS_AK": DEMO_AK,
        "HSS_SK": DEMO_SK,
        "POLICY_PATH": str(pack),
        "STATE_PATH": str(tmp_path / "state.sqlite3"),
        "REPORT_DIR": str(tmp_path / "reports"),
        "POWERTOOLS_METRICS_DISABLED": "true",
    }


def run(env: dict[str, str], *args: str, code: int = 0) -> tuple[dict, str]:
    done = subprocess.run(
        [sys.executable, "-m", "imagewatch.cli", "run", "--format", "json", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == code, done.stderr
    return json.loads(done.stdout), done.stderr


def test_records_and_images_are_counted_once_however_many_queries_read_them(env: dict[str, str]) -> None:
    summary, _ = run(env, "--dry-run")
    assert sorted(q["images"] for q in summary["queries"]) == [5, 6]  # everything; scan_status=success
    assert summary["images_evaluated"] == 11  # the work done: summed over the queries, as before
    assert (summary["records_read"], summary["images"]) == (6, 3)

    everything, _ = run({**env, "HSS_ENTERPRISE_PROJECT_ID": "all_granted_eps"}, "--dry-run")
    assert (everything["images_evaluated"], everything["records_read"], everything["images"]) == (13, 7, 4)


def test_when_every_policy_selects_the_union_of_the_listings_is_counted(env: dict[str, str]) -> None:
    """No listing holds the others: high-severity reads scan_status=success (A×3, C×2), the second rule
    has_vul=true (A×3); 8 records read, 5 of them distinct, of 2 images."""
    pack = Path(env["POLICY_PATH"])
    (pack / "fleet-scan-coverage.json").unlink()
    (pack / "at-most-half-high.json").unlink()
    many = {
        "id": "many-vulns",
        "title": "Under 10 vulnerabilities",
        "severity": "low",
        "select": {"has_vul": True},
        "where": {"field": "vul_num", "op": "gte", "value": 10},
        "message": "{vul_num}",
    }
    (pack / "many-vulns.json").write_text(json.dumps(many))
    summary, _ = run(env, "--dry-run")
    assert sorted(q["images"] for q in summary["queries"]) == [3, 5]
    assert (summary["images_evaluated"], summary["records_read"], summary["images"]) == (8, 5, 2)
    assert summary["fleet_rules"] == []


def test_every_fleet_rule_is_reported_passing_or_not_with_its_threshold_in_percent(
    env: dict[str, str],
) -> None:
    summary, _ = run(env, "--dry-run")
    rules = {rule["policy_id"]: rule for rule in summary["fleet_rules"]}
    assert rules["at-most-half-high"] == {
        "policy_id": "at-most-half-high",
        "title": "At most half the images rated High",
        "severity": "medium",
        "passed": True,
        "value": 0.5,
        "threshold": 0.5,
        "numerator": 3,
        "denominator": 6,
        "text": "50.0% (3 of 6); must be at most 50%: passed",
    }
    coverage = rules["fleet-scan-coverage"]
    assert (coverage["passed"], coverage["numerator"], coverage["denominator"]) == (False, 1, 6)
    assert coverage["text"] == "16.7% (1 of 6); must be at most 5%: failed"
    assert summary["digests"] == []  # no channel: nothing to render (the warnings say so)


def test_silent_misconfiguration_is_warned_about_in_the_summary_and_the_log(env: dict[str, str]) -> None:
    summary, stderr = run({**env, "WEBHOOK_ULR": "https://hooks.slack.com/services/T1/B1/s3cr3t"})
    assert summary["status"] == "ok" and summary["notifications"]["sent"] == 0
    no_channel, enterprise = summary["warnings"]
    assert no_channel.startswith(
        "no channel configured: WEBHOOK_URL, CHANNELS_FILE and CHANNELS_JSON are unset"
    )
    assert no_channel.endswith("WEBHOOK_ULR is set but not read (did you mean 'WEBHOOK_URL'?)")
    assert enterprise.startswith(
        'HSS_ENTERPRISE_PROJECT_ID is unset, so only the default enterprise project ("0")'
    )
    logged = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    warned = [entry["message"] for entry in logged if entry.get("level") == "WARNING"]
    assert warned == [no_channel]  # the enterprise project is a standing note: in the summary only
    assert "s3cr3t" not in json.dumps(summary) + stderr


def test_a_slack_shaped_url_on_a_stand_in_is_sent_as_generic_and_said_so(env: dict[str, str]) -> None:
    with WebhookSink("slack") as slack:
        settings = {**env, "WEBHOOK_URL": slack.url, "HSS_ENTERPRISE_PROJECT_ID": "0"}
        summary, _ = run(settings, code=4)  # Slack refuses the generic body: exit 4, and the warning says why
        assert summary["notifications"]["channels"][0]["platform"] == "generic"
        assert summary["warnings"] == [
            "channel 'default': its URL has Slack's webhook path but not Slack's host, so it is sent as"
            " generic JSON; if it leads to Slack (a proxy, a stand-in), set WEBHOOK_PLATFORM=slack"
            " (or WEBHOOK_PLATFORM=generic if generic JSON is meant)"
        ]
        said, _ = run({**settings, "WEBHOOK_PLATFORM": "slack"})
        assert said["warnings"] == []
