"""Policies from S3 (``POLICY_S3_URI``), so a pack can change without a redeploy.

Every ``*.json`` under the prefix (schema files excepted) is copied into a fresh local folder, which
is then loaded exactly like ``POLICY_PATH``. Bounded: at most ``MAX_FILES`` files of ``MAX_BYTES`` each.
Confined: a key is written only under that folder. Keys are names, not paths: ``pol//tmp/x.json``
once wrote ``/tmp/x.json`` (issue 12, row 9), so a key with an empty, ``.`` or ``..`` segment or a
backslash is refused, and the final path is checked to be inside the folder.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from imagewatch.policy.files import MAX_FILE_BYTES

MAX_FILES = 500
MAX_BYTES = MAX_FILE_BYTES


class PolicySourceError(ValueError):
    """The S3 policy source could not be read; names the URI and the key."""


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/folder/`` → (bucket, "folder/"); a folder is required."""
    parts = urlsplit(uri)
    prefix = parts.path.lstrip("/")
    if parts.scheme != "s3" or not parts.netloc or not prefix.endswith("/"):
        raise PolicySourceError(f"POLICY_S3_URI: got {uri!r}, expected s3://bucket/folder/ (ending in /)")
    return parts.netloc, prefix


def local_path(destination: Path, relative: str) -> Path:
    """Where a key's part after the prefix is written: under ``destination``; ``ValueError`` says why not."""
    parts = relative.split("/")
    bad = next((part for part in parts if part in ("", ".", "..") or "\\" in part or "\0" in part), None)
    if bad is not None:
        what = "an empty segment" if bad == "" else f"the segment {bad!r}"
        raise ValueError(f"{what}; expected names joined by single '/', without '.', '..' or backslashes")
    target = destination.joinpath(*parts)
    if not target.resolve().is_relative_to(destination.resolve()):
        raise ValueError(f"it would be written outside {destination}")
    return target


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
                try:
                    target = local_path(destination, key[len(prefix) :])
                except ValueError as refused:
                    raise PolicySourceError(f"{uri}: refusing key {key!r}: {refused}") from None
                body = client.get_object(Bucket=bucket, Key=key)["Body"].read(MAX_BYTES + 1)
                if len(body) > MAX_BYTES:  # the listing's Size understated it
                    raise PolicySourceError(f"{uri}: {key} is larger than {MAX_BYTES} bytes")
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(body)
    except PolicySourceError:
        raise
    except Exception as exc:  # botocore errors: name the code, not the request
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", exc.__class__.__name__)
        raise PolicySourceError(f"{uri}: cannot read the policies ({code})") from None
    return destination
