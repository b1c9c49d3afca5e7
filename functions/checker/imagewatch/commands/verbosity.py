"""How much a command logs: ``-q`` errors only, the default warnings, ``-v`` INFO, ``-vv`` DEBUG.

Logs go to stderr as the function's JSON lines (Powertools' ``Logger``, service ``imagewatch``), so a
terminal user sees what CloudWatch would. Secrets stay out at every level: settings are logged
redacted, and the libraries that log URLs or bodies (httpx, botocore, …) are held at WARNING by
``imagewatch.handler`` whatever is chosen here.
"""

from __future__ import annotations

import logging
import os


def log_level(verbose: int, quiet: bool) -> str:
    """The level for ``-v`` counted ``verbose`` times, or ``--quiet``."""
    if quiet:
        return "ERROR"
    return ("WARNING", "INFO", "DEBUG")[min(verbose, 2)]


def configure(verbose: int = 0, quiet: bool = False) -> None:
    """Set the run's log level before the handler is imported (Powertools reads
    ``POWERTOOLS_LOG_LEVEL`` then), and on its logger if it already was. Without a flag, an exported
    ``POWERTOOLS_LOG_LEVEL`` is kept (the default is WARNING: a terminal wants the result)."""
    if verbose or quiet:
        os.environ["POWERTOOLS_LOG_LEVEL"] = log_level(verbose, quiet)
    level = os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    service = os.environ.get("POWERTOOLS_SERVICE_NAME") or "imagewatch"
    if level.upper() in logging.getLevelNamesMapping():  # a bad value is Powertools' to report
        logging.getLogger(service).setLevel(level.upper())
