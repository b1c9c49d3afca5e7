"""``make bench``: every figure from one run on one machine, side by side, with ratios.

    python bench/run.py

1. paging 100,000 emulator images at 50 ms latency: imagewatch vs the official SDK, vs the ideal
   (bench_paging.py);
2. evaluating the shipped pack over 100,000 images: imagewatch vs Cloud Custodian's ValueFilter vs
   hand-written lambdas (bench_eval.py, reusing bench_policy.py's baseline);
3. peak RSS of a full handler run on a *compliant* fleet at 10,000 and 1,000,000 images, one rule
   that never fires (bench_memory.py);
4. real fleets (most records violate): full handler runs of the shipped pack at 10,000, 100,000 and
   1,000,000 records, first and second run, the inventory read alone, issue 13's targets, and the
   issue's 100k seed-3 scenario through ``imagewatch run`` (bench_fleet.py; ``--fleet-sizes``);
5. the handler's cold-start import time vs its third-party dependencies alone (bench_import.py);
6. reading a year of hourly run history (8,760 records) for one target, SQLite and DynamoDB on moto
   (bench_history.py).

    python bench/run.py --sections fleet --fleet-sizes 10000 100000   # a quick look at one section

Each section runs in its own interpreter (``--section NAME``), so one section's garbage never slows
the next, and this parent stays small: on Linux a child's ``ru_maxrss`` starts from the peak of the
process that forked it, so the memory section's children must come from a small one. Each section
prints as it finishes; a table of every figure closes the run. Benchmarks are not tests: nothing here
asserts a time. About 2.5 minutes on 2 cores without the fleet section; the fleet section's
1,000,000-record runs take several minutes each.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_eval
import bench_fleet
import bench_history
import bench_import
import bench_memory
import bench_paging

Row = tuple[str, str, str, str]  # figure, value, compared with, ratio


def machine() -> str:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{cores} cores{f' ({model})' if model else ''}, Python {platform.python_version()}, "
        f"{platform.system()} {platform.machine()}"
    )


def paging_rows() -> list[Row]:
    print("== paging: 100,000 images, 50 ms added latency ==", flush=True)
    r = bench_paging.run()
    fast, default, plain, sdk = r["imagewatch"], r["imagewatch_default"], r["plain_httpx"], r["sdk"]
    ideal, ideal_default = r["ideal"], r["ideal_default"]
    assert isinstance(fast, bench_paging.PagingResult) and isinstance(default, bench_paging.PagingResult)
    assert isinstance(plain, bench_paging.PagingResult) and isinstance(sdk, bench_paging.PagingResult)
    assert isinstance(ideal, float) and isinstance(ideal_default, float)
    n = bench_paging.IN_FLIGHT
    print(f"  imagewatch {n} in flight {fast.seconds:.2f} s; plain httpx {plain.seconds:.2f} s;", end=" ")
    print(f"defaults {default.seconds:.2f} s; SDK {sdk.seconds:.2f} s; ideal {ideal:.2f} s", flush=True)
    return [
        (
            f"paging 100k @50 ms, imagewatch {n} in flight",
            f"{fast.seconds:.2f} s",
            f"official SDK, sequential: {sdk.seconds:.2f} s",
            f"{sdk.seconds / fast.seconds:.1f}x faster",
        ),
        ("", "", f"ideal 500 pages x 50 ms / {n}: {ideal:.2f} s", f"{fast.seconds / ideal:.2f}x the ideal"),
        (
            "",
            "",
            f"plain httpx, {n} in flight, unparsed: {plain.seconds:.2f} s",
            f"{fast.seconds / plain.seconds:.2f}x",
        ),
        (
            "paging 100k @50 ms, defaults (8, 50/s)",
            f"{default.seconds:.2f} s",
            f"ideal at 50 requests/s: {ideal_default:.2f} s",
            f"{default.seconds / ideal_default:.2f}x the ideal",
        ),
    ]


def eval_rows() -> list[Row]:
    print("== evaluation: the shipped pack over 100,000 images ==", flush=True)
    r = bench_eval.run()
    ours, c7n, hand = r.ns(r.imagewatch_s), r.ns(r.c7n_s), r.ns(r.hand_s)
    per_call = r.c7n_s / r.c7n_calls * 1e9
    print(
        f"  imagewatch {ours:.0f} ns, c7n ValueFilter {c7n:.0f} ns ({per_call:.0f} ns a match call),", end=" "
    )
    print(f"hand-written {hand:.0f} ns per image x rule; {r.matches} matches each", flush=True)
    return [
        (
            f"evaluation 100k x {r.rules} rules, imagewatch",
            f"{ours:.0f} ns/eval",
            f"c7n ValueFilter.match: {c7n:.0f} ns ({per_call:.0f}/call)",
            f"{r.c7n_s / r.imagewatch_s:.1f}x faster",
        ),
        ("", "", f"hand-written lambdas: {hand:.0f} ns", f"{r.imagewatch_s / r.hand_s:.2f}x"),
    ]


def memory_rows() -> list[Row]:
    print(
        "== peak RSS of a full run on a compliant fleet (handler, emulator in another process) ==", flush=True
    )
    print(f"  policies: {', '.join(bench_memory.POLICIES)} + {bench_memory.BENCH_RULE['id']}", end=" ")
    print("(violations stay at one while the compliant images grow; see bench_memory.py)", flush=True)
    small, large = (bench_memory.measure(size) for size in bench_memory.SIZES)
    for m in (small, large):
        print(
            f"  {m.images} images: {m.peak_mib:.1f} MiB peak ({m.after_imports_mib:.1f} after imports),",
            end=" ",
        )
        print(
            f"{m.seconds:.1f} s, emulator CPU {m.emulator_cpu_s:.1f} s, {m.violations} violation(s)",
            flush=True,
        )
    return [
        (
            f"peak RSS, compliant fleet, {small.images:,} images",
            f"{small.peak_mib:.1f} MiB",
            f"after imports: {small.after_imports_mib:.1f} MiB",
            "",
        ),
        (
            f"peak RSS, compliant fleet, {large.images:,} images",
            f"{large.peak_mib:.1f} MiB",
            f"{small.images:,} images: {small.peak_mib:.1f} MiB",
            f"{large.peak_mib / small.peak_mib:.2f}x",
        ),
        (
            f"  time of the {large.images:,}-image run",
            f"{large.seconds:.1f} s",
            f"emulator CPU in it: {large.emulator_cpu_s:.1f} s",
            "",
        ),
    ]


def _run_row(run: bench_fleet.RunResult, figure: str) -> list[Row]:
    return [
        (
            figure,
            f"{run.peak_mib:.1f} MiB, {run.seconds:.1f} s",
            f"{run.records:,} read · {run.violations:,} violations "
            f"({bench_fleet.severities(run.by_severity)})",
            f"emulator CPU {run.emulator_share:.0%}",
        ),
        ("", "", f"{bench_fleet.sizes_on_disk(run)} · sink got {run.received}", ""),
    ]


def fleet_rows(sizes: list[int]) -> list[Row]:
    print("== real fleets: the shipped pack, most records violating (bench_fleet.py) ==", flush=True)
    fleets, why = bench_fleet.run_all(sizes, with_scenario=True)
    rows: list[Row] = []
    for f in fleets:
        c = f.census
        census = (
            f"{c.violating:,} of {c.records:,} records violate ({c.share:.0%}), {c.images:,} images"
            if c
            else f"census n/a: {f.census_error[:60]}"
        )
        rows += _run_row(f.first, f"fleet {f.size:,} records, first run")
        rows.append(("", "", census, ""))
        rows += _run_row(f.second, f"fleet {f.size:,} records, second run")
        if f.inventory_s is not None and f.steady_ratio is not None:
            runs = statistics.median(run for run, _ in f.pairs)
            rows.append(
                (
                    f"  inventory read alone, {f.size:,}",
                    f"{f.inventory_s:.1f} s (median of {len(f.pairs)})",
                    f"steady run (second and later): {runs:.1f} s",
                    f"{f.steady_ratio:.2f}x (median of pairs)",
                )
            )
        if f.once_ratio is not None:
            rows.append(
                (
                    f"  inventory read once, {f.size:,}",
                    f"{statistics.median(f.once):.1f} s, {f.once_records:,} records",
                    f"the planned listings read {f.inventory_records:,}",
                    f"{f.once_ratio:.2f}x (steady run over it, informative)",
                )
            )
    if why is not None:
        rows += _run_row(why.first, "issue 13 scenario (100k, seed 3), first")
        rows += _run_row(why.second, "issue 13 scenario (100k, seed 3), second")
    for target, value, verdict in bench_fleet.targets(fleets):
        rows.append((f"target: {target}", value, "", verdict))
    return rows


def import_rows() -> tuple[list[Row], list[str]]:
    print(f"== handler import time (fresh interpreters in turn, best of {bench_import.RUNS}) ==", flush=True)
    r = bench_import.run()
    print(
        f"  import app {r.app_s * 1000:.0f} ms as deployed (precompiled bytecode),"
        f" {r.app_no_bytecode_s * 1000:.0f} ms without bytecode ({r.app_venv_s * 1000:.0f} ms in .venv);",
        end=" ",
    )
    print(f"{', '.join(r.deps)} alone {r.deps_s * 1000:.0f} ms", flush=True)
    print(f"  blocked as not deployed (absent from requirements.txt): {', '.join(r.blocked) or 'none'}")
    print(f"  imagewatch's own modules at cold start: {r.own_modules}, {r.own_self_ms:.1f} ms of self time")
    for line in r.heaviest:
        print(f"  heaviest: {line}")
    notes = r.findings or ["no emulator, CLI or boto3 import at cold start"]
    for line in notes:
        print(f"  not needed by a run: {line}", flush=True)
    rows = [
        (
            "handler import (as deployed)",
            f"{r.app_s * 1000:.0f} ms",
            f"{' + '.join(r.deps)} alone: {r.deps_s * 1000:.0f} ms",
            f"{r.ratio:.2f}x (median of {bench_import.RUNS} rounds, middle half {r.ratio_quartiles[0]:.2f}-"
            f"{r.ratio_quartiles[1]:.2f}x; of the bests {r.app_s / r.deps_s:.2f}x)",
        ),
        (
            "  imagewatch's own import, after the dependencies",
            f"{r.own_s * 1000:.1f} ms (median of {bench_import.RUNS})",
            "the dependencies' import in the same round",
            f"{r.own_share:.1%} of it (informative)",
        ),
        (
            "  counted in instructions (callgrind)",
            f"{r.instructions.app / 1e6:.1f} M" if r.instructions else "valgrind not installed",
            f"dependencies alone: {r.instructions.deps / 1e6:.1f} M" if r.instructions else "",
            f"{r.instructions.ratio:.3f}x (repeats to ~0.05%; not time)" if r.instructions else "",
        ),
        (
            "  without precompiled bytecode",
            f"{r.app_no_bytecode_s * 1000:.0f} ms",
            f"as deployed: {r.app_s * 1000:.0f} ms",
            f"{r.app_no_bytecode_s / r.app_s:.2f}x",
        ),
    ]
    return rows, notes


def history_rows() -> list[Row]:
    print("== run history: a year of hourly records (8,760) for one target ==", flush=True)
    rows: list[Row] = []
    for result in bench_history.run():
        print("  " + bench_history.describe(result), flush=True)
        reads = f"{result.reads} Query calls" if result.reads else "one indexed range"
        rows.append(
            (
                f"a year of hourly history, {result.store}",
                f"{result.seconds * 1000:.0f} ms",
                f"{reads}, {result.bytes / 1e6:.1f} MB ({result.bytes / result.records:.0f} B a record)",
                "",
            )
        )
    return rows


def imports_section() -> list[Row]:
    rows, notes = import_rows()
    return rows + [("note", note, "", "") for note in notes]


FLEET_SIZES = list(bench_fleet.SIZES)
SECTIONS: dict[str, Callable[[], list[Row]]] = {
    "paging": paging_rows,
    "eval": eval_rows,
    "memory": memory_rows,
    "fleet": lambda: fleet_rows(FLEET_SIZES),
    "imports": imports_section,
    "history": history_rows,
}
ORDER = ("memory", "fleet", "paging", "eval", "imports", "history")
ROWS_MARK = "@@rows "


def run_section(name: str, fleet_sizes: list[int]) -> list[Row]:
    """One section in a fresh interpreter; its progress lines pass through, its rows come back."""
    command = [sys.executable, __file__, "--section", name, "--fleet-sizes", *map(str, fleet_sizes)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, bufsize=1)
    rows: list[Row] = []
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith(ROWS_MARK):
            rows = [tuple(row) for row in json.loads(line[len(ROWS_MARK) :])]  # type: ignore[misc]
        else:
            print(line, end="", flush=True)
    if process.wait() != 0:
        raise SystemExit(f"bench section {name!r} failed (exit {process.returncode})")
    return rows


def table(rows: list[Row]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = []
    for n, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--section", choices=sorted(SECTIONS), help=argparse.SUPPRESS)
    parser.add_argument(
        "--sections", nargs="+", choices=ORDER, default=list(ORDER), help="run only these (default: all)"
    )
    parser.add_argument(
        "--fleet-sizes", type=int, nargs="+", default=FLEET_SIZES, help="the fleet section's sizes (records)"
    )
    args = parser.parse_args()
    FLEET_SIZES[:] = args.fleet_sizes
    section = args.section
    if section:
        print(ROWS_MARK + json.dumps(SECTIONS[section]()), flush=True)
        return 0
    started = time.perf_counter()
    facts = machine()
    print(f"imagewatch benchmarks on {facts}\n", flush=True)
    rows: list[Row] = [("figure", "value", "compared with", "ratio")]
    notes: list[str] = []
    for name in (name for name in ORDER if name in args.sections):
        for row in run_section(name, args.fleet_sizes):
            if row[0] == "note":
                notes.append(row[1])
            else:
                rows.append(row)
    print(f"\n== summary ({facts}; {time.perf_counter() - started:.0f} s in all) ==")
    print(table(rows))
    for note in notes:
        print(f"note: handler imports {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
