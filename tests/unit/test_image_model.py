"""Image records: typed, tolerant of new fields, strict about wrong types."""

from __future__ import annotations

import pytest

from imagewatch.hss.errors import RecordError
from imagewatch.hss.model import IMAGE_FIELDS, check_identity, parse_image

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


def test_unknown_fields_are_tolerated_and_not_kept() -> None:
    """The API grows; nothing may depend on an undocumented field, and keeping them let a hostile answer
    cost memory (review row 5)."""
    image = parse_image({**EXAMPLE, "risk_score": 9.5, "labels": ["a"], "blob": "x" * 100_000})
    assert image == parse_image(EXAMPLE) and image.to_dict() == EXAMPLE


def test_null_and_absent_fields_are_none() -> None:
    image = parse_image({"image_name": "x", "vul_num": None})
    assert image.vul_num is None and image.host_id is None
    assert image.identity == "x:@"  # a policy example may say this little; a record from HSS may not


@pytest.mark.parametrize(
    "record",
    [
        {"host_id": "h1", "vul_num": 3},  # names no image
        {"image_id": "", "image_digest": "", "image_name": "", "host_id": "h1"},  # empty names
        {"image_id": "i1"},  # no host
        {"image_id": "i1", "host_id": ""},
        {"image_id": "i1", "host_id": None},
        {},
    ],
)
def test_a_record_without_identity_is_a_record_error(record: dict) -> None:
    """Review row 12: five records with no ids collapsed into one and the read was still complete."""
    with pytest.raises(RecordError, match="offset 7"):
        check_identity(parse_image(record, offset=7), offset=7)


def test_strings_are_clipped_to_their_documented_bounds_and_the_record_says_so() -> None:
    """Review row 5: 1,500 records with 100 KB names needed 5.4 GB; every string has a documented bound."""
    image = parse_image(
        {**EXAMPLE, "image_name": "n" * 100_000, "host_name": "h" * 5000, "agent_id": "a" * 129}
    )
    assert (len(image.image_name), len(image.host_name), len(image.agent_id)) == (256, 128, 128)
    assert image.clipped == ("image_name", "host_name", "agent_id")
    assert image.to_dict()["imagewatch_clipped"] == ["image_name", "host_name", "agent_id"]
    assert parse_image(EXAMPLE).clipped == ()


def test_a_record_error_keeps_a_short_description_never_the_value() -> None:
    """Review row 5: a record error used to hold the whole offending value (megabytes, or deep)."""
    nested: list = []
    for _ in range(50_000):
        nested = [nested]
    for value in ("v" * 1_000_000, nested, {"k": "v" * 1_000_000}):
        with pytest.raises(RecordError) as caught:
            parse_image({**EXAMPLE, "vul_num": value})
        assert len(caught.value.value) <= 80 and len(str(caught.value)) < 200


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
    assert (error.field, error.value, error.expected, error.offset) == (field, repr(value), expected, 412)
    assert f"offset 412: field {field!r}" in str(error)


def test_a_record_that_is_not_an_object() -> None:
    with pytest.raises(RecordError, match="expected a JSON object"):
        parse_image(["not", "a", "record"])


def test_identity_falls_back_to_digest_then_name_version() -> None:
    assert parse_image({"image_digest": "sha256:ab", "host_id": "h"}).identity == "sha256:ab@h"
    assert parse_image({"image_name": "n", "image_version": "1", "host_id": "h"}).identity == "n:1@h"
    assert "non_scan_reason" in IMAGE_FIELDS


def test_both_ways_to_a_page_give_the_same_records() -> None:
    """A well-formed page is decoded by msgspec in one step; one refused record sends the page through
    ``parse_image`` record by record. Both must give the same images for the same records."""
    import json

    from imagewatch.hss.page import parse_page

    records = [{**EXAMPLE, "image_id": f"i{n}", "host_id": f"h{n}", "extra_field": [n]} for n in range(50)]
    fast = parse_page(json.dumps({"total_num": 60, "data_list": records}).encode(), 0, 200, None, 1)
    broken = [*records, {**EXAMPLE, "vul_num": "many"}]  # one bad record: the careful way for all
    careful = parse_page(json.dumps({"total_num": 60, "data_list": broken}).encode(), 0, 200, None, 1)
    assert fast.images == careful.images and len(fast.images) == 50
    assert fast.record_errors == [] and [e.field for e in careful.record_errors] == ["vul_num"]
    clipped = parse_page(
        json.dumps({"total_num": 1, "data_list": [{**EXAMPLE, "host_name": "h" * 200}]}).encode(),
        0,
        10,
        None,
        1,
    )
    assert clipped.images[0].clipped == ("host_name",)  # an over-long string: the careful way, clipped
