"""Peak memory of a full run on a COMPLIANT fleet (the handler's ``handle``) at 10,000 and 1,000,000 images.

    python bench/bench_memory.py [--sizes 10000 1000000]

Each run is a fresh child process (its ``ru_maxrss`` is the run's peak alone); the emulator serves a
synthetic fleet from another process, so its memory is not counted. The run reads the whole fleet
(``HSS_ENTERPRISE_PROJECT_ID=all_granted_eps``, one listing, no pushdown) through the shipped
fleet rule ``fleet-scan-coverage`` (a ratio over every image: one violation at most) and a bench rule
``vulnerability-overflow`` (``vul_num > 100000``: evaluated on every image, never true on the synthetic
fleet). Why these: a run rightly holds its violations and the ledger, which grow with *violating*
images; the requirement is that memory does not grow with *compliant* ones, so the measurement holds
the violations constant (one at both sizes) and lets only the compliant images grow a hundredfold.
This is not the real-fleet figure: on a fleet where most records violate (the shipped pack over the
synthetic fleet), see bench_fleet.py, whose rows carry issue 13's targets.

1,000,000 images are 5,000 pages: the run is configured with HSS_MAX_IN_FLIGHT=16 and HSS_MAX_RPS=1000
(the emulator, generating every record on the fly, is the bottleneck: its CPU time is reported).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from support import AK, CHECKER, PROJECT, PYTHON, ROOT, SK, emulator

SIZES = (10_000, 1_000_000)
POLICIES = ("fleet-scan-coverage",)
BENCH_RULE = {
    "id": "vulnerability-overflow",
    "title": "More than 100,000 vulnerabilities in one image",
    "description": "Bench rule: evaluated on every image, never true on the synthetic fleet.",
    "severity": "info",
    "where": {"field": "vul_num", "op": "gt", "value": 100_000},
    "message": "{image_name}:{image_version} on {host_name} has {vul_num} vulnerabilities",
}
CHILD_IN_FLIGHT, CHILD_RPS = 16, 1000.0  # the settings' upper bound for the rate


@dataclass(frozen=True)
class MemoryResult:
    images: int
    peak_mib: float
    after_imports_mib: float
    seconds: float
    violations: int
    status: str
    emulator_cpu_s: float  # what the emulator process spent serving the run


def policy_folder(folder: Path) -> Path:
    policies = folder / "policies"
    policies.mkdir()
    for policy_id in POLICIES:
        shutil.copy(ROOT / "policies" / f"{policy_id}.json", policies)
    (policies / "vulnerability-overflow.json").write_text(json.dumps(BENCH_RULE, indent=2))
    return policies


def child(url: str) -> None:
    """In the fresh process: one full run through ``handle``; prints its figures as JSON."""
    folder = Path(tempfile.mkdtemp(prefix="imagewatch-bench-run-"))
    env = {
        "HSS_ENDPOINT": url,
        "HSS_PROJECT_ID": PROJECT,
        "HSS_AK": AK,
        "HSS_SK": SK,
        "HSS_ENTERPRISE_PROJECT_ID": "all_granted_eps",
        "POLICY_PATH": str(policy_folder(folder)),
        "STATE_PATH": str(folder / "state.sqlite3"),
        "REPORT_DIR": str(folder / "reports"),
        "HSS_MAX_IN_FLIGHT": str(CHILD_IN_FLIGHT),
        "HSS_MAX_RPS": str(CHILD_RPS),
    }
    from imagewatch import handler

    after_imports = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    summary = handler.handle({"source": "manual", "action": "check"}, env)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    high_water = own_peak_kib()
    shutil.rmtree(folder, ignore_errors=True)
    figures = {
        "images": summary["images_evaluated"],
        "peak_kib": peak,
        "after_imports_kib": after_imports,
        "vm_hwm_kib": high_water,
        "seconds": seconds,
        "violations": summary["violations"]["total"],
        "status": summary["status"],
        "problems": summary["problems"],
    }
    print(json.dumps(figures))


def own_peak_kib() -> int | None:
    """VmHWM: the peak RSS of this process's own address space (Linux), a check on ``ru_maxrss``,
    which starts from the peak of the process that forked this one."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def measure(size: int) -> MemoryResult:
    with emulator(size) as served:
        env = {**os.environ, "PYTHONPATH": str(CHECKER)}
        before = served.cpu_seconds()
        done = subprocess.run(
            [PYTHON, __file__, "--child", served.url], capture_output=True, text=True, env=env, check=False
        )
        emulator_cpu = served.cpu_seconds() - before
    if done.returncode != 0:
        raise RuntimeError(f"the run at {size} images failed:\n{done.stderr[-3000:]}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    if figures["images"] != size or figures["status"] != "ok":
        raise RuntimeError(f"the run at {size} images did not read it all: {figures}")
    hwm = figures["vm_hwm_kib"]
    if hwm and abs(figures["peak_kib"] - hwm) > 0.05 * hwm:
        raise RuntimeError(
            f"ru_maxrss {figures['peak_kib']} KiB disagrees with VmHWM {hwm} KiB: the launching process "
            "was larger than the run (run this bench from a small process, as bench/run.py does)"
        )
    return MemoryResult(
        size,
        figures["peak_kib"] / 1024,
        figures["after_imports_kib"] / 1024,
        figures["seconds"],
        figures["violations"],
        figures["status"],
        emulator_cpu,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--child", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return 0
    results = [measure(size) for size in args.sizes]
    for result in results:
        print(
            f"  compliant fleet, {result.images:>9} images: peak RSS {result.peak_mib:6.1f} MiB "
            f"(after imports {result.after_imports_mib:5.1f} MiB), run {result.seconds:6.1f} s, "
            f"{result.violations} violation(s); the emulator used {result.emulator_cpu_s:.1f} s of CPU"
        )
    if len(results) > 1:
        first, last = results[0], results[-1]
        print(f"  ratio {last.peak_mib / first.peak_mib:.2f}x for {last.images // first.images}x the images")
    return 0


if __name__ == "__main__":
    sys.exit(main())
