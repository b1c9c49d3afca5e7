"""Shared by the benches: the emulator in its own process, timing, and where things are.

The emulator runs in another process (the ``imagewatch emulator`` CLI) so its CPU and memory are never
counted against the client being measured, and with the real clock (the official SDK signs with it).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parents[1]
# IMAGEWATCH_BENCH_TREE: bench another checkout's code and policies (e.g. `git archive HEAD` unpacked
# in /tmp) with these benches, to compare a change with what it replaces. Default: this checkout.
TREE = Path(os.environ.get("IMAGEWATCH_BENCH_TREE") or ROOT)
CHECKER = TREE / "functions" / "checker"
PYTHON = sys.executable
PROJECT, AK, SK = "demo-project", "DEMOAK", "demo-secret"  # the emulator's demo credentials

if str(CHECKER) not in sys.path:
    sys.path.insert(0, str(CHECKER))

T = TypeVar("T")


@dataclass(frozen=True)
class EmulatorProcess:
    """A running emulator: its URL, and how much CPU it has used (to tell who was the bottleneck)."""

    url: str
    pid: int

    def cpu_seconds(self) -> float:
        """User + system CPU time so far (Linux /proc; 0 elsewhere)."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def emulator(
    fleet_size: int,
    *,
    latency_ms: float = 0.0,
    seed: int = 0,
    fleet_file: Path | None = None,
    enterprise_projects: str | None = None,
) -> Iterator[EmulatorProcess]:
    """An emulator process serving a synthetic fleet (or a fleet file), stopped afterwards.
    ``enterprise_projects``: the emulator's ``--enterprise-projects`` cycle (default: its own)."""
    command = [PYTHON, "-m", "imagewatch.cli", "emulator", "--port", "0", "--latency-ms", str(latency_ms)]
    if fleet_file is not None:
        command += ["--fleet-file", str(fleet_file)]
    else:
        command += ["--fleet-size", str(fleet_size), "--seed", str(seed)]
        if enterprise_projects is not None:
            command += ["--enterprise-projects", enterprise_projects]
    env = {**os.environ, "PYTHONPATH": str(CHECKER)}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        url = (process.stdout.readline() if process.stdout else "").strip()
        if not url.startswith("http://"):
            raise RuntimeError(f"the emulator did not start (first line {url!r})")
        yield EmulatorProcess(url, process.pid)
    finally:
        process.terminate()
        process.wait(timeout=30)


def timed(work: Callable[[], T]) -> tuple[float, T]:
    start = time.perf_counter()
    result = work()
    return time.perf_counter() - start, result


def best_of(runs: int, work: Callable[[], T]) -> tuple[float, T]:
    """The fastest of ``runs`` (the least disturbed by the rest of the machine)."""
    best, result = float("inf"), None
    for _ in range(runs):
        seconds, result = timed(work)
        best = min(best, seconds)
    return best, result  # type: ignore[return-value]


def best_in_turns(runs: int, works: list[Callable[[], T]]) -> list[tuple[float, T]]:
    """The fastest of ``runs`` for each of ``works``, taking turns round after round, so that a slow
    spell of the machine hits every side of a comparison alike (one after the other, a 55 ms pass
    and a 430 ms pass could land in different spells, and their ratio moved by 20%)."""
    best = [float("inf")] * len(works)
    results: list[T | None] = [None] * len(works)
    for _ in range(runs):
        for i, work in enumerate(works):
            seconds, results[i] = timed(work)
            best[i] = min(best[i], seconds)
    return list(zip(best, results, strict=True))  # type: ignore[arg-type]


def ratio(slow: float, fast: float) -> str:
    return f"{slow / fast:.2f}x" if fast > 0 else "n/a"
