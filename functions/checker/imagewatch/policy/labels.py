"""How violations and reports name an image for people: ``nginx:1.25 on host-7``."""

from __future__ import annotations

from imagewatch.hss.model import Image


def image_label(image: Image) -> str:
    """``name:version on host`` (host name, else host id, else ``?``)."""
    return f"{image.label} on {image.host_name or image.host_id or '?'}"
