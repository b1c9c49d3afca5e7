"""``imagewatch violations`` after a real ``imagewatch run``: subprocesses against the emulator's known
fleet, with two channels on a webhook stand-in — ``ops`` hears everything, ``sec`` only critical."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from imagewatch.emulator import Emulator, Fleet
from imagewatch.emulator.auth import DEMO_AK, DEMO_SK
from imagewatch.standins.webhook_sink import WebhookSink
from imagewatch.violation import SEVERITY_ORDER
from support.cli import run_imagewatch
from support.known_fleet import E2E_POLICIES, EXPECTED, FIXTURE_PACK, ROOT, known_fleet

PACKAGE_ROOT = ROOT / "functions" / "checker"
CRITICAL = {("malicious-files", "b"), ("malicious-files", "g")}  # the shipped policy is critical
HIGH = {("high-severity", "a"), ("high-severity", "g"), ("high-severity", "h")}


def imagewatch(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = run_imagewatch(*args, env=env)
    shown = done.stdout + done.stderr
    assert DEMO_SK not in shown and env["WEBHOOK_OPS_URL"] not in shown and "st4nd-in-t0ken" not in shown
    return done


class Setup:
    """A fleet on the emulator, a sink, a channels file, the environment, and one run done."""

    def __init__(self, folder: Path, emulator: Emulator, sink: WebhookSink) -> None:
        policies = folder / "policies"
        policies.mkdir()
        for name in E2E_POLICIES:
            shutil.copy(FIXTURE_PACK / f"{name}.json", policies)
        channels = folder / "channels.json"
        channels.write_text(
            json.dumps(
                {
                    "channels": [
                        {"name": "ops", "url": "${WEBHOOK_OPS_URL}"},
                        {"name": "sec", "url": "${WEBHOOK_OPS_URL}", "min_severity": "critical"},
                    ]
                }
            )
        )
        self.emulator = emulator
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": os.environ.get("HOME", str(folder)),
            "PYTHONPATH": os.pathsep.join([str(PACKAGE_ROOT), os.environ.get("PYTHONPATH", "")]),
            "PYTHONIOENCODING": "utf-8",
            "HSS_ENDPOINT": emulator.url,
            "HSS_PROJECT_ID": emulator.project_id,
            "HSS_AK": DEMO_AK,
            "HSS_SK": DEMO_SK,
            "CHANNELS_FILE": str(channels),
            "WEBHOOK_OPS_URL": sink.url,
            "POLICY_PATH": str(policies),
            "STATE_PATH": str(folder / "state.sqlite3"),
            "REPORT_DIR": str(folder / "reports"),
            "POWERTOOLS_METRICS_DISABLED": "true",
        }

    def run(self) -> None:
        done = imagewatch("run", "--format", "json", env=self.env)
        if "unrecognized arguments: --format" in done.stderr:  # before `run --format` exists
            done = imagewatch("run", env=self.env)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    """One real run over the known fleet; the tests below only read the ledger it left."""
    fleet = Fleet.from_records(known_fleet(int(time.time() * 1000)))
    with Emulator(fleet) as emulator, WebhookSink("generic") as sink:
        setup = Setup(tmp_path_factory.mktemp("violations"), emulator, sink)
        setup.run()
        assert len(sink.received) == 2  # ops: everything; sec: the critical ones
        yield setup


def listed(ran: Setup, *args: str) -> list[dict]:
    done = imagewatch("violations", *args, env=ran.env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # JSON when stdout is not a terminal


def pairs(rows: list[dict]) -> set[tuple[str, str]]:
    return {(row["policy_id"], row["subject"]) for row in rows}


def test_every_open_violation_worst_and_oldest_first_with_each_channels_last_notice(ran: Setup) -> None:
    rows = listed(ran)
    assert pairs(rows) == EXPECTED and len(rows) == len(EXPECTED)
    order = [(SEVERITY_ORDER[row["severity"]], row["first_seen"]) for row in rows]
    assert order == sorted(order)
    assert [row["severity"] for row in rows][:2] == ["critical", "critical"]
    for row in rows:
        assert set(row["notified"]) == {"ops", "sec"}
        assert row["notified"]["ops"] is not None and row["notified"]["ops"].endswith("Z")
        critical = (row["policy_id"], row["subject"]) in CRITICAL
        assert row["notified"]["sec"] == (row["notified"]["ops"] if critical else "not routed")
        assert row["age_s"] >= 0 and row["label"].startswith(f"shop/{row['subject']}:1.0 on 1 host")


def test_filters_severity_at_or_above_policy_globs_and_label_text(ran: Setup) -> None:
    assert pairs(listed(ran, "--severity", "high")) == CRITICAL | HIGH
    assert pairs(listed(ran, "--severity", "CRITICAL")) == CRITICAL
    assert pairs(listed(ran, "--policy", "scan-*")) == {p for p in EXPECTED if p[0] == "scan-freshness"}
    both = listed(ran, "--policy", "malicious-files", "--policy", "high-severity")
    assert pairs(both) == CRITICAL | HIGH
    assert pairs(listed(ran, "--label", "SHOP/G:")) == {("high-severity", "g"), ("malicious-files", "g")}
    assert listed(ran, "--label", "no-such-image", "--severity", "info") == []


def test_csv_has_a_column_per_channel(ran: Setup) -> None:
    done = imagewatch("violations", "--format", "csv", env=ran.env)
    assert done.returncode == 0
    reader = csv.DictReader(io.StringIO(done.stdout))
    rows = list(reader)
    assert reader.fieldnames is not None and reader.fieldnames[:3] == ["severity", "policy_id", "label"]
    assert reader.fieldnames[-2:] == ["notified:ops", "notified:sec"]
    assert {(row["policy_id"], row["subject"]) for row in rows} == EXPECTED
    assert {row["notified:sec"] for row in rows if row["severity"] != "critical"} == {"not routed"}
    assert all(row["notified:ops"].endswith("Z") for row in rows)


def test_the_table_has_the_columns_a_person_reads(ran: Setup) -> None:
    done = imagewatch("violations", "--format", "table", "--severity", "high", env=ran.env)
    lines = done.stdout.splitlines()
    assert lines[0].split() == [
        *("SEVERITY", "POLICY", "FIRST", "SEEN", "AGE", "DUE", "NOTIFIED:ops", "NOTIFIED:sec", "LABEL")
    ]
    assert [line.split()[0] for line in lines[1:-1]] == ["critical"] * 2 + ["high"] * 3
    assert all(" ago " in line and "shop/" in line for line in lines[1:-1])
    assert (
        lines[-1]
        == f"5 open violations (2 critical, 3 high) for target 127.0.0.1:{ran.emulator.port}/demo-project/0"
    )


def test_at_a_terminal_the_default_is_the_table(ran: Setup) -> None:
    from support.terminal_session import at_terminal

    session = at_terminal([sys.executable, "-m", "imagewatch.cli", "violations"], env=ran.env)
    shown = session.stdout.decode()
    assert session.returncode == 0 and shown.startswith("SEVERITY  POLICY")
    assert "8 open violations (2 critical, 3 high, 3 medium)" in shown


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--severity", "hihg"),
            "argument --severity: got 'hihg', expected one of: critical, high, info, low, medium "
            "(did you mean 'high'?)",
        ),
        (
            ("--format", "jsno"),
            "argument --format: got 'jsno', expected one of: csv, json, table (did you mean 'json'?)",
        ),
        (("--policy", "scan-fresh"), "--policy: got 'scan-fresh', which is no policy id in the ledger or in"),
    ],
)
def test_bad_flag_values_exit_2_with_the_choices(ran: Setup, args: tuple[str, ...], message: str) -> None:
    done = imagewatch("violations", *args, env=ran.env)
    assert done.returncode == 2 and message in done.stderr and done.stdout == ""
    if args[0] == "--policy":
        assert done.stderr.rstrip().endswith("(did you mean 'scan-freshness'?)")


def test_a_fixed_image_leaves_the_list(tmp_path: Path) -> None:
    fleet = Fleet.from_records(known_fleet(int(time.time() * 1000)))
    with Emulator(fleet) as emulator, WebhookSink("generic") as sink:
        setup = Setup(tmp_path, emulator, sink)
        setup.run()
        assert fleet.delete(["b@h1"]) == 1  # its malicious files are gone
        setup.run()
        rows = listed(setup)
    assert pairs(rows) == EXPECTED - {("malicious-files", "b")}


def test_no_ledger_yet_is_an_empty_list_and_creates_nothing(tmp_path: Path) -> None:
    with Emulator(Fleet.from_records([])) as emulator, WebhookSink("generic") as sink:
        setup = Setup(tmp_path, emulator, sink)
        done = imagewatch("violations", env=setup.env)
    assert done.returncode == 0 and json.loads(done.stdout) == []
    assert "no ledger at" in done.stderr and not (tmp_path / "state.sqlite3").exists()


def test_an_unreadable_ledger_exits_5(tmp_path: Path) -> None:
    with Emulator(Fleet.from_records([])) as emulator, WebhookSink("generic") as sink:
        setup = Setup(tmp_path, emulator, sink)
        Path(setup.env["STATE_PATH"]).write_bytes(b"this is not a database, just bytes " * 100)
        done = imagewatch("violations", env=setup.env)
    assert done.returncode == 5 and done.stderr.startswith("imagewatch violations: state store ")


@pytest.mark.parametrize(
    ("column", "value", "said"),
    [
        ("first_seen", 99_999_999_999_999_999, "first_seen is 99999999999999999"),
        ("severity", None, "severity is None"),
    ],
)
def test_a_broken_row_exits_5_and_prints_no_half_document(
    tmp_path: Path, column: str, value: object, said: str
) -> None:
    """A row no run writes (a time past the year 9999, a NULL text) is the store's error, not a crash
    halfway through a JSON array (the hostile review's finding)."""
    import sqlite3

    fleet = Fleet.from_records(known_fleet(int(time.time() * 1000)))
    with Emulator(fleet) as emulator, WebhookSink("generic") as sink:
        setup = Setup(tmp_path, emulator, sink)
        setup.run()
        with sqlite3.connect(setup.env["STATE_PATH"]) as db:
            db.execute(
                f"UPDATE ledger SET {column} = ? WHERE rowid = (SELECT MIN(rowid) FROM ledger)", (value,)
            )
        done = imagewatch("violations", "--format", "json", env=setup.env)
    assert done.returncode == 5, done.stderr
    assert done.stdout == "" and said in done.stderr


def test_a_dynamodb_ledger_lists_the_same(tmp_path: Path, moto_server: object) -> None:
    from support.moto_support import REGION, create_ledger_table

    table = create_ledger_table(moto_server.client("dynamodb"))  # type: ignore[attr-defined]
    fleet = Fleet.from_records(known_fleet(int(time.time() * 1000)))
    with Emulator(fleet) as emulator, WebhookSink("generic") as sink:
        setup = Setup(tmp_path, emulator, sink)
        setup.env.update(
            {
                "STATE_TABLE": table,
                "AWS_ENDPOINT_URL": moto_server.url,  # type: ignore[attr-defined]
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": REGION,
            }
        )
        setup.run()
        rows = listed(setup, "--severity", "critical")
    assert pairs(rows) == CRITICAL and all(row["notified"]["sec"] for row in rows)
    assert not (tmp_path / "state.sqlite3").exists()
