"""What importing the Lambda handler loads: only what a run needs (issue 7's cold start).

A fresh interpreter imports ``app`` as Lambda does and reports what it loaded. Times are measured by
``make bench``, not here; these tests hold the structure that keeps them low.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

CHECKER = Path(__file__).resolve().parents[2] / "functions" / "checker"

PROBE = """
import dataclasses, json, sys
sys.path.insert(0, sys.argv[1])
import app
ours = [m for name, m in sorted(sys.modules.items()) if name == "app" or name.startswith("imagewatch")]
classes = [v for m in ours for v in vars(m).values() if isinstance(v, type) and v.__module__ == m.__name__]
print(json.dumps({
    "modules": sorted(sys.modules),
    "dataclasses": [f"{c.__module__}.{c.__qualname__}" for c in classes if dataclasses.is_dataclass(c)],
    "records": len([c for c in classes if hasattr(c, "__struct_fields__")]),
}))
"""

# Each is needed only off a scheduled run's path: local tools, other ports' adapters, rare errors.
# (sqlite3 is not among them: every run merges its findings in a SQLite workspace, imagewatch.workspace.)
NOT_AT_COLD_START = {
    "imagewatch.emulator": "the HSS emulator (tests, demo, CLI)",
    "imagewatch.standins": "the chat stand-ins",
    "imagewatch.cli": "the command line",
    "imagewatch.demo": "make demo",
    "imagewatch.local_context": "imagewatch invoke's Lambda-like context",
    "imagewatch.policy.examples": "the `imagewatch test` runner",
    "imagewatch.policy.validate": "the `imagewatch validate` runner",
    "imagewatch.alerts.sqlite_store": "the local ledger (STATE_TABLE unset)",
    "imagewatch.alerts.dynamodb_store": "the DynamoDB ledger, loaded when STATE_TABLE is set",
    "imagewatch.report.s3_sink": "S3 reports, loaded when REPORT_BUCKET is set",
    "boto3": "AWS clients, created only for the ports whose settings are present",
    "difflib": "did-you-mean hints for a broken policy",
    "re2": "the regex engine, loaded when a policy uses the regex operator",
    "imagewatch.report.html_report": "the HTML report, loaded when a run writes its reports",
    "jinja2": "the HTML report's templates, loaded when the page is written",
    "markupsafe": "Jinja2's escaper, with it",
}


def _probe() -> dict:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(CHECKER)], capture_output=True, text=True, check=True, timeout=60
    )
    return json.loads(done.stdout)


def test_importing_the_handler_loads_nothing_a_run_does_not_need() -> None:
    loaded = set(_probe()["modules"])
    found = {name: why for name, why in NOT_AT_COLD_START.items() if name in loaded}
    assert not found, f"imported at cold start but not needed by a run: {found}"
    assert {"imagewatch.run", "imagewatch.hss.client", "imagewatch.alerts.delivery"} <= loaded  # probe works


def test_records_on_the_cold_start_path_are_structs_not_dataclasses() -> None:
    """A dataclass generates and compiles its methods at import (~0.5 ms each, frozen); a Struct is
    built in C. One dataclass back on this path costs more than ten Structs."""
    probe = _probe()
    assert probe["dataclasses"] == []
    assert probe["records"] >= 30  # the probe sees the package's records
