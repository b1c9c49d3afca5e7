"""Where HSS and IAM live for a region (the SDK's rule, with its one exception)."""

from __future__ import annotations

import re

_REGION_RE = re.compile(r"^[a-z]{2}(-[a-z0-9]+)+$")
# Regions whose endpoints are not on myhuaweicloud.com (huaweicloudsdkhss v5/region/hss_region.py).
_EXCEPTIONS = {"eu-west-101": "https://hss.eu-west-101.myhuaweicloud.eu"}


def check_region(region: str) -> str:
    if not _REGION_RE.match(region or ""):
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
