"""HTML reports to look at: from real runs (``check()`` against the HSS emulator, a local report folder,
a clock the caller moves) or from synthetic rows through the product's own writer, and a headless
Chromium to open them in (Debian's ``/usr/bin/chromium``, driven by Playwright; never a browser build
of Playwright's own). Used by the browser tests and ``bench/report_screenshot.py``."""

from __future__ import annotations

import os
import random
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM = os.environ.get("IMAGEWATCH_CHROMIUM", "/usr/bin/chromium")
# as the machine notes say: headless, no sandbox (root), and nothing Chromium would fetch on its own
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
INSTALL_HINT = (
    f"the HTML report's browser tests need Chromium at {CHROMIUM}: `make test` installs it"
    " (apt-get install -y chromium), or set IMAGEWATCH_CHROMIUM to a Chromium binary"
)


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium (Playwright ``Browser``); raises with how to install it when missing.
    Playwright gives it an empty profile of its own (``--user-data-dir`` in a fresh temporary folder)."""
    if not Path(CHROMIUM).exists():
        raise RuntimeError(INSTALL_HINT)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_ARGS))
        try:
            yield browser
        finally:
            browser.close()


# -- real runs --------------------------------------------------------------------------------------


def run_check(
    env: Mapping[str, str],
    clock: Any,
    event: Mapping[str, Any] | None = None,
    adjust: Callable[[Any], None] | None = None,
) -> dict[str, Any]:
    """One run as the handler wires it (``build_deps`` from ``env``), with ``clock`` as the run's clock;
    ``adjust`` may change the ``RunDeps`` first (e.g. wrap the report sink)."""
    from imagewatch.events import parse_event
    from imagewatch.handler import build_deps
    from imagewatch.run import check
    from imagewatch.settings import Settings

    deps = build_deps(Settings.from_env(dict(env)), dict(env))
    deps.clock = clock
    if adjust is not None:
        adjust(deps)
    try:
        return check(parse_event(dict(event or {"source": "manual", "action": "check"})), deps)
    finally:
        deps.hss.close()
        deps.deliverer.close()
        deps.store.close()


def emulator_env(emulator: Any, folder: Path, policies: Path, **extra: str) -> dict[str, str]:
    """Settings for a run against ``emulator`` with its demo credentials, a SQLite ledger and a local
    report folder under ``folder``."""
    from imagewatch.emulator.auth import DEMO_AK, DEMO_SK

    return {
        "HSS_ENDPOINT": emulator.url,
        "HSS_PROJECT_ID": emulator.project_id,
        "HSS_ENTERPRISE_PROJECT_ID": "all_granted_eps",
        "HSS_AK": DEMO_AK,
        "HSS_SK": DEMO_SK,
        "POLICY_PATH": str(policies),
        "STATE_PATH": str(folder / "state.sqlite3"),
        "REPORT_DIR": str(folder / "reports"),
        "POWERTOOLS_METRICS_DISABLED": "true",
        **extra,
    }


# -- synthetic rows through the writer --------------------------------------------------------------

POLICIES = {
    "malicious-files": ("No images containing malicious files", "critical"),
    "high-severity": ("No images rated High or Critical by HSS", "high"),
    "other-images-clean": ("Images not from SWR must be scanned and rated Security", "high"),
    "unsafe-settings": ("No images with unsafe settings", "medium"),
    "scan-failed": ("Image scans that failed", "medium"),
    "scan-freshness": ("Every image scanned successfully within the last 7 days", "medium"),
    "image-age": ("Images rebuilt within 180 days", "low"),
}
WEIGHTS = (1, 8, 12, 8, 10, 40, 6)  # most violations are medium, a few critical, as in real fleets
SYNTHETIC_NOW_MS = 1_796_176_579_000  # 2026-12-01
DAY_MS = 86_400_000


def synthetic_report(
    folder: Path, rows: int, *, seed: int = 0, resolved: int = 0, max_rows: int | None = None
) -> tuple[Path, dict[str, Any]]:
    """An HTML report of ``rows`` violations (and ``resolved`` resolved entries) made up from ``seed``,
    rendered through ``HtmlReport`` into a ``LocalReportSink`` under ``folder`` (its table capped at
    ``max_rows``, the product's ``MAX_ROWS`` by default): (its path, counts of what went in:
    ``by_severity``, ``by_policy``, ``late``, ``max_hosts``)."""
    from imagewatch.alerts.ledger import LedgerEntry
    from imagewatch.report.html_report import MAX_ROWS, HtmlReport
    from imagewatch.report.sink import LocalReportSink
    from imagewatch.violation import Violation

    rng = random.Random(seed)
    names = [f"team-{n % 37}/service-{n}" for n in range(max(rows // 3, 1))]
    hosts = [f"cce-node-{n:05d}" for n in range(2000)]
    ids = list(POLICIES)
    titles = {p: t for p, (t, _) in POLICIES.items()}
    page = HtmlReport(LocalReportSink(folder), "synthetic.html", titles, max_rows=max_rows or MAX_ROWS)
    counts: dict[str, Any] = {"by_severity": {}, "by_policy": {}, "late": 0, "max_hosts": 0}
    for n in range(rows):
        policy = rng.choices(ids, WEIGHTS)[0]
        title, severity = POLICIES[policy]
        name = f"{rng.choice(names)}:{rng.choice(('latest', '1.4.2', '2.0.0-rc1', 'stable'))}"
        spread = rng.randint(1, 40) if rng.random() < 0.1 else rng.randint(1, 4)
        on = sorted(rng.sample(hosts, min(spread, 3)))
        shown = ", ".join(on) + (", …" if spread > 3 else "")
        label = f"{name} on {spread} host{'s' if spread > 1 else ''} ({shown})"
        violation = Violation(
            policy, title, severity, f"img-{n:07d}", label, f"{name} breaks {policy} (case {n})",
            kind="image", hosts=spread, host_names=tuple(on),
        )  # fmt: skip
        first = SYNTHETIC_NOW_MS - rng.randint(0, 60) * DAY_MS
        due = first + {"critical": 3, "high": 7, "medium": 30, "low": 90}[severity] * DAY_MS
        entry = LedgerEntry(
            violation.fingerprint, policy, violation.subject, severity, label, violation.message, "open",
            first, SYNTHETIC_NOW_MS, due_at=due,
        )  # fmt: skip
        page.rows.add(violation, "new" if first == SYNTHETIC_NOW_MS else "open", entry, SYNTHETIC_NOW_MS)
        counts["by_severity"][severity] = counts["by_severity"].get(severity, 0) + 1
        counts["by_policy"][policy] = counts["by_policy"].get(policy, 0) + 1
        counts["late"] += int(due < SYNTHETIC_NOW_MS)
        counts["max_hosts"] = max(counts["max_hosts"], spread)
    for n in range(resolved):
        policy = ids[n % len(ids)]
        entry = LedgerEntry(
            f"r{n:019d}", policy, f"gone-{n}", POLICIES[policy][1], f"retired/app-{n}:1.0 on 1 host",
            "fixed", "resolved", SYNTHETIC_NOW_MS - 9 * DAY_MS, SYNTHETIC_NOW_MS,
            resolved_at=SYNTHETIC_NOW_MS,
        )  # fmt: skip
        page.rows.add_resolved(entry)
    summary = {
        "run_id": f"synthetic{seed}",
        "target": "hss.example/synthetic-project/all_granted_eps",
        "started_at": "2026-12-01T08:00:00Z",
        "status": "ok",
        "records_read": rows * 2,
        "images": rows,
        "violations": {"total": rows, "by_severity": counts["by_severity"]},
        "new": 0,
        "resolved": resolved,
        "still_open": rows,
        "overdue": {"total": counts["late"], "by_severity": {}},
        "policies": {"evaluated": ids, "invalid": []},
    }
    policies = [
        {"id": p, "title": t, "severity": s, "source": f"policies/{p}.json", "sha256": "0" * 64}
        for p, (t, s) in POLICIES.items()
    ]
    csv = str(folder / "synthetic.violations.csv.gz")  # named by the page when its table is capped
    where = page.write(summary, open_by_severity=counts["by_severity"], policies=policies, csv=csv)
    return Path(where), counts


def open_temp_files() -> int:
    """Descriptors of this process open on a file in the temp folder (Linux shows an unlinked or
    O_TMPFILE one as ``/tmp/#123 (deleted)``)."""
    temp = os.path.realpath(tempfile.gettempdir())
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}").startswith(temp)
        except OSError:
            continue
    return count
