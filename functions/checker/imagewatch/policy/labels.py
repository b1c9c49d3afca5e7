"""How things are named for people: an image (``nginx:1.25 on host-7``), a count (``1 file``)."""

from __future__ import annotations

from imagewatch.hss.model import Image


def image_label(image: Image) -> str:
    """``name:version on host`` (host name, else host id, else ``?``)."""
    return f"{image.label} on {image.host_name or image.host_id or '?'}"


def count(number: int, word: str, plural: str | None = None) -> str:
    """``1 file``, ``2 files``."""
    return f"{number} {word if number == 1 else plural or word + 's'}"
