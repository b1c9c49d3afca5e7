"""Flag values from a fixed set: the error names the flag, the allowed values and the closest one."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

from imagewatch.suggest import allowed, did_you_mean


def choice(choices: Sequence[str]) -> Callable[[str], str]:
    """An argparse ``type`` taking one of ``choices`` in any case. argparse puts the flag's name in
    front of the message and exits 2: ``argument --format: got 'jsn', expected one of: csv, json, table
    (did you mean 'json'?)``."""

    def parse(value: str) -> str:
        lowered = value.strip().lower()
        if lowered in choices:
            return lowered
        raise argparse.ArgumentTypeError(
            f"got {value!r}, expected {allowed(choices)}{did_you_mean(value, choices)}"
        )

    return parse
