"""``imagewatch validate``: check policy files and print every error at once, with file and pointer."""

from __future__ import annotations

from typing import TextIO

from imagewatch.policy.loader import load_policies


def validate_cli(paths: list[str], out: TextIO) -> int:
    """Validate files or folders (default ``policies``); exit code 1 on any error, warnings aside."""
    loaded = load_policies(paths or ["policies"])
    for error in loaded.errors:
        print(error, file=out)
    for warning in loaded.warnings:
        print(f"warning: {warning}", file=out)
    print(
        f"{len(loaded.files)} files: {len(loaded.policies)} valid policies,"
        f" {len(loaded.errors)} errors, {len(loaded.warnings)} warnings",
        file=out,
    )
    return 1 if loaded.errors else 0
