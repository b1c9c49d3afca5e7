"""Policies from S3 (``POLICY_S3_URI``), so a pack can change without a redeploy.

Every ``*.json`` under the prefix (schema files excepted) is copied into a fresh local folder, which
is then loaded exactly like ``POLICY_PATH``. Bounded: at most ``MAX_FILES`` files of ``MAX_BYTES`` each.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

MAX_FILES = 500
MAX_BYTES = 1024 * 1024


class PolicySourceError(ValueError):
    """The S3 policy source could not be read; names the URI and the key."""


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/folder/`` → (bucket, "folder/"); a folder is required."""
    parts = urlsplit(uri)
    prefix = parts.path.lstrip("/")
    if parts.scheme != "s3" or not parts.netloc or not prefix.endswith("/"):
        raise PolicySourceError(f"POLICY_S3_URI: got {uri!r}, expected s3://bucket/folder/ (ending in /)")
    return parts.netloc, prefix


def fetch_policies(uri: str, client: Any) -> Path:
    """Download the pack under ``uri`` into the container's policy folder (emptied first) and return it."""
    bucket, prefix = parse_s3_uri(uri)
    destination = Path(tempfile.gettempdir()) / "imagewatch-policies"
    shutil.rmtree(destination, ignore_errors=True)
    destination.mkdir(parents=True)
    count = 0
    paginator = client.get_paginator("list_objects_v2")
    try:
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                key = item["Key"]
                if not key.endswith(".json") or key.endswith(".schema.json"):
                    continue
                if item.get("Size", 0) > MAX_BYTES:
                    raise PolicySourceError(f"{uri}: {key} is larger than {MAX_BYTES} bytes")
                count += 1
                if count > MAX_FILES:
                    raise PolicySourceError(f"{uri}: more than {MAX_FILES} policy files")
                relative = PurePosixPath(key[len(prefix) :])
                if ".." in relative.parts:
                    raise PolicySourceError(f"{uri}: refusing key {key!r}")
                target = destination.joinpath(*relative.parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(client.get_object(Bucket=bucket, Key=key)["Body"].read(MAX_BYTES + 1))
    except PolicySourceError:
        raise
    except Exception as exc:  # botocore errors: name the code, not the request
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", exc.__class__.__name__)
        raise PolicySourceError(f"{uri}: cannot read the policies ({code})") from None
    return destination
