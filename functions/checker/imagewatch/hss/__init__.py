"""The HSS ListImageLocal client: query model, signing and token auth, paging, typed records."""

from imagewatch.hss.errors import (
    HssApiError,
    HssError,
    HssThrottledError,
    HssTransportError,
    InvalidQueryError,
    InventoryTooLargeError,
    RecordError,
)
from imagewatch.hss.model import IMAGE_FIELDS, Image, parse_image
from imagewatch.hss.query import ImageQuery

__all__ = [
    "IMAGE_FIELDS",
    "HssApiError",
    "HssError",
    "HssThrottledError",
    "HssTransportError",
    "Image",
    "ImageQuery",
    "InvalidQueryError",
    "InventoryTooLargeError",
    "RecordError",
    "parse_image",
]
