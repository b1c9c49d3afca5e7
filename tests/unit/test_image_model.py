"""Image records: typed, tolerant of new fields, strict about wrong types."""

from __future__ import annotations

import pytest

from imagewatch.hss.errors import RecordError
from imagewatch.hss.model import IMAGE_FIELDS, parse_image

EXAMPLE = {
    "image_id": "f757deea-781e-45ec-90ec-f199249890df", "image_name": "webshell-ljx", "image_version": "v1",
    "image_digest": "sha256:ce0b5d91b072730d0bc9518f11efd07eb7fdb9f43251e11a96cab5b1918b7044",
    "local_image_type": "swr_image", "scan_status": "success", "image_size": 215304488,
    "latest_update_time": 1697509433000, "latest_scan_time": 1709973506292,
    "host_num": 0, "container_num": 5, "component_num": 146, "vul_num": 77,
    "host_name": "myhost", "host_id": "9ad79426-992c-4be4-a2d1-dfd3a75b7c14",
    "agent_id": "1c1d073c5fc403eb0d9c3088bc49da4e015586fd4864513a2fd81afedce282d4",
    "severity_level": "High",
}  # fmt: skip


def test_reference_example_parses_with_every_field() -> None:
    image = parse_image(EXAMPLE)
    assert image.vul_num == 77 and image.severity_level == "High" and image.latest_scan_time == 1709973506292
    assert image.identity == "f757deea-781e-45ec-90ec-f199249890df@9ad79426-992c-4be4-a2d1-dfd3a75b7c14"
    assert image.label == "webshell-ljx:v1"
    assert image.to_dict() == EXAMPLE


def test_unknown_fields_are_kept_not_rejected() -> None:
    image = parse_image({**EXAMPLE, "risk_score": 9.5, "labels": ["a"]})
    assert image.extra == {"risk_score": 9.5, "labels": ["a"]}


def test_null_and_absent_fields_are_none() -> None:
    image = parse_image({"image_name": "x", "vul_num": None})
    assert image.vul_num is None and image.host_id is None
    assert image.identity == "x:@"


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("vul_num", "many", "an integer"),
        ("vul_num", 1.5, "an integer"),
        ("vul_num", True, "an integer"),
        ("image_size", -1, "an integer ≥ 0"),
        ("latest_scan_time", "2024-01-01", "an integer"),
        ("image_name", 42, "a string"),
        ("severity_level", ["High"], "a string"),
    ],
)
def test_wrong_types_are_reported_with_field_value_and_offset(
    field: str, value: object, expected: str
) -> None:
    with pytest.raises(RecordError) as caught:
        parse_image({**EXAMPLE, field: value}, offset=412)
    error = caught.value
    assert (error.field, error.value, error.expected, error.offset) == (field, value, expected, 412)
    assert f"offset 412: field {field!r}" in str(error)


def test_a_record_that_is_not_an_object() -> None:
    with pytest.raises(RecordError, match="expected a JSON object"):
        parse_image(["not", "a", "record"])


def test_identity_falls_back_to_digest_then_name_version() -> None:
    assert parse_image({"image_digest": "sha256:ab", "host_id": "h"}).identity == "sha256:ab@h"
    assert parse_image({"image_name": "n", "image_version": "1", "host_id": "h"}).identity == "n:1@h"
    assert "non_scan_reason" in IMAGE_FIELDS
