"""Exit codes people can script: the same for ``run``, ``invoke``, ``preview`` and ``validate``.

When several apply, the one that says the most about what to fix first wins: a configuration error
over a failed read, a failed read over a failed store, a failed store over a failed delivery, any of
those over violations found. ``exit_code_for`` reads them off a run summary (pure: the same summary,
the same code); ``exit_code_for_error`` classifies what escaped a run instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum
from typing import Any

from imagewatch.violation import SEVERITIES


class ExitCode(IntEnum):
    OK = 0
    """The run did its job (violations may exist below ``--fail-on``)."""
    VIOLATIONS = 1
    """Violations at or above ``--fail-on SEVERITY`` were found (a CI gate, like ``trivy --exit-code``)."""
    CONFIG = 2
    """Bad flags, settings, policies, channels file or event: the run could not do (all of) its job."""
    HSS = 3
    """The HSS read failed or was incomplete: the verdict is not the whole fleet's."""
    DELIVERY = 4
    """A channel failed to deliver (the alerts stay due and are retried next run)."""
    STORE = 5
    """The ledger or the report store failed."""
    INTERNAL = 70
    """A bug (EX_SOFTWARE): its traceback is printed; never 1, which says "violations"."""
    BUSY = 6
    """Another run of this target holds its lease: this one read nothing and decided nothing (the
    schedule's next run will; a script can retry)."""


# Highest first: which code wins when several apply.
PRECEDENCE = (
    ExitCode.CONFIG, ExitCode.HSS, ExitCode.STORE, ExitCode.BUSY, ExitCode.DELIVERY, ExitCode.VIOLATIONS
)  # fmt: skip

MEANING = {
    ExitCode.OK: "success",
    ExitCode.VIOLATIONS: "violations at or above --fail-on SEVERITY",
    ExitCode.CONFIG: "configuration error (flags, settings, policies, channels, event)",
    ExitCode.HSS: "HSS read failed or incomplete",
    ExitCode.DELIVERY: "a channel failed to deliver",
    ExitCode.STORE: "the ledger or report store failed",
    ExitCode.BUSY: "another run of this target holds its lease; nothing was done",
    ExitCode.INTERNAL: "internal error (a bug: the traceback says where)",
}


def worst(codes: set[ExitCode] | list[ExitCode]) -> ExitCode:
    """The code to exit with when several apply (``OK`` when none)."""
    for code in PRECEDENCE:
        if code in codes:
            return code
    return ExitCode.OK


def at_or_above(by_severity: Mapping[str, int], fail_on: str) -> int:
    """How many violations in ``by_severity`` are ``fail_on`` or worse (``SEVERITIES`` is worst first)."""
    gate = SEVERITIES.index(fail_on)  # type: ignore[arg-type]
    return sum(n for severity, n in by_severity.items() if severity in SEVERITIES[: gate + 1])


def reasons_for(summary: Mapping[str, Any], fail_on: str | None = None) -> dict[ExitCode, str]:
    """Every code that applies to a run summary, each with the reason in a few words.

    HSS: the run ``failed`` (no listing read at all) or a listing was incomplete. Configuration: the
    summary's ``errors`` (a requested policy not loaded, an unknown channel, no channel for a test
    notification) or a policy file that failed to load. Busy: a run ``skipped`` because another
    holds the target's lease. Delivery: ``notifications.failed``. Violations: at or above ``fail_on``.
    """
    reasons: dict[ExitCode, str] = {}
    status = summary.get("status")
    incomplete = [q for q in summary.get("queries") or [] if not q.get("complete", True)]
    reads = summary.get("action") not in ("test-notification", "summary")  # those two read no HSS
    if (status == "failed" and reads) or incomplete:
        read = f"{len(incomplete)} of {len(summary.get('queries') or [])} listings incomplete"
        reasons[ExitCode.HSS] = "no inventory could be read" if status == "failed" else read
    errors = list(summary.get("errors") or [])
    invalid = (summary.get("policies") or {}).get("invalid") or []
    if status == "skipped":
        reasons[ExitCode.BUSY] = "skipped: " + "; ".join(errors or ["another run holds the lease"])
    elif errors or invalid:
        what = [*errors, *([f"{len(invalid)} policy file error(s)"] if invalid else [])]
        reasons[ExitCode.CONFIG] = "; ".join(what)
    if summary.get("store_errors"):  # a part the run could do without, but not well (e.g. the history)
        reasons.setdefault(ExitCode.STORE, "; ".join(summary["store_errors"]))
    failed = (summary.get("notifications") or {}).get("failed") or 0
    if failed:
        reasons[ExitCode.DELIVERY] = f"{failed} channel(s) failed to deliver"
    if fail_on is not None:
        found = at_or_above((summary.get("violations") or {}).get("by_severity") or {}, fail_on)
        if found:
            reasons[ExitCode.VIOLATIONS] = f"{found} violation(s) at or above {fail_on}"
    return reasons


def exit_code_for(summary: Mapping[str, Any], fail_on: str | None = None) -> ExitCode:
    """The exit code for a run summary: the worst of ``reasons_for``. A run that could not do its
    job never gets ``OK``."""
    return worst(list(reasons_for(summary, fail_on)))


def exit_code_for_error(error: BaseException) -> ExitCode | None:
    """The exit code for an exception that escaped a command: settings, files and flags (``ValueError``,
    which ``SettingsError``, ``EventError``, ``ChannelsFileError`` and a bad query are) → 2; HSS → 3;
    the ledger, a report file or an AWS store (``OSError``, ``StateStoreError``, botocore) → 5; another
    run's lease → 6; None
    for anything else (a bug: let its traceback show)."""
    from imagewatch.alerts.store import LeaseHeldError, StateStoreError
    from imagewatch.hss.errors import HssError

    if isinstance(error, LeaseHeldError):
        return ExitCode.BUSY
    if isinstance(error, ValueError):
        return ExitCode.CONFIG
    if isinstance(error, HssError):
        return ExitCode.HSS
    if isinstance(error, StateStoreError | OSError) or type(error).__module__.startswith("botocore"):
        return ExitCode.STORE
    return None


HELP = (
    "exit codes:\n"
    + "\n".join(f"  {int(code)}  {text}" for code, text in MEANING.items())
    + ("\n  when several apply: " + ", then ".join(str(int(code)) for code in PRECEDENCE))
)
