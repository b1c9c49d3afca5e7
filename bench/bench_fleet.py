"""Full runs on fleets that look like real ones: most records break a rule (issue 13).

    python bench/bench_fleet.py [--sizes 10000 100000 1000000] [--no-scenario]

bench_memory.py measures a *compliant* fleet (its rule never fires). Here the handler's ``handle``
runs the SHIPPED pack (``policies/``) over the default synthetic fleet (seed 0, every enterprise
project read with ``all_granted_eps``), where about two records in three break at least one rule,
with an SQLite ledger, local reports and a loopback Slack stand-in as its channel. Per size:

- a census (its own child, not timed against anything): the same planned listings, each record
  judged alone by ``imagewatch.policy.Evaluator``, so the share of violating records is counted, not
  assumed, and the distinct images and (policy, image) subjects are known before the run;
- the first run and the second run (same fleet, same ledger), each ``handle`` in a fresh child
  process: records read, violations by severity, peak RSS (the child's ``ru_maxrss`` from
  ``wait4``), wall time (of ``handle``, imports excluded), emulator CPU share, messages the sink
  received, report and ledger bytes on disk;
- at 100,000 records, the inventory read alone: a child that only iterates
  ``HssClient.list_images`` over ``plan(shipped pack)`` with ``build_client(Settings)`` — the same
  queries and client settings as the run, no policy work. The second run is compared with it.
  Beside it, the inventory read once (one unfiltered listing of the same enterprise project: each
  record once), an informative figure: the shipped pack's filtered queries re-read records the
  unfiltered one reads too, so the planned read is longer than the inventory is.

Then the issue's "Why" scenario as a new user runs it: emulator ``--fleet-size 100000 --seed 3
--enterprise-projects 0``, ``imagewatch run`` (the CLI, default concurrency, default enterprise
project), first and second run.

Only ``handle``, ``plan``, ``build_client``, ``Settings`` and the policy package's public surface are
used, so the bench measures whatever the run does today. Children get HSS_MAX_IN_FLIGHT=16,
HSS_MAX_RPS=1000 (as bench_memory.py). The parent stays small (a child's ``ru_maxrss`` starts from
its parent's peak on Linux); each child also reports its own VmHWM as a check. Progress lines print
every 15 s while a child runs. Benchmarks print figures, never assert. Everything on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from support import AK, CHECKER, PROJECT, PYTHON, ROOT, SK, TREE, EmulatorProcess, emulator

SIZES = (10_000, 100_000, 1_000_000)
INVENTORY_SIZE = 100_000  # where the inventory read alone is measured (the second-run target)
# steady runs and reads alone, in turn (ABBA order): the ratio is the median of the pairs. With three,
# one bench's median moved between 1.19x and 1.27x on 2026-12-02 (a single pair: 1.01x to 1.28x)
PAIRS = 5
SCENARIO_SIZE, SCENARIO_SEED, SCENARIO_EPS = 100_000, 3, "0"
CHILD_IN_FLIGHT, CHILD_RPS = 16, 1000.0
POLICIES = TREE / "policies"  # the shipped pack of the tree being measured
PROGRESS_EVERY_S = 15.0
SEVERITY_ORDER = ("critical", "high", "medium", "low", "info")
# targets (issue 13)
RSS_LIMIT_MIB, RSS_GROWTH_LIMIT, SECOND_RUN_LIMIT = 256.0, 1.5, 1.2


@dataclass
class Child:
    """What a child process left: its stdout, exit code, the kernel's rusage peak, wall times."""

    stdout: str
    stderr: str
    returncode: int
    peak_mib: float
    wall_s: float
    emulator_cpu_s: float


@dataclass
class Census:
    reads: int  # records over every planned listing (a record in two listings counts twice)
    records: int  # distinct records (image on host)
    violating: int  # distinct records breaking at least one image rule (exemptions applied)
    images: int  # distinct images (image_id, else name:version:digest)
    subjects: int  # distinct (policy, image) pairs among the violations
    name_version_subjects: int  # distinct (policy, name:version) pairs: the 17,226
    seconds: float

    @property
    def share(self) -> float:
        return self.violating / self.records if self.records else 0.0


@dataclass
class RunResult:
    label: str
    records: int
    violations: int
    by_severity: dict[str, int]
    new: int
    still_open: int
    resolved: int
    received: int  # requests the Slack stand-in got during this run
    peak_mib: float
    seconds: float  # handle() alone (or the CLI process for the scenario)
    emulator_cpu_s: float
    report_bytes: dict[str, int]  # json / csv / other, files this run wrote
    ledger_bytes: int
    status: str
    problems: list[str] = field(default_factory=list)

    @property
    def emulator_share(self) -> float:
        return self.emulator_cpu_s / self.seconds if self.seconds else 0.0


@dataclass
class FleetResult:
    size: int
    census: Census | None
    census_error: str
    first: RunResult
    second: RunResult
    inventory_s: float | None = None  # the inventory read alone: the median of PAIRS reads
    inventory_records: int | None = None
    pairs: list[tuple[float, float]] = field(default_factory=list)  # (steady run s, read alone s), in turn
    once: list[float] = field(default_factory=list)  # the inventory read once (no filters), s, one per pair
    once_records: int | None = None

    @property
    def steady_ratio(self) -> float | None:
        """The median of each steady run's time over the read alone next to it (after it, before it,
        after it, …): a slow spell of the machine hits both sides of a pair alike, and a drift through
        the section favours neither (one pair alone moved between 1.11x and 1.24x; on 2026-12-02 three
        reads in a row took 9.4, 8.6 and 7.6 s)."""
        return statistics.median(run / read for run, read in self.pairs) if self.pairs else None

    @property
    def once_ratio(self) -> float | None:
        """The same against the inventory read once (each record once): what the run costs over the
        least reading it could do, the planned queries' overlap included."""
        if not self.once:
            return None
        return statistics.median(run / once for (run, _), once in zip(self.pairs, self.once, strict=True))


@dataclass
class ScenarioResult:
    census: Census | None
    census_error: str
    first: RunResult
    second: RunResult


# --- in the children --------------------------------------------------------------------------------


def own_peak_kib() -> int | None:
    """VmHWM of this process (Linux): a check on ``ru_maxrss``, which starts from the forking parent's."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def child_run(env: dict[str, str]) -> None:
    """One full run through ``handle``; prints its summary's figures as JSON."""
    from imagewatch import handler

    frozen = env.get("IMAGEWATCH_BENCH_NOW")
    if frozen:  # both runs judge the fleet at one instant: no record ages past a limit in between
        build_deps = handler.build_deps

        def at_the_same_instant(settings: Any, environ: Any) -> Any:
            deps = build_deps(settings, environ)
            deps.clock = lambda: float(frozen)
            return deps

        handler.build_deps = at_the_same_instant
    start = time.perf_counter()
    summary = handler.handle({"source": "manual", "action": "check"}, env)
    seconds = time.perf_counter() - start
    violations = summary.get("violations") or {}
    print(
        json.dumps(
            {
                "records": summary.get("images_evaluated", 0),
                "violations": violations.get("total", 0),
                "by_severity": violations.get("by_severity", {}),
                "new": summary.get("new", 0),
                "still_open": summary.get("still_open", 0),
                "resolved": summary.get("resolved", 0),
                "status": summary.get("status", "?"),
                "problems": (summary.get("problems") or [])[:3] + (summary.get("errors") or [])[:3],
                "seconds": seconds,
                "vm_hwm_kib": own_peak_kib(),
            }
        )
    )


def _listings(env: dict[str, str], *, once: bool = False) -> Iterator[tuple[Any, list[Any]]]:
    """The run's planned listings of the pack at POLICY_PATH, with the same client settings: yields
    (listing, the query's image-rule policies). ``once``: instead, one listing without filters of the
    same enterprise project, every record once (and no policies)."""
    from imagewatch.hss.factory import build_client
    from imagewatch.hss.query import ImageQuery
    from imagewatch.plan import plan
    from imagewatch.policy import load_policies
    from imagewatch.settings import Settings

    settings = Settings.from_env(env)
    client = build_client(settings)
    try:
        if once:
            yield client.list_images(ImageQuery(enterprise_project_id=settings.hss_enterprise_project_id)), []
            return
        for planned in plan(load_policies(settings.policy_path).policies, settings.hss_enterprise_project_id):
            rules = [policy for policy in planned.policies if policy.fleet is None]
            yield client.list_images(planned.query), rules
    finally:
        client.close()


def child_inventory(env: dict[str, str], *, once: bool = False) -> None:
    """Read every planned listing (``once``: the inventory, each record once) and do nothing else:
    the floor a run cannot go below."""
    start = time.perf_counter()
    records = 0
    for listing, _ in _listings(env, once=once):
        for _ in listing:
            records += 1
    print(json.dumps({"records": records, "seconds": time.perf_counter() - start}))


def child_census(env: dict[str, str]) -> None:
    """Judge each record alone (a fresh ``Evaluator`` per record: whatever the evaluator aggregates,
    a one-record evaluation says whether that record breaks a rule) and count."""
    from imagewatch.policy import Evaluator

    start = time.perf_counter()
    now_ms = int(time.time() * 1000)
    reads = 0
    records: set[int] = set()
    images: set[int] = set()
    violating: set[int] = set()
    subjects: set[int] = set()
    name_versions: set[int] = set()
    for listing, rules in _listings(env):
        for image in listing:
            reads += 1
            record = hash(image.identity)
            records.add(record)
            image_key = image.image_id or f"{image.image_name}:{image.image_version}:{image.image_digest}"
            images.add(hash(image_key))
            if not rules:
                continue
            evaluator = Evaluator(rules, now_ms)
            evaluator.add(image)
            found = evaluator.finish().violations
            if found:
                violating.add(record)
                for violation in found:
                    subjects.add(hash((violation.policy_id, image_key)))
                    name_versions.add(hash((violation.policy_id, image.image_name, image.image_version)))
    print(
        json.dumps(
            {
                "reads": reads,
                "records": len(records),
                "violating": len(violating),
                "images": len(images),
                "subjects": len(subjects),
                "name_version_subjects": len(name_versions),
                "seconds": time.perf_counter() - start,
            }
        )
    )


CHILDREN = {
    "run": child_run,
    "inventory": child_inventory,
    "inventory-once": partial(child_inventory, once=True),
    "census": child_census,
}


# --- in the parent ---------------------------------------------------------------------------------


def _vm_rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def spawn(command: list[str], env: Mapping[str, str], served: EmulatorProcess, label: str) -> Child:
    """Run a child to its end, printing a progress line every 15 s; its peak RSS comes from
    ``wait4`` (the kernel's ``ru_maxrss`` of that child alone)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        cpu_before, start = served.cpu_seconds(), time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err, text=True, env=dict(env), cwd=ROOT)
        next_note = start + PROGRESS_EVERY_S
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() >= next_note:
                next_note += PROGRESS_EVERY_S
                print(
                    f"    … {label}: {time.perf_counter() - start:.0f} s, RSS now "
                    f"{_vm_rss_mib(process.pid):.0f} MiB, emulator CPU "
                    f"{served.cpu_seconds() - cpu_before:.0f} s",
                    flush=True,
                )
            time.sleep(0.05)
        wall = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        emulator_cpu = served.cpu_seconds() - cpu_before
        out.seek(0)
        err.seek(0)
        return Child(out.read(), err.read(), process.returncode, usage.ru_maxrss / 1024, wall, emulator_cpu)


def _last_json(child: Child, what: str) -> dict[str, Any]:
    lines = child.stdout.strip().splitlines()
    try:
        return json.loads(lines[-1])
    except (IndexError, ValueError):
        raise RuntimeError(f"{what} failed (exit {child.returncode}):\n{child.stderr[-3000:]}") from None


def base_env(
    url: str, folder: Path, *, all_projects: bool = True, bench_pacing: bool = True
) -> dict[str, str]:
    """The child's environment: this process's, less any HSS/webhook/state settings, plus the run's."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("HSS_", "WEBHOOK_", "CHANNELS_", "STATE_", "REPORT_", "POLICY_", "SETTINGS_"))
    }
    env |= {
        "PYTHONPATH": str(CHECKER),
        "HSS_ENDPOINT": url,
        "HSS_PROJECT_ID": PROJECT,
        "HSS_AK": AK,
        "HSS_SK": SK,
        "POLICY_PATH": str(POLICIES),
        "STATE_PATH": str(folder / "state.sqlite3"),
        "REPORT_DIR": str(folder / "reports"),
    }
    if all_projects:
        env["HSS_ENTERPRISE_PROJECT_ID"] = "all_granted_eps"
    if bench_pacing:
        env |= {"HSS_MAX_IN_FLIGHT": str(CHILD_IN_FLIGHT), "HSS_MAX_RPS": str(CHILD_RPS)}
    return env


def _files(folder: Path) -> dict[Path, int]:
    return {p: p.stat().st_size for p in folder.rglob("*") if p.is_file()} if folder.exists() else {}


def _report_bytes(before: dict[Path, int], after: dict[Path, int]) -> dict[str, int]:
    sizes = {"json": 0, "csv": 0, "other": 0}
    for path, size in after.items():
        if path in before:
            continue
        kind = "json" if ".json" in path.name else "csv" if ".csv" in path.name else "other"
        sizes[kind] += size
    return sizes


def _ledger_bytes(state: Path) -> int:
    return sum(p.stat().st_size for p in state.parent.glob(state.name + "*") if p.is_file())


def one_run(
    label: str, command: list[str], env: dict[str, str], served: EmulatorProcess, sink: Any
) -> RunResult:
    """A run in a fresh child (``handle`` via this file, or the CLI) and what it left on disk."""
    reports, state = Path(env["REPORT_DIR"]), Path(env["STATE_PATH"])
    before, received = _files(reports), sink.attempts
    print(f"  {label} …", flush=True)
    child = spawn(command, env, served, label)
    if child.returncode not in (0, 3, 4):  # a summary was printed: ok, a read cut short, a channel down
        raise RuntimeError(f"{label} failed (exit {child.returncode}):\n{child.stderr[-3000:]}")
    if "imagewatch.cli" in command:  # the CLI prints the whole summary
        try:
            summary = json.loads(child.stdout)
        except ValueError:
            raise RuntimeError(
                f"{label}: no summary (exit {child.returncode}):\n{child.stderr[-3000:]}"
            ) from None
        violations = summary.get("violations") or {}
        figures = {
            "records": summary.get("images_evaluated", 0),
            "violations": violations.get("total", 0),
            "by_severity": violations.get("by_severity", {}),
            "new": summary.get("new", 0),
            "still_open": summary.get("still_open", 0),
            "resolved": summary.get("resolved", 0),
            "status": summary.get("status", "?"),
            "problems": (summary.get("problems") or [])[:3] + (summary.get("errors") or [])[:3],
            "seconds": child.wall_s,
        }
    else:
        figures = _last_json(child, label)
        hwm = figures.get("vm_hwm_kib")
        if hwm and abs(child.peak_mib * 1024 - hwm) > 0.05 * hwm:
            print(f"    note: ru_maxrss {child.peak_mib:.0f} MiB disagrees with VmHWM {hwm / 1024:.0f} MiB")
    result = RunResult(
        label=label,
        records=figures["records"],
        violations=figures["violations"],
        by_severity=figures["by_severity"],
        new=figures["new"],
        still_open=figures["still_open"],
        resolved=figures["resolved"],
        received=sink.attempts - received,
        peak_mib=child.peak_mib,
        seconds=figures["seconds"],
        emulator_cpu_s=child.emulator_cpu_s,
        report_bytes=_report_bytes(before, _files(reports)),
        ledger_bytes=_ledger_bytes(state),
        status=figures["status"],
        problems=figures["problems"],
    )
    print(f"    {describe_run(result)}", flush=True)
    return result


def census(env: dict[str, str], served: EmulatorProcess, label: str) -> tuple[Census | None, str]:
    """The census child; on failure (an evaluator API that changed) the figures are n/a, not fatal."""
    print(f"  census {label} …", flush=True)
    child = spawn([PYTHON, __file__, "--child", "census"], env, served, f"census {label}")
    try:
        figures = _last_json(child, "census")
    except RuntimeError as exc:
        reason = (str(exc).strip().splitlines() or ["failed"])[-1]
        print(f"    census n/a: {reason}", flush=True)
        return None, reason
    result = Census(**figures)
    print(f"    {describe_census(result)}", flush=True)
    return result, ""


@contextmanager
def slack_sink() -> Iterator[Any]:
    from imagewatch.standins.webhook_sink import WebhookSink

    with WebhookSink("slack") as sink:
        yield sink


def with_sink(env: dict[str, str], sink: Any) -> dict[str, str]:
    return env | {"WEBHOOK_URL": sink.url, "WEBHOOK_PLATFORM": "slack"}


def measure(size: int, *, inventory: bool | None = None) -> FleetResult:
    """Census, first run, second run (and, at 100,000, the inventory read alone) on one fleet."""
    print(f"== fleet of {size:,} records (seed 0, shipped pack, SQLite ledger, local reports) ==", flush=True)
    folder = Path(tempfile.mkdtemp(prefix="imagewatch-bench-fleet-"))
    run_command = [PYTHON, __file__, "--child", "run"]
    try:
        with emulator(size) as served, slack_sink() as sink:
            env = with_sink(base_env(served.url, folder), sink) | {"IMAGEWATCH_BENCH_NOW": str(time.time())}
            counted, census_error = census(env, served, f"{size:,}")
            first = one_run(f"{size:,} first run", run_command, env, served, sink)
            second = one_run(f"{size:,} second run", run_command, env, served, sink)
            result = FleetResult(size, counted, census_error, first, second)
            if inventory if inventory is not None else size == INVENTORY_SIZE:
                steady, reads = second, []
                for turn in range(PAIRS):
                    # in turn, and in alternating order (run, read; read, run; run, read): a machine
                    # whose speed drifts one way during the section then favours neither side
                    read_first = turn % 2 == 1
                    if turn and not read_first:  # the ledger is settled and the clock pinned
                        steady = one_run(f"{size:,} steady run {turn + 2}", run_command, env, served, sink)
                    print(f"  inventory read alone, {size:,} ({turn + 1} of {PAIRS}) …", flush=True)
                    child = spawn([PYTHON, __file__, "--child", "inventory"], env, served, "inventory read")
                    figures = _last_json(child, "inventory read")
                    once = _last_json(
                        spawn([PYTHON, __file__, "--child", "inventory-once"], env, served, "inventory once"),
                        "inventory once",
                    )
                    if read_first:
                        steady = one_run(f"{size:,} steady run {turn + 2}", run_command, env, served, sink)
                    reads.append(figures["seconds"])
                    result.pairs.append((steady.seconds, figures["seconds"]))
                    result.once.append(once["seconds"])
                    result.inventory_records, result.once_records = figures["records"], once["records"]
                    print(
                        f"    {figures['records']:,} records in {figures['seconds']:.1f} s (no policy work;"
                        f" emulator CPU {child.emulator_cpu_s:.1f} s), the inventory once {once['records']:,}"
                        f" in {once['seconds']:.1f} s; its steady run"
                        f" ({'after' if read_first else 'before'} them): {steady.seconds:.1f} s",
                        flush=True,
                    )
                result.inventory_s = statistics.median(reads)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return result


def scenario() -> ScenarioResult:
    """Issue 13's "Why": ``imagewatch run`` as a new user runs it, defaults and all."""
    print(
        f"== issue 13 scenario: emulator --fleet-size {SCENARIO_SIZE} --seed {SCENARIO_SEED} "
        f"--enterprise-projects {SCENARIO_EPS}, `imagewatch run` (default concurrency, project) ==",
        flush=True,
    )
    folder = Path(tempfile.mkdtemp(prefix="imagewatch-bench-why-"))
    command = [PYTHON, "-m", "imagewatch.cli", "run", "--format", "json"]
    try:
        with (
            emulator(SCENARIO_SIZE, seed=SCENARIO_SEED, enterprise_projects=SCENARIO_EPS) as served,
            slack_sink() as sink,
        ):
            env = with_sink(base_env(served.url, folder, all_projects=False, bench_pacing=False), sink)
            counted, census_error = census(env, served, "scenario")
            first = one_run("scenario first run", command, env, served, sink)
            second = one_run("scenario second run", command, env, served, sink)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return ScenarioResult(counted, census_error, first, second)


# --- presentation ----------------------------------------------------------------------------------


def mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 100_000 else f"{size / 1e3:.0f} kB"


def severities(by: Mapping[str, int]) -> str:
    ordered = sorted(by.items(), key=lambda kv: SEVERITY_ORDER.index(kv[0]) if kv[0] in SEVERITY_ORDER else 9)
    return " · ".join(f"{sev[0]} {n:,}" for sev, n in ordered) or "none"


def sizes_on_disk(run: RunResult) -> str:
    r = run.report_bytes
    text = f"JSON {mb(r['json'])} / CSV {mb(r['csv'])}"
    if r["other"]:
        text += f" / other {mb(r['other'])}"
    return f"{text} / ledger {mb(run.ledger_bytes)}"


def describe_run(run: RunResult) -> str:
    text = (
        f"{run.records:,} records read, {run.violations:,} violations ({severities(run.by_severity)}), "
        f"new {run.new:,}, still open {run.still_open:,}; peak RSS {run.peak_mib:.1f} MiB, "
        f"{run.seconds:.1f} s, emulator CPU {run.emulator_cpu_s:.1f} s ({run.emulator_share:.0%}); "
        f"sink got {run.received}; {sizes_on_disk(run)}; {run.status}"
    )
    return text + (f" — {'; '.join(run.problems)[:300]}" if run.problems else "")


def describe_census(c: Census) -> str:
    return (
        f"{c.records:,} records ({c.reads:,} reads), {c.violating:,} break a rule: {c.share:.1%} "
        f"{'✓' if c.share >= 0.5 else '✗'} ≥ 50%; {c.images:,} distinct images; "
        f"{c.subjects:,} (policy, image) and {c.name_version_subjects:,} (policy, name:version) "
        f"subjects violate ({c.seconds:.1f} s)"
    )


def mark(ok: bool) -> str:
    return "✓" if ok else "✗"


def targets(fleets: list[FleetResult]) -> list[tuple[str, str, str]]:
    """(target, measured, verdict) for issue 13's targets; n/a when the size was not run."""
    by_size = {f.size: f for f in fleets}
    peak = {f.size: max(f.first.peak_mib, f.second.peak_mib) for f in fleets}
    rows = []
    if 1_000_000 in peak:
        big = peak[1_000_000]
        rows.append((f"peak RSS at 1,000,000 ≤ {RSS_LIMIT_MIB:.0f} MiB", f"{big:.1f} MiB", mark(big <= 256)))
        if 10_000 in peak:
            growth = big / peak[10_000]
            rows.append(
                (
                    f"peak RSS at 1,000,000 ≤ {RSS_GROWTH_LIMIT}x the 10,000 run",
                    f"{growth:.2f}x ({big:.1f} / {peak[10_000]:.1f} MiB)",
                    mark(growth <= RSS_GROWTH_LIMIT),
                )
            )
    else:
        rows.append((f"peak RSS at 1,000,000 ≤ {RSS_LIMIT_MIB:.0f} MiB and ≤ 1.5x 10,000", "not run", "n/a"))
    hundred = by_size.get(INVENTORY_SIZE)
    if hundred is not None:
        rows.append(
            (
                "second run at 100,000 sends nothing",
                f"{hundred.second.received} message(s); {hundred.second.new} new violation(s)"
                + (" (scan ages cross a threshold between runs)" if hundred.second.new else ""),
                mark(hundred.second.received == 0),
            )
        )
        factor = hundred.steady_ratio
        if factor is not None:
            each = ", ".join(f"{run:.1f}/{read:.1f}" for run, read in hundred.pairs)
            rows.append(
                (
                    f"second run at 100,000 ≤ {SECOND_RUN_LIMIT}x the inventory read alone",
                    f"{factor:.2f}x (median of {len(hundred.pairs)} pairs, run/read s: {each})",
                    mark(factor <= SECOND_RUN_LIMIT),
                )
            )
    else:
        rows.append(("second run at 100,000: nothing sent, ≤ 1.2x inventory read", "not run", "n/a"))
    for f in fleets:
        if f.census is not None:
            rows.append(
                (
                    f"fleet of {f.size:,}: ≥ 50% of records violate",
                    f"{f.census.share:.1%}",
                    mark(f.census.share >= 0.5),
                )
            )
    return rows


def print_report(fleets: list[FleetResult], why: ScenarioResult | None) -> None:
    print("\n== real fleets: full runs (handle, SQLite ledger, local reports, shipped pack) ==")
    for f in fleets:
        if f.census is not None:
            print(f"  {f.size:>9,} census: {describe_census(f.census)}")
        for run in (f.first, f.second):
            print(f"  {run.label}: {describe_run(run)}")
        if f.inventory_s is not None:
            print(
                f"  {f.size:,} inventory read alone: {f.inventory_records:,} records in {f.inventory_s:.1f} s"
            )
        if f.once_ratio is not None:
            print(
                f"  {f.size:,} inventory read once (no filters): {f.once_records:,} records in"
                f" {statistics.median(f.once):.1f} s; steady runs {f.once_ratio:.2f}x that (informative)"
            )
    if why is not None:
        if why.census is not None:
            print(f"  scenario census: {describe_census(why.census)}")
        for run in (why.first, why.second):
            print(f"  {run.label}: {describe_run(run)}")
    print("  targets:")
    for target, value, verdict in targets(fleets):
        print(f"    {verdict} {target}: {value}")


def run_all(sizes: list[int], with_scenario: bool) -> tuple[list[FleetResult], ScenarioResult | None]:
    fleets = [measure(size) for size in sizes]
    return fleets, (scenario() if with_scenario else None)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES), help="fleet sizes (records)")
    parser.add_argument("--no-scenario", action="store_true", help="skip issue 13's 100k seed-3 scenario")
    parser.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        CHILDREN[args.child](dict(os.environ))
        return 0
    fleets, why = run_all(args.sizes, not args.no_scenario)
    print_report(fleets, why)
    return 0


if __name__ == "__main__":
    sys.exit(main())
