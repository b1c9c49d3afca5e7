"""What the command line prints: never a control character from anything it quotes.

HSS error messages, webhook answers, file names and policy text all reach the terminal through error
messages and summaries. A message holding ``ESC ] 0 ; … BEL`` retitles the window, ``ESC [ 2 J`` clears
it, and worse sequences exist. ``safe_output()`` wraps ``sys.stdout`` and ``sys.stderr`` for the
duration of a command, so every print, argparse message, log line and report the CLI writes goes
through ``strip_controls`` — one place, not one call per print.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

# Escape sequences first (so their parameters go too), then any C0 control but \t and \n, DEL and C1.
_CONTROLS = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: ESC [ … final byte (colours, cursor moves, clear screen)
    r"|\x1b[\]PX^_][^\x07\x1b\x9c]{0,4096}(?:\x07|\x1b\\|\x9c)?"  # OSC, DCS, SOS, PM, APC … BEL or ST
    r"|\x1b[ -/]*[0-~]?"  # other ESC sequences, or a lone ESC
    r"|\x9b[0-?]*[ -/]*[@-~]"  # 8-bit CSI
    r"|[\x9d\x90\x98\x9e\x9f][^\x07\x1b\x9c]{0,4096}(?:\x07|\x1b\\|\x9c)?"  # 8-bit OSC, DCS, …
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f]"
)


def strip_controls(text: str) -> str:
    """``text`` without terminal control characters or escape sequences; ``\\n`` and ``\\t`` stay."""
    return _CONTROLS.sub("", text)


# Line breaks and tabs, bidirectional overrides and isolates, zero-width and other format characters:
# in a table cell or a summary line they forge rows or reorder what a reader sees.
_LINE_BREAKERS = re.compile(r"[\n\r\t\v\f\x85\u2028\u2029]+")
_INVISIBLE = re.compile(r"[\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")


def one_line(text: object) -> str:
    """``text`` as one line of plain characters: ``strip_controls``, line breaks and tabs as one space,
    no bidi or zero-width characters. For anything quoted from outside into a row or a labelled line."""
    return _INVISIBLE.sub("", _LINE_BREAKERS.sub(" ", strip_controls(str(text))))


class SafeWriter:
    """A text stream that strips control characters from everything written, then passes it on."""

    def __init__(self, inner: TextIO) -> None:
        self.inner = inner

    def write(self, text: str) -> int:
        self.inner.write(strip_controls(text))
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self.inner.flush()

    def __getattr__(self, name: str) -> Any:  # encoding, isatty, fileno, …
        return getattr(self.inner, name)


@contextmanager
def safe_output() -> Iterator[None]:
    """``sys.stdout`` and ``sys.stderr`` wrapped in ``SafeWriter`` until exit (nesting is harmless)."""
    saved = sys.stdout, sys.stderr
    if not isinstance(sys.stdout, SafeWriter):
        sys.stdout = SafeWriter(sys.stdout)  # type: ignore[assignment]
    if not isinstance(sys.stderr, SafeWriter):
        sys.stderr = SafeWriter(sys.stderr)  # type: ignore[assignment]
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved
