"""Exit codes people can script: the same for ``run``, ``invoke``, ``preview`` and ``validate``.

When several apply, the one that says the most about what to fix first wins: a configuration error
over a failed read, a failed read over a failed delivery, any of those over violations found.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    """The run did its job (violations may exist below ``--fail-on``)."""
    VIOLATIONS = 1
    """Violations at or above ``--fail-on SEVERITY`` were found (a CI gate, like ``trivy --exit-code``)."""
    CONFIG = 2
    """Bad flags, settings, policies, channels file or event: nothing was read."""
    HSS = 3
    """The HSS read failed or was incomplete: the verdict is not the whole fleet's."""
    DELIVERY = 4
    """A channel failed to deliver (the alerts stay due and are retried next run)."""
    STORE = 5
    """The ledger or the report store failed."""


# Highest first: which code wins when several apply.
PRECEDENCE = (ExitCode.CONFIG, ExitCode.HSS, ExitCode.STORE, ExitCode.DELIVERY, ExitCode.VIOLATIONS)


def worst(codes: set[ExitCode] | list[ExitCode]) -> ExitCode:
    """The code to exit with when several apply (``OK`` when none)."""
    for code in PRECEDENCE:
        if code in codes:
            return code
    return ExitCode.OK


HELP = """exit codes:
  0  success
  1  violations at or above --fail-on SEVERITY
  2  configuration error (flags, settings, policies, channels, event)
  3  HSS read failed or incomplete
  4  a channel failed to deliver
  5  the ledger or report store failed
  when several apply: 2, then 3, 5, 4, 1"""
