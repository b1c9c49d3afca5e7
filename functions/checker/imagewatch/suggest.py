"""Did-you-mean hints, the same everywhere: operators, platforms, channel names, event fields, flags."""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def did_you_mean(value: object, choices: Iterable[str], synonyms: Mapping[str, str] | None = None) -> str:
    """`` (did you mean 'x'?)`` for the closest choice, or ``""``. ``synonyms`` maps words people
    write to the choice they mean (``greater_than`` → ``gt``), so meaning beats spelling. ``difflib``
    is imported only here, when something is already wrong."""
    import difflib

    if not isinstance(value, str) or not value:
        return ""
    options = sorted(set(choices))
    meant = (synonyms or {}).get(value.strip().lower())
    if meant in options:
        return f" (did you mean {meant!r}?)"
    close = difflib.get_close_matches(value, options, n=1, cutoff=0.6)
    if not close:
        lowered = {c.lower(): c for c in options}
        close = [lowered[value.lower()]] if value.lower() in lowered else []
    if not close:  # a prefix or a containing name: "slak" → "slack" is caught above, "greater" here
        close = [c for c in options if c.startswith(value[:3].lower())][:1]
    return f" (did you mean {close[0]!r}?)" if close else ""


def allowed(choices: Iterable[str]) -> str:
    """``one of: a, b, c`` for an error message."""
    return "one of: " + ", ".join(sorted(set(choices)))
