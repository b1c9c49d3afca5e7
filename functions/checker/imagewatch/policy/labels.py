"""How things are named for people and keyed for the ledger: an image (``nginx:1.25 on host-7``, or
its image key), a count (``1 file``)."""

from __future__ import annotations

from imagewatch.hss.model import Image


def image_key(image: Image) -> str:
    """The subject of an image violation: HSS's ``image_id``, else ``name:version@digest``.

    A violation is what a person fixes — an image, not an image on a host — so every record of one
    image (one per host) must share this key, and the key must not name a host. ``image_id`` is the
    image's own id; when HSS leaves it empty, the name, version and digest together still tell
    images apart (two builds pushed under one tag differ by digest) and group predictably. An absent
    part reads empty (``nginx:@sha256:…``), so the fallback always holds ``:`` and ``@``.
    """
    if image.image_id:
        return image.image_id
    return f"{image.image_name or ''}:{image.image_version or ''}@{image.image_digest or ''}"


def image_name(image: Image) -> str:
    """``name:version``: an image subject's label before the run adds its hosts."""
    return image.label


def image_label(image: Image) -> str:
    """``name:version on host`` (host name, else host id, else ``?``): one record, for record subjects."""
    return f"{image.label} on {image.host_name or image.host_id or '?'}"


def count(number: int, word: str, plural: str | None = None) -> str:
    """``1 file``, ``2 files``."""
    return f"{number} {word if number == 1 else plural or word + 's'}"
