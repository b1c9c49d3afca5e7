"""Streamed reports by S3 multipart upload, against the moto server on 127.0.0.1: a report of several
parts arrives complete, an aborted one leaves neither an object nor a pending upload, and the
presigned link serves the gzip bytes."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import random
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from imagewatch.report.run_report import STREAM_CSV_COLUMNS, ViolationReport, write_summary
from imagewatch.report.s3_sink import PART_SIZE, S3ReportSink
from imagewatch.violation import Violation
from support.moto_support import REGION

BASE = "reports/t/2026/12/01/2026-12-01T10:00:00Z-run1"


@pytest.fixture
def s3(moto_server) -> Iterator[tuple[Any, str]]:
    """A bucket shaped like the report bucket: default encryption on."""
    client = moto_server.client("s3")
    bucket = f"reports-{uuid.uuid4().hex[:8]}"
    client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    client.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    yield client, bucket


def nothing_left(client: Any, bucket: str) -> bool:
    return (
        client.list_objects_v2(Bucket=bucket).get("KeyCount") == 0
        and client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    )


def noisy_violations(count: int, seed: int) -> Iterator[Violation]:
    """Violations with 2 KB of random hex each, so gzip cannot shrink a few thousand below a part."""
    rng = random.Random(seed)
    for i in range(count):
        noise = rng.randbytes(1024).hex()
        yield Violation(
            policy_id=f"policy-{i % 7}",
            policy_title="Noisy",
            severity="high",
            subject=f"img-{i}@{noise[:16]}",
            label=f"img-{i}",
            message=("=" if i % 5 == 0 else "") + noise,
            fields={"i": i},
            kind="image" if i % 2 else "record",
            hosts=i % 9 + 1 if i % 2 else 0,
        )


def test_a_stream_of_several_parts_arrives_byte_for_byte(s3: tuple[Any, str]) -> None:
    client, bucket = s3
    rng = random.Random(1)
    chunks = [rng.randbytes(1024 * 1024 + 13) for _ in range(2 * PART_SIZE // (1024 * 1024) + 1)]
    stream = S3ReportSink(bucket, client).open_stream("reports/raw.bin", "application/octet-stream")
    for chunk in chunks:
        stream.write(chunk)
    assert stream.close() == f"s3://{bucket}/reports/raw.bin"
    got = client.get_object(Bucket=bucket, Key="reports/raw.bin")
    body = got["Body"].read()
    assert hashlib.sha256(body).digest() == hashlib.sha256(b"".join(chunks)).digest()
    assert got["ETag"].strip('"').endswith("-3")  # three parts: 8 MiB, 8 MiB, the rest
    assert got["ContentType"] == "application/octet-stream" and got["ServerSideEncryption"] == "AES256"
    assert client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_a_small_stream_is_one_put(s3: tuple[Any, str]) -> None:
    client, bucket = s3
    stream = S3ReportSink(bucket, client).open_stream("reports/small.gz", "application/gzip")
    stream.write(b"abc")
    stream.close()
    got = client.get_object(Bucket=bucket, Key="reports/small.gz")
    assert (
        got["Body"].read() == b"abc" and "-" not in got["ETag"] and got["ContentType"] == "application/gzip"
    )


def test_a_multipart_violation_report_round_trips_and_its_link_serves_it(s3: tuple[Any, str]) -> None:
    client, bucket = s3
    sink = S3ReportSink(bucket, client)
    count = 9000
    report = ViolationReport(sink, BASE)
    for i, violation in enumerate(noisy_violations(count, seed=7)):
        report.add(violation, "new" if i % 3 else "open")
    where = report.close()
    assert where == {name: f"s3://{bucket}/{key}" for name, key in report.keys.items()}
    summary = write_summary(
        sink, BASE, {"run_id": "run1", "violations_files": report.keys, "rows": report.rows}
    )
    assert summary == f"s3://{bucket}/{BASE}.json"

    jsonl = client.get_object(Bucket=bucket, Key=report.keys["jsonl"])
    gz = jsonl["Body"].read()
    assert len(gz) > PART_SIZE and jsonl["ETag"].strip('"').endswith("-2")  # really multipart
    assert jsonl["ContentType"] == "application/gzip" and jsonl["ServerSideEncryption"] == "AES256"
    expected = noisy_violations(count, seed=7)
    lines = gzip.decompress(gz).decode().splitlines()
    assert len(lines) == count
    for i, (line, violation) in enumerate(zip(lines, expected, strict=True)):
        assert json.loads(line) == {**violation.to_dict(), "status": "new" if i % 3 else "open"}

    table = gzip.decompress(client.get_object(Bucket=bucket, Key=report.keys["csv"])["Body"].read()).decode()
    rows = list(csv.reader(io.StringIO(table)))
    assert tuple(rows[0]) == STREAM_CSV_COLUMNS and len(rows) == count + 1
    messages = [row[STREAM_CSV_COLUMNS.index("message")] for row in rows[1:]]
    assert all(m.startswith("'=") for m in messages[::5]) and not any(m.startswith("=") for m in messages)

    # the digest links the summary; it names the violation files, whose presigned links serve them too
    linked = httpx.get(sink.link(f"{BASE}.json") or "", timeout=10)
    assert linked.status_code == 200 and json.loads(linked.content)["violations_files"] == report.keys
    link = sink.link(report.keys["jsonl"]) or ""
    assert link.startswith("http://127.0.0.1:")
    served = httpx.get(link, timeout=30)
    assert served.status_code == 200 and served.content == gz


def test_an_aborted_multipart_report_leaves_no_object_and_no_upload(s3: tuple[Any, str]) -> None:
    client, bucket = s3
    report = ViolationReport(S3ReportSink(bucket, client), BASE)
    for violation in noisy_violations(9000, seed=3):
        report.add(violation, "new")
    # both files are past their first part: each stream has a multipart upload in flight
    assert len(client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])) == 2
    report.abort()
    report.abort()
    assert nothing_left(client, bucket)


def test_an_aborted_raw_stream_leaves_nothing(s3: tuple[Any, str]) -> None:
    client, bucket = s3
    stream = S3ReportSink(bucket, client).open_stream("reports/raw.bin", "application/octet-stream")
    stream.write(random.Random(2).randbytes(PART_SIZE + 1))
    stream.write(b"tail")
    stream.abort()
    assert nothing_left(client, bucket)
