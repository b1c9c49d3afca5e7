"""``imagewatch history`` as a subprocess: on a history seeded through the real store (times relative
to now, so the figures are exact whatever the day), after real ``imagewatch run``s against the
emulator, and with bad flags, no ledger yet, or a ledger that cannot be read."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from imagewatch.alerts.sqlite_store import SqliteStore
from imagewatch.emulator import Emulator, Fleet
from imagewatch.emulator.auth import DEMO_AK, DEMO_SK
from imagewatch.history import RunRecord
from imagewatch.settings import Settings
from imagewatch.standins.webhook_sink import WebhookSink
from support.cli import run_imagewatch
from support.known_fleet import E2E_POLICIES, EXPECTED, FIXTURE_PACK, ROOT, known_fleet

PACKAGE_ROOT = ROOT / "functions" / "checker"
HOUR, DAY = 3_600_000, 86_400_000


def imagewatch(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = run_imagewatch(*args, env=env)
    assert DEMO_SK not in done.stdout + done.stderr
    return done


def environment(folder: Path, endpoint: str = "http://127.0.0.1:9", project: str = "p1") -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", str(folder)),
        "PYTHONPATH": os.pathsep.join([str(PACKAGE_ROOT), os.environ.get("PYTHONPATH", "")]),
        "PYTHONIOENCODING": "utf-8",
        "HSS_ENDPOINT": endpoint,
        "HSS_PROJECT_ID": project,
        "HSS_AK": DEMO_AK,
        "HSS_SK": DEMO_SK,
        "STATE_PATH": str(folder / "state.sqlite3"),
        "REPORT_DIR": str(folder / "reports"),
        "POWERTOOLS_METRICS_DISABLED": "true",
    }


def target_of(env: dict[str, str]) -> str:
    return Settings.from_env(env).target


@pytest.fixture
def seeded(tmp_path: Path) -> tuple[dict[str, str], int]:
    """Hourly runs over the last 40 days; three criticals fixed 2, 20 and 35 days ago (1, 4 and 9
    days to fix; the 9-day one late), one high fixed 3 days ago (10 days, in time); the last two runs
    incomplete. Runs fall on the half hour, so a window the CLI ends a moment later holds the same
    runs."""
    env = environment(tmp_path)
    target = target_of(env)
    now = int(time.time() * 1000)
    fixes = {now - 2 * DAY: {"critical": [1, DAY, 1], "high": [1, 10 * DAY, 1]}} | {
        now - 20 * DAY: {"critical": [1, 4 * DAY, 1]},
        now - 35 * DAY: {"critical": [1, 9 * DAY, 0]},
    }
    store = SqliteStore(env["STATE_PATH"])
    for hours_ago in range(40 * 24, 0, -1):
        at = now - hours_ago * HOUR + HOUR // 2
        # the fixes land on a run: move each to the nearest run at or before it
        fixed = {k: v for when, v in fixes.items() for k, v in v.items() if at <= when < at + HOUR}
        store.append_history(
            RunRecord(
                at=at,
                target=target,
                status="ok" if hours_ago > 2 else "partial",
                open_by_severity={"critical": 2, "high": 5},
                new=1 if hours_ago % 24 == 0 else 0,
                resolved=sum(v[0] for v in fixed.values()),
                overdue=1,
                complete=hours_ago > 2,
                fixed=fixed,
            )
        )
    store.append_history(RunRecord(at=now - 3 * HOUR, target="another/target/0", status="ok", new=99))
    store.close()
    return env, now


def test_json_has_the_trend_mttr_sla_compliance_and_the_last_complete_read(
    seeded: tuple[dict[str, str], int],
) -> None:
    env, now = seeded
    done = imagewatch("history", "--since", "7d", env=env)  # JSON: stdout is not a terminal
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert shown["target"] == target_of(env) and shown["per"] == "day"
    assert shown["runs"] == 7 * 24
    assert all(row["open_by_severity"] == {"critical": 2, "high": 5} for row in shown["trend"])
    assert sum(row["new"] for row in shown["trend"]) == 7
    assert shown["mttr_ms"]["7d"] == {
        "critical": DAY,
        "high": 10 * DAY,
        "medium": None,
        "low": None,
        "info": None,
    }
    assert shown["mttr_ms"]["30d"]["critical"] == 2.5 * DAY  # 1 d and 4 d
    assert shown["mttr_ms"]["90d"]["critical"] == 14 * DAY / 3  # and the late 9 d
    assert shown["sla_compliance"]["90d"]["critical"] == pytest.approx(2 / 3)
    assert shown["sla_compliance"]["7d"]["high"] == 1.0
    assert shown["resolved"]["90d"] == {"critical": 3, "high": 1}
    last = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime((now - 3 * HOUR + HOUR // 2) / 1000))
    assert shown["last_complete_read"] == last


def test_per_run_csv_and_the_table(seeded: tuple[dict[str, str], int]) -> None:
    env, _ = seeded
    done = imagewatch("history", "--since", "12h", "--per", "run", "--format", "csv", env=env)
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert len(rows) == 12
    assert list(rows[0])[:6] == ["period", "runs", "complete_runs", "status", "critical", "high"]
    assert rows[-1]["status"] == "partial" and rows[-1]["critical"] == "2" and rows[-1]["overdue"] == "1"
    table = imagewatch("history", "--format", "table", env=env)
    assert table.returncode == 0
    assert "PERIOD" in table.stdout and "MTTR 7d" in table.stdout and "in SLA 90d" in table.stdout
    critical = next(line for line in table.stdout.splitlines() if line.startswith("critical "))
    assert "1.0 d" in critical and "67% of 3" in critical
    assert "last complete read: " in table.stdout


def test_bad_flags_are_configuration_errors_that_say_what_was_expected(tmp_path: Path) -> None:
    env = environment(tmp_path)
    done = imagewatch("history", "--since", "30x", env=env)
    assert done.returncode == 2 and "--since" in done.stderr and "h, d or w" in done.stderr
    done = imagewatch("history", "--since", "2000d", env=env)
    assert done.returncode == 2 and "at most 400d" in done.stderr
    done = imagewatch("history", "--format", "jsn", env=env)
    assert done.returncode == 2 and "did you mean 'json'" in done.stderr
    done = imagewatch("history", "--per", "dya", env=env)
    assert done.returncode == 2 and "did you mean 'day'" in done.stderr


def test_no_ledger_yet_is_an_empty_history(tmp_path: Path) -> None:
    done = imagewatch("history", env=environment(tmp_path))
    assert done.returncode == 0 and "no ledger at" in done.stderr
    shown = json.loads(done.stdout)
    assert shown["trend"] == [] and shown["last_complete_read"] is None
    assert shown["mttr_ms"]["30d"]["critical"] is None


def test_an_unreadable_ledger_exits_5(tmp_path: Path) -> None:
    env = environment(tmp_path)
    Path(env["STATE_PATH"]).write_bytes(b"this is not a database" * 100)
    done = imagewatch("history", env=env)
    assert done.returncode == 5, done.stderr
    assert "state store" in done.stderr and str(tmp_path) in done.stderr


def test_after_real_runs_the_history_counts_them(tmp_path: Path) -> None:
    """Two ``imagewatch run``s against the emulator's known fleet; a dry run adds nothing."""
    policies = tmp_path / "policies"
    policies.mkdir()
    for name in E2E_POLICIES:
        shutil.copy(FIXTURE_PACK / f"{name}.json", policies)
    fleet = Fleet.from_records(known_fleet(int(time.time() * 1000)))
    with Emulator(fleet) as emulator, WebhookSink("generic") as sink:
        env = environment(tmp_path, emulator.url, emulator.project_id)
        env |= {"POLICY_PATH": str(policies), "WEBHOOK_URL": sink.url}
        for args in (["run"], ["run", "--dry-run"], ["run"]):
            ran = imagewatch(*args, "--format", "json", env=env)
            assert ran.returncode == 0, ran.stderr[-2000:]
    done = imagewatch("history", "--per", "run", env=env)
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    first, second = shown["trend"]
    assert (first["new"], second["new"]) == (len(EXPECTED), 0)
    assert first["open"] == second["open"] == len(EXPECTED)
    assert first["complete_runs"] == second["complete_runs"] == 1
    assert shown["last_complete_read"] == second["period"]
