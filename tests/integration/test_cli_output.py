"""The real ``imagewatch`` command, run as a subprocess against an emulator whose error message is hostile:
nothing it prints can drive the terminal.

Review row 10: an HSS error message with terminal escapes (``ESC]0;PWNED BEL ESC[2J``) was printed raw
by the CLI. The emulator answers HTTP 500 (not retried) with such a message, plus DEL and the 8-bit
CSI; stdout and stderr must hold none of them, and the message's words must still be there.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from imagewatch.emulator import Emulator, Fleet
from imagewatch.emulator.auth import DEMO_AK, DEMO_SK
from imagewatch.emulator.faults import Faults

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
PACKAGE_ROOT = ROOT / "functions" / "checker"
HOSTILE = "backend down \x1b]0;PWNED\x07\x1b[2J\x1b[31mred\x1b[0m \x9b2J\x7f\x85 \x1bP+q\x1b\\ end"
CONTROL_BYTES = (b"\x1b", b"\x07", b"\x7f", "\x9b".encode(), "\x85".encode(), "\x9b".encode("latin-1"))


def imagewatch(
    *args: str, env: dict[str, str], module: str = "imagewatch.cli"
) -> subprocess.CompletedProcess[bytes]:
    """The command as a user runs it: a new interpreter, its own stdout and stderr."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.fixture
def hostile_hss(tmp_path: Path) -> dict[str, str]:
    """Settings for an emulator that answers every listing 500 with ``HOSTILE`` as its error_msg."""
    faults = Faults()
    faults.error(500, times=None, message=HOSTILE)
    with Emulator(Fleet.synthetic(20, seed=1), faults=faults) as emulator:
        python_path = os.pathsep.join([str(PACKAGE_ROOT), os.environ.get("PYTHONPATH", "")])
        yield {
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": python_path,
            "HSS_ENDPOINT": emulator.url,
            "HSS_PROJECT_ID": emulator.project_id,
            "HSS_AK": DEMO_AK,
            "HSS_SK": DEMO_SK,
            "POLICY_PATH": str(ROOT / "policies"),
            "STATE_PATH": str(tmp_path / "state.sqlite3"),
            "REPORT_DIR": str(tmp_path / "reports"),
            "POWERTOOLS_METRICS_DISABLED": "true",
        }


@pytest.mark.parametrize("command", [("invoke", str(ROOT / "events" / "scheduled.json")), ("run",)])
def test_a_hostile_hss_error_message_reaches_the_terminal_without_control_characters(
    hostile_hss: dict[str, str], command: tuple[str, ...]
) -> None:
    """Row 10: stdout (the summary) and stderr (the failure, logs) are both stripped."""
    done = imagewatch(*command, env=hostile_hss)
    assert done.returncode == 3, done.stderr.decode(errors="replace")  # the HSS read failed
    for stream in (done.stdout, done.stderr):
        assert not [raw for raw in CONTROL_BYTES if raw in stream], stream[-2000:]
    shown = (done.stdout + done.stderr).decode()
    assert "PWNED" in shown and "backend down" in shown and "red" in shown


def test_the_emulator_command_strips_what_it_quotes_too(hostile_hss: dict[str, str], tmp_path: Path) -> None:
    """Row 10: ``python -m imagewatch.emulator`` shares the wrapper; it quotes a fleet file's name."""
    missing = str(tmp_path / "fleet\x1b]0;PWNED\x07\x1b[2J.json")
    done = imagewatch("--fleet-file", missing, env=hostile_hss, module="imagewatch.emulator")
    assert done.returncode == 2 and b"PWNED" in done.stderr
    assert not [raw for raw in CONTROL_BYTES if raw in done.stderr], done.stderr


def test_on_a_terminal_the_coloured_summary_still_strips_what_it_quotes(hostile_hss: dict[str, str]) -> None:
    """The human summary is drawn by rich on the terminal itself (its colours would not survive the
    stripping wrapper): every quoted piece is stripped before it is drawn."""
    from support.terminal_session import at_terminal

    session = at_terminal([sys.executable, "-m", "imagewatch.cli", "run"], env=hostile_hss)
    assert session.returncode == 3
    for stream in (session.stdout, session.stderr):
        assert b"]0;" not in stream and b"\x1b[2J" not in stream and b"\x07" not in stream
        assert "\x9b".encode() not in stream and b"\x1bP" not in stream
    assert b"\x1b[" in session.stdout  # our own colours are there
    assert b"backend down" in session.stdout and b"red" in session.stdout
