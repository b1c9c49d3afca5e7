"""The exit-code contract, run by the real ``imagewatch`` command against the emulator and a webhook sink.

0 ok · 1 violations at or above ``--fail-on`` · 2 configuration · 3 HSS read failed or incomplete ·
4 a channel failed to deliver · 5 the ledger or report store failed. A run that could not do its job
never exits 0 (issue 14, point 1), whatever the command: ``run``, ``invoke`` or ``preview``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from imagewatch.emulator import Emulator
from imagewatch.standins.webhook_sink import WebhookSink
from support.cli import run_imagewatch
from support.known_fleet import EXPECTED, ROOT

pytestmark = pytest.mark.slow
SCHEDULED = str(ROOT / "events" / "scheduled.json")
TEST_NOTIFICATION = str(ROOT / "events" / "test-notification.json")


def imagewatch(*args: str) -> subprocess.CompletedProcess[str]:
    """The command as a script runs it: stdout and stderr are pipes (so the output is JSON)."""
    return run_imagewatch(*args)


def test_a_run_that_did_its_job_exits_0_with_the_json_document(env: dict, sink: WebhookSink) -> None:
    done = imagewatch("run")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["status"] == "ok" and summary["new"] == len(EXPECTED)
    assert done.stderr == ""  # no logs, no progress: stderr is not a terminal


def test_fail_on_is_a_ci_gate_on_severity(env: dict, sink: WebhookSink) -> None:
    """The known fleet has 2 critical, 3 high and 3 medium violations."""
    gated = imagewatch("run", "--fail-on", "high")
    assert gated.returncode == 1, gated.stderr
    assert gated.stderr.strip() == (
        "imagewatch run: exit 1, violations at or above --fail-on SEVERITY: 5 violation(s) at or above high"
    )
    below = imagewatch("run", "--policy", "high-severity", "--fail-on", "critical")  # only high ones
    assert below.returncode == 0, below.stderr
    assert imagewatch("invoke", SCHEDULED, "--fail-on", "medium").returncode == 1


@pytest.mark.parametrize("command", [("run",), ("invoke", SCHEDULED), ("preview", "--platform", "slack")])
def test_hss_refusing_the_credentials_exits_3(
    env: dict, sink: WebhookSink, monkeypatch: pytest.MonkeyPatch, command: tuple[str, ...]
) -> None:
    """A 401 is final (never retried): every listing fails, the run cannot judge the fleet."""
    monkeypatch.setenv("HSS_SK", "not-the-secret")
    done = imagewatch(*command)
    assert done.returncode == 3, done.stderr
    assert f"imagewatch {command[0]}: exit 3, HSS read failed or incomplete" in done.stderr
    assert sink.attempts == 0


def test_preview_does_not_hide_a_failed_read(env: dict, sink: WebhookSink, hss: Emulator) -> None:
    """Issue 14, point 2: it printed "nothing would be sent now" and exited 0."""
    hss.faults.error(500, times=None, message="backend down")
    done = imagewatch("preview", "--platform", "slack")
    assert done.returncode == 3
    assert "nothing would be sent" not in done.stdout and done.stdout == ""
    assert "exit 3, HSS read failed or incomplete: no inventory could be read" in done.stderr
    assert "HTTP 500" in done.stderr and "backend down" in done.stderr  # the problems, not only the code


def test_an_incomplete_read_exits_3_though_the_rest_was_judged(
    env: dict, sink: WebhookSink, hss: Emulator
) -> None:
    hss.faults.corrupt(offset=0, field="vul_num", value="many", times=None)
    done = imagewatch("run")
    summary = json.loads(done.stdout)
    assert done.returncode == 3 and summary["status"] in ("partial", "failed")
    assert "listings incomplete" in done.stderr or "no inventory" in done.stderr


@pytest.mark.parametrize("command", [("run",), ("invoke", SCHEDULED)])
def test_a_channel_that_refuses_the_digest_exits_4(
    env: dict, sink: WebhookSink, command: tuple[str, ...]
) -> None:
    sink.fail_next(1, 400, b"rejected")  # a 400 is final: one attempt
    done = imagewatch(*command)
    assert done.returncode == 4, done.stderr
    assert json.loads(done.stdout)["notifications"]["failed"] == 1
    assert "exit 4, a channel failed to deliver: 1 channel(s) failed to deliver" in done.stderr


def test_a_failed_test_notification_exits_4_and_a_missing_channel_2(
    env: dict, sink: WebhookSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert imagewatch("invoke", TEST_NOTIFICATION).returncode == 0
    sink.fail_next(1, 400, b"rejected")
    assert imagewatch("invoke", TEST_NOTIFICATION).returncode == 4
    monkeypatch.delenv("WEBHOOK_URL")
    nowhere = imagewatch("invoke", TEST_NOTIFICATION)
    assert nowhere.returncode == 2 and "no channel configured" in nowhere.stderr


def test_a_ledger_that_cannot_be_opened_exits_5(
    env: dict, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("STATE_PATH", str(tmp_path / "a-file" / "state.sqlite3"))
    done = imagewatch("run")
    assert done.returncode == 5, done.stderr
    assert "state store" in done.stderr and "(exit 5: the ledger or report store failed)" in done.stderr


def test_a_report_folder_that_cannot_be_written_exits_5(
    env: dict, sink: WebhookSink, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("REPORT_DIR", str(tmp_path / "a-file" / "reports"))
    done = imagewatch("run")
    assert done.returncode == 5, done.stderr
    assert "a-file" in done.stderr and "exit 5" in done.stderr


def test_a_run_skipped_because_another_holds_the_lease_exits_6(env: dict, sink: WebhookSink) -> None:
    from imagewatch.alerts.sqlite_store import SqliteStore
    from imagewatch.settings import Settings

    target = Settings.from_env(os.environ).target
    store = SqliteStore(Path(env["STATE_PATH"]))
    store.acquire(target, "another-run", int(time.time() * 1000), 600_000)
    store.close()
    done = imagewatch("run")
    assert done.returncode == 6, done.stderr
    assert json.loads(done.stdout)["status"] == "skipped" and "another-run" in done.stderr
    assert sink.attempts == 0


def test_configuration_errors_exit_2(env: dict, monkeypatch: pytest.MonkeyPatch, policy_dir: Path) -> None:
    unknown = imagewatch("run", "--policy", "no-such-policy")
    assert unknown.returncode == 2 and "'no-such-policy' requested but not loaded" in unknown.stderr
    (policy_dir / "broken.json").write_text('{"id": "broken", "title": "B", "severity": "urgent"}')
    broken = imagewatch("run", "--dry-run")
    assert broken.returncode == 2 and "policy file error" in broken.stderr
    monkeypatch.delenv("HSS_PROJECT_ID")
    unset = imagewatch("run")
    assert unset.returncode == 2 and "HSS_PROJECT_ID" in unset.stderr and unset.stdout == ""


def test_preview_flag_errors_name_the_flag_the_choices_and_a_hint(env: dict, sink: WebhookSink) -> None:
    platform = imagewatch("preview", "--platform", "slak")
    assert platform.returncode == 2
    assert "argument --platform: got 'slak', expected one of: dingtalk, discord, feishu" in platform.stderr
    assert "(did you mean 'slack'?)" in platform.stderr
    channel = imagewatch("preview", "--channel", "defualt")
    assert channel.returncode == 2
    assert channel.stderr.strip() == (
        "imagewatch preview: --channel: got 'defualt', expected one of: default (did you mean 'default'?)"
    )
    assert sink.attempts == 0


@pytest.mark.parametrize(("signal_number", "code"), [(15, 143), (2, 130)])  # SIGTERM, SIGINT (Ctrl-C)
def test_a_stopped_run_cleans_up_releases_its_lease_and_prints_no_traceback(
    env: dict, sink: WebhookSink, hss: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    signal_number: int, code: int,
) -> None:  # fmt: skip
    """The hostile review: a SIGTERM (a cancelled CI job, ``timeout``) left the run's workspace file in
    the temp folder and the target's lease held for 20 minutes, so the next run exited 6."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    hss.faults.latency_ms = 1_000  # every page a second: the run is still reading when it is stopped
    # as from a terminal: a suite started in the background (`make test &`) ignores SIGINT, and a child
    # inherits that (POSIX), so the run would rightly carry on and exit 0. A handler of this process's
    # own is reset to the default action by exec: the child gets SIGINT's default, whatever ours was.
    ignored = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "imagewatch.cli", "run"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
        )  # fmt: skip
    finally:
        signal.signal(signal.SIGINT, ignored)
    # the run is reading (its workspace and ledger copy are open, never visible): a page is in flight
    hss.wait_for(lambda stats: stats.by_route.get("list", 0) >= 1 and stats.in_flight >= 1, timeout=60)
    assert process.poll() is None, "the run ended before it could be stopped"
    process.send_signal(signal_number)
    _, err = process.communicate(timeout=60)
    assert process.returncode == code, err
    assert "Traceback" not in err
    assert list(scratch.iterdir()) == []  # the workspace and any spill file went with the run
    hss.faults.latency_ms = 0
    assert imagewatch("run").returncode == 0  # the lease was released: not 6
