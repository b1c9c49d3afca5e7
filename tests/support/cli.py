"""The ``imagewatch`` command as a script runs it: a fresh interpreter, stdout and stderr on pipes (so
run summaries are JSON), no terminal on stdin, a bounded wait. One helper for every CLI test."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping

COMMAND = [sys.executable, "-m", "imagewatch.cli"]


def run_imagewatch(
    *args: str, env: Mapping[str, str] | None = None, stdin: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``imagewatch ARGS`` to completion (``env``: the whole environment, else this process's)."""
    return subprocess.run(
        [*COMMAND, *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=None if env is None else dict(env),
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        timeout=timeout,
        check=False,
    )
