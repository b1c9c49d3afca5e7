"""Run reports in S3, with presigned links for the digest."""

from __future__ import annotations

from typing import Any


class S3ReportSink:
    """``ReportSink`` over an S3 bucket; the bucket's default encryption applies to every object."""

    def __init__(self, bucket: str, client: Any, *, link_ttl_s: int = 86_400) -> None:
        self.bucket = bucket
        self._client = client
        self.link_ttl_s = link_ttl_s

    def __repr__(self) -> str:
        return f"S3ReportSink({self.bucket!r})"

    def put(self, key: str, body: bytes, content_type: str) -> str:
        self._client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type)
        return f"s3://{self.bucket}/{key}"

    def link(self, key: str) -> str | None:
        """A presigned GET URL, valid ``link_ttl_s`` (and no longer than the signing role session)."""
        if self.link_ttl_s <= 0:
            return None
        return str(
            self._client.generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=self.link_ttl_s
            )
        )
