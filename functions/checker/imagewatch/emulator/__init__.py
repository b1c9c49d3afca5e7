"""A local HSS for demos and tests: ListImageLocal and IAM tokens over real HTTP on 127.0.0.1.

Never imported by the deployed handler. ``docs/emulator.md`` documents the filters, faults and the
control API.
"""

from imagewatch.emulator.auth import Credentials
from imagewatch.emulator.entries import Entry, Relations
from imagewatch.emulator.faults import Faults
from imagewatch.emulator.filters import DOC, SDK, ImageFilter, Semantics
from imagewatch.emulator.fleet import Fleet
from imagewatch.emulator.server import Emulator
from imagewatch.emulator.stats import Stats

__all__ = [
    "DOC",
    "SDK",
    "Credentials",
    "Emulator",
    "Entry",
    "Faults",
    "Fleet",
    "ImageFilter",
    "Relations",
    "Semantics",
    "Stats",
]
