"""``imagewatch validate``: check policy files and print every error at once, with file and pointer."""

from __future__ import annotations

from typing import TextIO

from imagewatch.policy.labels import count
from imagewatch.policy.loader import load_policies


def validate_cli(paths: list[str], out: TextIO) -> int:
    """Validate files or folders (default ``policies``); exit code 1 on any error, warnings aside."""
    loaded = load_policies(paths or ["policies"])
    for error in loaded.errors:
        print(error, file=out)
    for warning in loaded.warnings:
        print(f"warning: {warning}", file=out)
    valid = count(len(loaded.policies), "valid policy", "valid policies")
    errors, warnings = count(len(loaded.errors), "error"), count(len(loaded.warnings), "warning")
    print(f"{count(len(loaded.files), 'file')}: {valid}, {errors}, {warnings}", file=out)
    return 1 if loaded.errors else 0
