"""ImageQuery: every documented parameter, its bounds, and how it goes on the wire."""

from __future__ import annotations

import pytest

from imagewatch.hss.errors import InvalidQueryError
from imagewatch.hss.query import PARAM_SPECS, ImageQuery

PAGE_PARAMETERS = {
    "enterprise_project_id", "image_name", "image_version", "offset", "limit", "scan_status",
    "local_image_type", "image_size", "start_latest_update_time", "end_latest_update_time",
    "start_latest_scan_time", "end_latest_scan_time", "has_vul", "host_name", "host_id", "host_ip",
    "container_id", "container_name", "pod_id", "pod_name", "app_name",
}  # fmt: skip


def test_every_parameter_of_the_page_plus_has_container() -> None:
    assert len(PAGE_PARAMETERS) == 21
    assert set(PARAM_SPECS) == PAGE_PARAMETERS | {"has_container"}


@pytest.mark.parametrize(
    ("name", "bad", "fragment"),
    [
        ("limit", 9, "10..200"),
        ("limit", 201, "10..200"),
        ("offset", -1, "0..2000000"),
        ("offset", 2_000_001, "0..2000000"),
        ("image_name", "", "length 1..128"),
        ("image_name", "x" * 129, "length 1..128"),
        ("image_version", "v" * 65, "length 1..64"),
        ("enterprise_project_id", "e" * 257, "length 1..256"),
        ("host_name", "h" * 129, "length 0..128"),
        ("app_name", 7, "length 0..128"),
        ("image_size", 2_147_483_548, "0..2147483547"),
        ("start_latest_scan_time", -5, "0..4070880000000"),
        ("end_latest_update_time", 4_070_880_000_001, "0..4070880000000"),
        ("has_vul", "true", "a boolean"),
        ("has_container", 1, "a boolean"),
        ("scan_status", "waiting", "waiting_for_scan"),
        ("scan_status", "sucess", "one of unscan, success"),
        ("local_image_type", "docker", "one of other_image, swr_image"),
        ("limit", True, "10..200"),
    ],
)
def test_out_of_bounds_value_names_parameter_value_and_bound(name: str, bad: object, fragment: str) -> None:
    with pytest.raises(InvalidQueryError) as caught:
        ImageQuery(**{name: bad})
    error = caught.value
    assert error.parameter == name and error.value == bad
    assert name in str(error) and repr(bad)[:40] in str(error) and fragment in str(error)


def test_bounds_inclusive_at_both_ends() -> None:
    ImageQuery(limit=10, offset=0, image_name="x", host_name="")
    ImageQuery(limit=200, offset=2_000_000, image_name="x" * 128, start_latest_scan_time=4_070_880_000_000)


def test_wire_form_sorted_booleans_lowercase_unset_omitted() -> None:
    query = ImageQuery(
        scan_status="success", has_vul=True, has_container=False, image_name="nginx", limit=200
    )
    assert query.to_params() == [
        ("has_container", "false"),
        ("has_vul", "true"),
        ("image_name", "nginx"),
        ("limit", "200"),
        ("scan_status", "success"),
    ]
    assert ImageQuery().to_params() == []


def test_from_mapping_rejects_unknown_parameters() -> None:
    with pytest.raises(InvalidQueryError, match="'severity'"):
        ImageQuery.from_mapping({"severity": "High"})
    assert ImageQuery.from_mapping({"has_vul": True}) == ImageQuery(has_vul=True)


def test_equal_filters_are_one_hashable_key() -> None:
    a = ImageQuery.from_mapping({"has_vul": True, "scan_status": "success"})
    b = ImageQuery(scan_status="success", has_vul=True)
    assert a == b and len({a, b}) == 1
    assert a.filters() == {"scan_status": "success", "has_vul": True}
    assert a.page(400).to_params()[1:3] == [("limit", "200"), ("offset", "400")]
    assert a.describe() == "has_vul=true scan_status=success"
