"""Cold-start import time of the Lambda handler (``import app``) against its third-party dependencies
alone, and what the handler imports that a run does not need.

    python bench/bench_import.py [--runs N]

Each figure is the best of N fresh interpreters timing one import statement, the cases taking turns;
the ratio is the median of each round's (as deployed / dependencies alone).
"As deployed" is the package as functions/checker/Makefile builds it for sam build — copied without
its local-only parts and compiled ahead of time (hash-unchecked .pyc) — with the packages that are
in .venv but not in functions/checker/requirements.txt blocked: httpx imports its optional command
line (click, pygments, rich) whenever they are installed, which the dev venv has and Lambda does
not. "Without bytecode" is the same source with nothing precompiled, what SAM's default builder
ships (Lambda's /var/task is read-only, so it compiles every module on every cold start). The
dependencies are the third-party packages that imagewatch modules import directly (read from
``python -X importtime``), imported together (pip compiled their bytecode at install, as the
Makefile does for the zip). A fourth case imports the dependencies first, untimed, then times
``import app``: imagewatch's own share in milliseconds, the figure the ratio is made of (informative).

Beside the times, the same two imports counted in instructions by valgrind's callgrind (when valgrind
is installed; ``make bench`` installs it on Debian): a count that repeats to ~0.05% whatever else the
machine is doing, where the times' ratio moves by several percent between benches on a shared 2-core
VM. Instructions are not time (a file opened or a page faulted in costs time the count does not see),
so the target is judged on the times; the count says whether a change moved imagewatch's own share.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from support import CHECKER, PYTHON

# rounds: with 15, the median of the rounds' ratios still moved between 1.13x and 1.24x from one bench to
# the next on this 2-core VM (2026-12-02); the spread of the middle half is printed beside it
RUNS = 31
# Imported by the handler but not needed by a run (the first that appears is reported, with its cost).
NOT_NEEDED = {
    "imagewatch.emulator": "the HSS emulator (tests, demo, CLI only)",
    "imagewatch.cli": "the imagewatch command line",
    "imagewatch.demo": "make demo",
    "imagewatch.policy.examples": "the `imagewatch test` runner (policy/__init__ imports run_examples_cli)",
    "imagewatch.policy.validate": "the `imagewatch validate` runner (policy/__init__ imports validate_cli)",
    "imagewatch.policy.explain": "explanations for `imagewatch test` failures",
    "boto3": "AWS clients (only needed when STATE_TABLE / REPORT_BUCKET / SETTINGS_SECRET are set)",
}


@dataclass(frozen=True)
class Entry:
    depth: int
    name: str
    self_us: int
    cumulative_us: int
    importer: str | None  # the module whose import pulled this one in


LOCAL_ONLY = ("emulator", "standins", "demo.py")  # as functions/checker/Makefile leaves them out


def deployed_copy(*, bytecode: bool = True) -> Path:
    """The handler as the function's build ships it: no local-only modules, bytecode precompiled
    (``bytecode=False``: as SAM's default builder would ship it, source only)."""
    root = Path(tempfile.mkdtemp(prefix="imagewatch-deployed-"))
    shutil.copy(CHECKER / "app.py", root)
    shutil.copytree(CHECKER / "imagewatch", root / "imagewatch", ignore=shutil.ignore_patterns("__pycache__"))
    for name in LOCAL_ONLY:
        target = root / "imagewatch" / name
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    if bytecode:
        subprocess.run(
            [PYTHON, "-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash", str(root)], check=True
        )
    return root


def _script(statement: str, blocked: list[str], root: Path = CHECKER, setup: str = "") -> str:
    """A ``-c`` program that times ``statement`` alone, after ``setup`` (untimed)."""
    return (
        f"import sys, time; sys.path.insert(0, {str(root)!r})\n"
        f"for name in {blocked!r}: sys.modules[name] = None\n{setup}\n"
        f"start = time.perf_counter()\n{statement}\nprint(time.perf_counter() - start)"
    )


def time_rounds(
    cases: list[tuple[str, Path] | tuple[str, Path, str]], blocked: list[str], runs: int
) -> list[list[float]]:
    """Seconds for each (statement, root[, untimed setup]) in a fresh interpreter, ``runs`` rounds: one
    list of the cases' times per round. The cases take turns, round after round, so that a slow spell
    of the machine hits every one of them alike."""
    rounds = []
    for _ in range(runs):
        times = []
        for statement, root, *setup in cases:
            done = subprocess.run(
                [PYTHON, "-c", _script(statement, blocked, root, *setup)],
                capture_output=True,
                text=True,
                check=True,
            )
            times.append(float(done.stdout.strip().splitlines()[-1]))
        rounds.append(times)
    return rounds


def time_imports(cases: list[tuple[str, Path]], blocked: list[str], runs: int) -> list[float]:
    """Each case's best of ``runs`` (``time_rounds``)."""
    return [min(column) for column in zip(*time_rounds(cases, blocked, runs), strict=True)]


def ratio_quartiles(rounds: list[list[float]], numerator: int, denominator: int) -> tuple[float, float]:
    """The first and third quartiles of the rounds' ratios (``median_ratio``'s spread)."""
    first, _, third = statistics.quantiles((times[numerator] / times[denominator] for times in rounds), n=4)
    return first, third


def median_ratio(rounds: list[list[float]], numerator: int, denominator: int) -> float:
    """The median over rounds of one case's time over another's in the same round. On a shared VM
    whose speed drifts, the best times of two cases can come from different spells (the ratio of the
    minima moved between 1.05x and 1.24x in one evening); a round's two imports are seconds apart."""
    return statistics.median(times[numerator] / times[denominator] for times in rounds)


@dataclass(frozen=True)
class Instructions:
    app: int  # instructions executed by `import app` (as deployed)
    deps: int  # by importing the dependencies alone

    @property
    def ratio(self) -> float:
        return self.app / self.deps


_COLLECTED = re.compile(r"Collected : (\d+)")


def count_instructions(statement: str, blocked: list[str], root: Path) -> int:
    """Instructions a fresh interpreter executes for ``statement`` (``-c`` with the bench's prelude),
    counted by callgrind; the same hash seed every time, so dicts and sets hash alike from run to run."""
    callgrind = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]
    done = subprocess.run(
        [*callgrind, PYTHON, "-c", _script(statement, blocked, root)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    match = _COLLECTED.search(done.stderr)
    if match is None:
        raise RuntimeError(f"callgrind printed no instruction count: {done.stderr[-500:]!r}")
    return int(match[1])


def instructions(deps: list[str], blocked: list[str], deployed: Path) -> Instructions | None:
    """The two imports in instructions, each less the interpreter's start and the prelude (a ``pass``);
    None without valgrind."""
    if shutil.which("valgrind") is None:
        return None
    base = count_instructions("pass", blocked, deployed)
    return Instructions(
        app=count_instructions("import app", blocked, deployed) - base,
        deps=count_instructions("import " + ", ".join(deps), blocked, deployed) - base,
    )


def import_tree(blocked: list[str], root: Path = CHECKER) -> list[Entry]:
    """``python -X importtime -c 'import app'`` from ``root``, each line with the module that imported
    it. Timed from the deployed copy: in the source tree, a module whose bytecode is stale (edited,
    with PYTHONDONTWRITEBYTECODE set) would be charged its compilation."""
    done = subprocess.run(
        [PYTHON, "-X", "importtime", "-c", _script("import app", blocked, root)],
        capture_output=True,
        text=True,
        check=True,
    )
    rows = []
    for line in done.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if match:
            rows.append((len(match[3]) // 2, match[4], int(match[1]), int(match[2])))
    entries = []
    for i, (depth, name, self_us, cumulative_us) in enumerate(rows):
        importer = next((row[1] for row in rows[i + 1 :] if row[0] < depth), None)  # printed after
        entries.append(Entry(depth, name, self_us, cumulative_us, importer))
    return entries


def _ours(name: str | None) -> bool:
    return name is not None and (name == "app" or name.split(".")[0] == "imagewatch")


def direct_dependencies(tree: list[Entry]) -> list[str]:
    """Third-party top-level packages an imagewatch module imports itself."""
    stdlib = sys.stdlib_module_names
    roots = {e.name.split(".")[0] for e in tree if _ours(e.importer) and not _ours(e.name)}
    return sorted(root for root in roots if root not in stdlib and not root.startswith("_"))


def not_deployed(tree: list[Entry]) -> list[str]:
    """Top-level packages the handler imports in .venv that requirements.txt does not ship."""
    pinned = set()
    for line in (CHECKER / "requirements.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            pinned.add(re.split(r"[=<>\[ ]", line.strip())[0].lower().replace("_", "-"))
    providers = importlib.metadata.packages_distributions()
    blocked = set()
    for entry in tree:
        root = entry.name.split(".")[0]
        if _ours(root) or root.startswith("_"):
            continue
        dists = [d.lower().replace("_", "-") for d in providers.get(root, [])]
        if dists and not any(d in pinned for d in dists):
            blocked.add(root)
    return sorted(blocked)


@dataclass(frozen=True)
class ImportResult:
    app_s: float  # as deployed: precompiled bytecode, pinned packages only
    ratio: float  # app over dependencies alone, the median of the rounds' ratios
    ratio_quartiles: tuple[float, float]  # the middle half of the rounds' ratios
    app_no_bytecode_s: float  # the same without precompiled bytecode (SAM's default builder)
    own_s: float  # `import app` as deployed, timed after the dependencies are in (median of the rounds)
    own_share: float  # that over the dependencies' import in the same round (median of the rounds)
    deps_s: float
    app_venv_s: float
    deps: list[str]
    blocked: list[str]
    findings: list[str]
    heaviest: list[str]
    own_modules: int  # imagewatch modules (and app) imported at cold start
    own_self_ms: float  # their own import time together (-X importtime self times, one run)
    instructions: Instructions | None  # None: valgrind is not installed


def run(runs: int = RUNS) -> ImportResult:
    venv_tree = import_tree([])
    blocked = not_deployed(venv_tree)
    deployed, source_only = deployed_copy(), deployed_copy(bytecode=False)
    try:
        tree = import_tree(blocked, deployed)
        deps = direct_dependencies(tree)
        rounds = time_rounds(
            [
                ("import app", deployed),
                ("import " + ", ".join(deps), CHECKER),
                # may not write bytecode: every run compiles, as on a read-only /var/task
                ("import sys; sys.dont_write_bytecode = True\nimport app", source_only),
                ("import app", deployed, "import " + ", ".join(deps)),
            ],
            blocked,
            runs,
        )
        app_s, deps_s, app_no_bytecode_s, _ = (min(column) for column in zip(*rounds, strict=True))
        own_s, own_share = statistics.median(times[3] for times in rounds), median_ratio(rounds, 3, 1)
        ratio, quartiles = median_ratio(rounds, 0, 1), ratio_quartiles(rounds, 0, 1)
        counted = instructions(deps, blocked, deployed)
    finally:
        shutil.rmtree(deployed, ignore_errors=True)
        shutil.rmtree(source_only, ignore_errors=True)
    (app_venv_s,) = time_imports([("import app", CHECKER)], [], runs)
    by_name = {e.name: e for e in tree}
    findings = [
        f"{name} ({by_name[name].cumulative_us / 1000:.1f} ms, imported by {by_name[name].importer}): {why}"
        for name, why in NOT_NEEDED.items()
        if name in by_name
    ]
    first_party = [e for e in tree if _ours(e.name) and e.name != "app"]
    own = [e for e in tree if _ours(e.name)]
    heaviest = [
        f"{e.name} {e.cumulative_us / 1000:.1f} ms (imported by {e.importer})"
        for e in sorted(first_party, key=lambda e: -e.self_us)[:5]
    ]
    third = [e for e in tree if _ours(e.importer) and not _ours(e.name) and e.name.split(".")[0] in deps]
    heaviest += [f"{e.name} {e.cumulative_us / 1000:.1f} ms (imported by {e.importer})" for e in third]
    return ImportResult(
        app_s,
        ratio,
        quartiles,
        app_no_bytecode_s,
        own_s,
        own_share,
        deps_s,
        app_venv_s,
        deps,
        blocked,
        findings,
        heaviest,
        len({e.name for e in own}),  # importtime prints hss.errors twice: its package imports it first
        sum(e.self_us for e in own) / 1000,
        counted,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=RUNS)
    result = run(parser.parse_args().runs)
    print(json.dumps(result.__dict__, indent=2, default=lambda counted: counted.__dict__))
    return 0


if __name__ == "__main__":
    sys.exit(main())
