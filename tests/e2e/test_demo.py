"""``make demo`` as a user runs it: one process, three runs, the chat message, nothing left running."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path


def test_demo_tells_the_whole_story(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "imagewatch.demo"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "IMAGEWATCH_DEMO_DIR": str(tmp_path / "demo")},
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    runs = re.findall(
        r"new (\d+) · resolved (\d+) · still open (\d+) · messages sent (\d+), failed (\d+)", out
    )
    assert len(runs) == 3
    first, second, third = ([int(n) for n in run] for run in runs)
    assert first[0] > 0 and first[3] == 1 and first[4] == 0  # everything new, one digest
    assert second == [0, 0, first[0], 0, 0]  # unchanged fleet: nothing re-alerted
    assert third[1] > 0 and third[3] == 1  # fixed images resolve
    assert "imagewatch compliance: " in out and "chat: nothing sent (nothing new or resolved)" in out
    assert "Demo finished; emulator and sink stopped." in out
    reports = list((tmp_path / "demo" / "reports").rglob("*.json"))
    assert len(reports) == 3
