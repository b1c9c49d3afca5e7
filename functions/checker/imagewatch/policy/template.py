"""Message templates: ``{field}`` placeholders, checked against the known names when a policy loads.

Only plain ``{name}`` placeholders are allowed (no ``{name!r}``, ``{name:>5}``, ``{a.b}``): a message
is for people, and a template that can reach attributes or format specs can fail at run time.
``{{`` and ``}}`` write literal braces.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Collection

from msgspec import Struct

from imagewatch.policy.errors import BadValue

MAX_MESSAGE = 1000


class Template(Struct, frozen=True):
    """A parsed message: literal text and placeholder names, alternating."""

    text: str
    pieces: tuple[tuple[str, str | None], ...]  # (literal, placeholder or None)

    @property
    def fields(self) -> tuple[str, ...]:
        """Placeholder names in first-use order, without repeats."""
        return tuple(dict.fromkeys(name for _, name in self.pieces if name))

    def render(self, value_of: Callable[[str], str]) -> str:
        return "".join(literal + (value_of(name) if name else "") for literal, name in self.pieces)


def parse_template(text: str, allowed: Collection[str]) -> Template:
    """Parse ``text``; raises BadValue naming the first wrong placeholder and what is allowed."""
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as error:
        raise BadValue(f"{error}; write literal braces as {{{{ and }}}}") from None
    pieces: list[tuple[str, str | None]] = []
    for literal, name, spec, conversion in parsed:
        if name is None:
            pieces.append((literal, None))
            continue
        if spec or conversion:
            raise BadValue(f"placeholder {{{name}}} has a conversion or format spec; use plain {{{name}}}")
        if name not in allowed:
            from imagewatch.suggest import did_you_mean  # only a broken message needs it

            hint = did_you_mean(name, allowed)
            raise BadValue(
                f"unknown placeholder {{{name}}}{hint}; expected one of " + ", ".join(sorted(allowed))
            )
        pieces.append((literal, name))
    return Template(text, tuple(pieces))
