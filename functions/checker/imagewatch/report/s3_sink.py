"""Run reports in S3, with presigned links for the digest."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

PART_SIZE = 8 * 1024 * 1024  # what a stream buffers before uploading a part
MIN_PART_SIZE = 5 * 1024 * 1024  # S3's smallest part, except the last


class S3ReportSink:
    """``ReportSink`` over an S3 bucket; the bucket's default encryption applies to every object."""

    def __init__(
        self, bucket: str, client: Any, *, link_ttl_s: int = 86_400, part_size: int = PART_SIZE
    ) -> None:
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"part_size {part_size} is below S3's minimum part of {MIN_PART_SIZE} bytes")
        self.bucket = bucket
        self._client = client
        self.link_ttl_s = link_ttl_s
        self.part_size = part_size

    def __repr__(self) -> str:
        return f"S3ReportSink({self.bucket!r})"

    def put(self, key: str, body: bytes, content_type: str) -> str:
        self._client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type)
        return f"s3://{self.bucket}/{key}"

    def open_stream(self, key: str, content_type: str) -> S3ReportStream:
        return S3ReportStream(self._client, self.bucket, key, content_type, self.part_size)

    def link(self, key: str) -> str | None:
        """A presigned GET URL, valid ``link_ttl_s`` (and no longer than the signing role session)."""
        if self.link_ttl_s <= 0:
            return None
        return str(
            self._client.generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=self.link_ttl_s
            )
        )


class S3ReportStream:
    """One object by multipart upload: at most about one part (``part_size``) is held in memory.

    The upload starts with the first full part, so an object smaller than a part is one
    ``put_object`` and a stream aborted before then has nothing to undo. S3 shows a multipart object
    only once it is completed; an aborted or crashed upload never appears as an object (the report
    bucket's ``AbortIncompleteMultipartUpload`` lifecycle rule reaps one whose abort never ran).
    """

    def __init__(self, client: Any, bucket: str, key: str, content_type: str, part_size: int) -> None:
        self._client = client
        self.bucket = bucket
        self.key = key
        self.content_type = content_type
        self.part_size = part_size
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._location: str | None = None
        self._aborted = False

    def __repr__(self) -> str:
        return f"S3ReportStream('s3://{self.bucket}/{self.key}')"

    def write(self, data: bytes) -> None:
        if self._aborted or self._location is not None:
            raise ValueError(f"{self!r} is {'aborted' if self._aborted else 'closed'}")
        self._buffer += data
        if len(self._buffer) >= self.part_size:
            self._upload_part()

    def close(self) -> str:
        if self._location is not None:
            return self._location
        if self._aborted:
            raise ValueError(f"{self!r} is aborted")
        try:
            if self._upload_id is None:
                body, self._buffer = self._buffer, bytearray()
                self._client.put_object(
                    Bucket=self.bucket, Key=self.key, Body=body, ContentType=self.content_type
                )
            else:
                if self._buffer:
                    self._upload_part()
                self._client.complete_multipart_upload(
                    Bucket=self.bucket,
                    Key=self.key,
                    UploadId=self._upload_id,
                    MultipartUpload={"Parts": self._parts},
                )
        except BaseException:
            self.abort()
            raise
        self._location = f"s3://{self.bucket}/{self.key}"
        return self._location

    def abort(self) -> None:
        if self._aborted or self._location is not None:
            return
        self._aborted = True
        self._buffer = bytearray()
        upload_id, self._upload_id = self._upload_id, None
        if upload_id is None:
            return
        try:
            self._client.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=upload_id)
        except Exception as error:  # the lifecycle rule reaps it; the run's own error matters more
            log.warning("could not abort multipart upload of %r: %s", self, error)

    def _upload_part(self) -> None:
        """Send the whole buffer as the next part (at least ``part_size`` unless it is the last).
        Handing the buffer over instead of slicing it keeps one part in memory, not two."""
        if self._upload_id is None:
            self._upload_id = self._client.create_multipart_upload(
                Bucket=self.bucket, Key=self.key, ContentType=self.content_type
            )["UploadId"]
        body, self._buffer = self._buffer, bytearray()
        number = len(self._parts) + 1
        answer = self._client.upload_part(
            Bucket=self.bucket, Key=self.key, UploadId=self._upload_id, PartNumber=number, Body=body
        )
        self._parts.append({"ETag": answer["ETag"], "PartNumber": number})
