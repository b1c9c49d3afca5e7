"""Where HSS and IAM live for a region (the SDK's rule, with its one exception)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

_REGION_RE = re.compile(r"^[a-z]{2}(-[a-z0-9]+)+$")
_REGION_MAX = 40
# HSS's own API hosts. Not every *.myhuaweicloud.com host is Huawei's to answer: OBS buckets
# ({bucket}.obs.{region}.myhuaweicloud.com) and their websites are named by customers.
_HSS_HOST = re.compile(r"^hss\.([a-z]{2}(-[a-z0-9]+)+)\.myhuaweicloud\.(com|eu)$")
# Regions whose endpoints are not on myhuaweicloud.com (huaweicloudsdkhss v5/region/hss_region.py).
_EXCEPTIONS = {"eu-west-101": "https://hss.eu-west-101.myhuaweicloud.eu"}


def check_region(region: str) -> str:
    if not _REGION_RE.fullmatch(region or "") or len(region) > _REGION_MAX:
        raise ValueError(f"HSS_REGION: got {region!r}, expected a region id such as 'cn-north-4'")
    return region


def hss_endpoint(region: str) -> str:
    """``https://hss.{region}.myhuaweicloud.com``, or the region's documented exception."""
    check_region(region)
    return _EXCEPTIONS.get(region, f"https://hss.{region}.myhuaweicloud.com")


def iam_endpoint(region: str) -> str:
    """The regional IAM endpoint that issues tokens for ``region``."""
    check_region(region)
    if region == "eu-west-101":
        return "https://iam.eu-west-101.myhuaweicloud.eu"
    return f"https://iam.{region}.myhuaweicloud.com"


def is_hss_endpoint(url: str) -> bool:
    """An https URL on an HSS API host of Huawei Cloud (``hss.{region}.myhuaweicloud.com`` or
    ``….myhuaweicloud.eu``) on the default port: the only endpoints an event may name without the
    operator listing them."""
    return region_of_endpoint(url) is not None


def region_of_endpoint(url: str) -> str | None:
    """The region of an ``https://hss.{region}.myhuaweicloud.com`` endpoint (to find its IAM), or None."""
    parts = urlsplit(url)
    found = _HSS_HOST.fullmatch(parts.hostname or "")
    if parts.scheme != "https" or parts.port not in (None, 443) or not found:
        return None
    return found.group(1) if len(found.group(1)) <= _REGION_MAX else None
