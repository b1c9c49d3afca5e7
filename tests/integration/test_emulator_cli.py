"""``python -m imagewatch.emulator``: prints its URL when ready, serves, stops cleanly on SIGTERM/SIGINT."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from imagewatch.emulator import Fleet
from imagewatch.hss.auth import AkSkAuth
from support.emulator_support import HTTP, NOW_MS, loopback_client

pytestmark = pytest.mark.slow
PACKAGE_ROOT = Path(__file__).resolve().parents[2] / "functions" / "checker"
TOKEN = {"X-Auth-Token": "demo-token"}


def _spawn(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PACKAGE_ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen(
        [sys.executable, "-m", "imagewatch.emulator", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _first_line(process: subprocess.Popen[str], timeout: float = 30) -> str:
    """The readiness line, waited for on the pipe (never by sleeping)."""
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            process.kill()
            pytest.fail(f"emulator printed no URL within {timeout} s")
    return process.stdout.readline().strip()


@contextmanager
def running(*args: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    process = _spawn(*args)
    try:
        url = _first_line(process)
        assert url.startswith("http://127.0.0.1:"), (
            url,
            process.stderr.read() if process.poll() is not None else "",
        )
        yield url, process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _stop(process: subprocess.Popen[str], sig: int = signal.SIGTERM) -> tuple[int, str]:
    process.send_signal(sig)
    _, stderr = process.communicate(timeout=30)
    return process.returncode, stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serves_the_seeded_fleet_and_stops_cleanly(sig):
    with running("--fleet-size", "200", "--seed", "5", "--now-ms", str(NOW_MS)) as (url, process):
        answer = HTTP.get(f"{url}/v5/demo-project/image/local-repositories", headers=TOKEN)
        assert answer.status_code == 200
        assert answer.json()["data_list"] == Fleet.synthetic(200, 5, now_ms=NOW_MS).page({}, 0, 10)[1]
        code, stderr = _stop(process, sig)
    assert code == 0
    assert "stopped after 1 requests" in stderr
    assert "demo-secret" not in stderr and "demo-password" not in stderr


def test_credentials_fleet_file_and_fault_flags(tmp_path):
    fleet_file = tmp_path / "fleet.json"
    assert Fleet.synthetic(30, seed=1, now_ms=NOW_MS).dump(fleet_file) == 30
    args = [
        "--fleet-file", str(fleet_file), "--project-id", "p1", "--ak", "AK1", "--sk", "SK1",
        "--throttle", "1", "--retry-after", "3", "--error", "502:1", "--latency-ms", "1",
        "--fault", json.dumps({"kind": "corrupt", "offset": 0, "field": "image_size", "value": -1}),
    ]  # fmt: skip
    with running(*args) as (url, process):
        with loopback_client(auth=AkSkAuth("AK1", "SK1", project_id="p1")) as client:
            list_url = f"{url}/v5/p1/image/local-repositories"
            throttled, failed, served = (
                client.get(list_url, params={"enterprise_project_id": "all_granted_eps"}) for _ in range(3)
            )
        assert (throttled.status_code, throttled.headers["retry-after"]) == (429, "3")
        assert failed.status_code == 502
        assert served.json()["total_num"] == 30
        assert served.json()["data_list"][0]["image_size"] == -1
        faults = HTTP.get(f"{url}/_emulator/faults").json()
        assert faults["latency_ms"] == 1 and faults["faults"] == []
        assert _stop(process)[0] == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--host", "0.0.0.0"], "expected a loopback address"),
        (["--fleet-file", "/nonexistent/fleet.json"], "fleet file /nonexistent/fleet.json"),
        (["--error", "418:1"], "fault status: got 418"),
    ],
)
def test_bad_arguments_exit_2_with_a_reason(args, message):
    process = _spawn(*args)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 2
    assert stdout == ""
    assert message in stderr


def _env_lines(process: subprocess.Popen[str], timeout: float = 30) -> list[str]:
    """The ``--print-env`` lines after the URL, up to the closing ``unset`` line (printed with it, so
    possibly read into the pipe's buffer already: a selector would not see them). A watchdog ends an
    emulator that never prints them, so the read cannot hang."""
    watchdog = threading.Timer(timeout, process.kill)
    watchdog.start()
    try:
        lines: list[str] = []
        while not lines or not lines[-1].startswith("unset "):
            line = process.stdout.readline()
            assert line, f"no --print-env lines within {timeout} s: {lines}"
            lines.append(line.rstrip("\n"))
        return lines
    finally:
        watchdog.cancel()


def test_print_env_gives_the_lines_a_shell_sources_to_run_imagewatch_against_it(tmp_path):
    """Issue 14: the recipe "run against the emulator" in docs/emulator.md, as a user follows it: the
    lines sourced by a real shell, then ``imagewatch run``; every enterprise project is read (the
    default fleet keeps 40% of its records outside the default one)."""
    from support.pack import FIXTURE_PACK

    with running("--print-env", "--fleet-size", "300", "--seed", "3", "--now-ms", str(NOW_MS)) as (
        url,
        process,
    ):
        lines = _env_lines(process)
        assert lines[:6] == [
            f"export HSS_ENDPOINT={url}",
            "export HSS_PROJECT_ID=demo-project",
            "export HSS_ENTERPRISE_PROJECT_ID=all_granted_eps",
            "export HSS_AK=DEMOAK",
            "export HSS_SK=demo-secret",  # the documented demo key; another is never printed (below)
            "unset HSS_SECURITY_TOKEN HSS_AUTH_TOKEN HSS_IAM_USER HSS_IAM_PASSWORD HSS_IAM_DOMAIN"
            " HSS_IAM_ENDPOINT",
        ]
        (tmp_path / "emulator.env").write_text("\n".join(lines) + "\n")
        env = {
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": os.pathsep.join([str(PACKAGE_ROOT), os.environ.get("PYTHONPATH", "")]),
            "HSS_AUTH_TOKEN": "left-over-from-another-project",  # unset by the lines
            "POLICY_PATH": str(FIXTURE_PACK),
            "STATE_PATH": str(tmp_path / "state.sqlite3"),
            "REPORT_DIR": str(tmp_path / "reports"),
            "POWERTOOLS_METRICS_DISABLED": "true",
        }
        script = f'. "$1" && exec "{sys.executable}" -m imagewatch.cli run --dry-run --format json'
        done = subprocess.run(
            ["sh", "-c", script, "sh", str(tmp_path / "emulator.env")],
            capture_output=True, text=True, env=env, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        summary = json.loads(done.stdout)
        assert summary["records_read"] == 300 and summary["status"] == "ok"
        assert not [w for w in summary["warnings"] if "HSS_ENTERPRISE_PROJECT_ID" in w]
        assert _stop(process)[0] == 0


def test_print_env_names_a_secret_it_was_given_but_never_prints_it():
    with running("--print-env", "--sk", "my-own-SK-value", "--fleet-size", "10") as (_, process):
        lines = _env_lines(process)
        code, stderr = _stop(process)
    assert "# export HSS_SK=…  (the --sk you gave: a secret is not printed)" in lines
    assert code == 0 and "my-own-SK-value" not in "\n".join(lines) + stderr


def test_without_print_env_the_status_line_says_how_to_get_the_lines():
    with running("--fleet-size", "10") as (_, process):
        code, stderr = _stop(process)
    assert code == 0 and "--print-env prints the lines that point imagewatch at it" in stderr
    assert "demo-secret" not in stderr
