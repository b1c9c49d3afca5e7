"""Pushdown safety: select must be implied by where, or it is flagged as scope."""

import pytest

from imagewatch.hss.model import Image
from imagewatch.hss.query import ImageQuery
from imagewatch.policy import load_policies, policy_from_mapping
from imagewatch.policy.pushdown import pushdown_warnings, select_admits
from support.pack import FIXTURE_PACK

PACK = FIXTURE_PACK  # the tests' own; policies/ is the user's
SEV_HIGH = {"field": "severity_level", "op": "gte", "value": "High"}


def warnings(select, where):
    policy = policy_from_mapping(
        {"id": "p", "title": "t", "severity": "low", "message": "m", "select": select, "where": where}
    )
    return [pointer for pointer, _ in pushdown_warnings(policy)]


@pytest.mark.parametrize(
    ("select", "where"),
    [
        ({"scan_status": "success"}, SEV_HIGH),
        ({"scan_status": "success"}, {"all": [SEV_HIGH, {"field": "vul_num", "op": "gt", "value": 3}]}),
        ({"scan_status": "failed"}, {"field": "scan_status", "op": "eq", "value": "failed"}),
        ({"scan_status": "waiting_for_scan"}, {"field": "scan_status", "op": "in", "value": ["waiting"]}),
        (
            {"local_image_type": "other_image"},
            {
                "any": [
                    {"all": [{"field": "local_image_type", "op": "eq", "value": "other_image"}, SEV_HIGH]},
                    {"field": "local_image_type", "op": "in", "value": ["other_image"]},
                ]
            },
        ),
    ],
)
def test_implied_pushdowns_are_safe(select, where):
    assert warnings(select, where) == []


@pytest.mark.parametrize(
    ("select", "where", "flagged"),
    [
        ({"has_vul": True}, SEV_HIGH, ["/select/has_vul"]),  # has_vul has no record field to check
        ({"scan_status": "success"}, {"field": "vul_num", "op": "gt", "value": 0}, ["/select/scan_status"]),
        (
            {"scan_status": "success"},
            {"not": {"field": "severity_level", "op": "eq", "value": "Low"}},
            ["/select/scan_status"],
        ),
        (
            {"scan_status": "success"},
            {"field": "severity_level", "op": "ne", "value": "Security"},
            ["/select/scan_status"],
        ),  # ne Security is true for unscanned images: the select would hide them
        (
            {"local_image_type": "other_image"},
            {"field": "local_image_type", "op": "ne", "value": "swr_image"},
            ["/select/local_image_type"],
        ),
        (
            {"scan_status": "success"},
            {"any": [SEV_HIGH, {"field": "vul_num", "op": "gt", "value": 0}]},
            ["/select/scan_status"],
        ),
    ],
)
def test_unimplied_pushdowns_are_flagged(select, where, flagged):
    assert warnings(select, where) == flagged


def test_the_fixture_pack_pushes_down_only_what_its_where_implies():
    for policy in load_policies(PACK).policies:
        assert pushdown_warnings(policy) == [], policy.id


def test_select_admits_uses_the_exact_filters_only():
    query = ImageQuery(scan_status="waiting_for_scan", image_name="nginx")
    assert select_admits(query, Image(scan_status="waiting", image_name="other")) == (True, "")
    assert select_admits(query, Image(scan_status="success")) == (
        False,
        '/select/scan_status is "waiting_for_scan" but the image has "success"',
    )
