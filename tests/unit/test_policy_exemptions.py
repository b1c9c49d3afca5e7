"""Exemptions with a fixed clock: before and after expiry, expiring within 14 days, coverage reports."""

import pytest

from imagewatch.hss.model import Image
from imagewatch.policy import Evaluator, PolicyLoadError, policy_from_mapping

DAY = 86_400_000
NOV_1 = 1_793_491_200_000  # 2026-11-01T00:00:00Z


def policy(*exempt):
    return policy_from_mapping(
        {
            "id": "vulns",
            "title": "No vulnerable images",
            "severity": "medium",
            "where": {"field": "vul_num", "op": "gt", "value": 0},
            "message": "{image_name} has {vul_num}",
            "exempt": list(exempt),
        }
    )


def exemption(name, expires, **extra):
    where = {"field": "image_name", "op": "eq", "value": name}
    return {"where": where, "reason": f"{name} is known", "expires": expires, **extra}


def run(pol, now, *images):
    evaluator = Evaluator([pol], now)
    for image in images:
        evaluator.add(image)
    return evaluator.finish()


VENDOR = Image(image_name="vendor", image_id="v1", host_id="h1", host_name="node-1", vul_num=3)
OTHER = Image(image_name="other", image_id="o1", host_id="h1", host_name="node-1", vul_num=3)
CLEAN_VENDOR = Image(image_name="vendor", image_id="v2", host_id="h1", vul_num=0)


def test_an_exempted_image_is_not_a_violation_before_expiry():
    result = run(
        policy(exemption("vendor", "2026-12-31", owner="team-a")), NOV_1, VENDOR, OTHER, CLEAN_VENDOR
    )
    assert [v.subject for v in result.violations] == ["o1"]
    [exempted] = result.exempted
    assert (exempted.policy_id, exempted.subject, exempted.label) == ("vulns", "v1", "vendor:?")
    assert exempted.exemption.reason == "vendor is known"
    assert exempted.exemption.owner == "team-a"
    assert exempted.exemption.pointer == "/exempt/0"
    assert result.expired_exemptions == []
    assert result.expiring_soon == []  # 61 days away


def test_a_date_holds_through_the_last_second_of_that_day_utc():
    pol = policy(exemption("vendor", "2026-10-31"))
    assert run(pol, NOV_1 - 1, VENDOR).violations == []
    assert [v.subject for v in run(pol, NOV_1, VENDOR).violations] == ["v1"]


def test_after_expiry_the_violation_returns_and_the_result_names_the_exemption_and_its_images():
    pol = policy(exemption("vendor", "2026-10-15"), exemption("ghost", "2026-01-01"))
    result = run(pol, NOV_1, VENDOR, OTHER)
    assert sorted(v.subject for v in result.violations) == ["o1", "v1"]
    assert result.exempted == []
    assert [(r.exemption.pointer, r.subjects) for r in result.expired_exemptions] == [
        ("/exempt/0", ("v1",)),
        ("/exempt/1", ()),  # expired, covering nothing this run: still reported
    ]


def test_expiring_within_14_days_is_reported_with_the_images_it_covers():
    pol = policy(exemption("vendor", "2026-11-14"), exemption("other", "2026-11-15"))
    result = run(pol, NOV_1, VENDOR, OTHER)
    assert result.violations == []
    # 2026-11-14 lapses at 2026-11-15T00:00Z: exactly 14 days away; 2026-11-15 is 15 days away
    assert [(r.exemption.pointer, r.subjects) for r in result.expiring_soon] == [("/exempt/0", ("v1",))]
    assert result.expired_exemptions == []


def test_never_expires_only_when_said():
    pol = policy(exemption("vendor", "never"))
    result = run(pol, 4_000_000_000_000, VENDOR)
    assert result.violations == []
    assert result.exempted[0].exemption.expires_ms is None
    assert result.expiring_soon == []


def test_the_first_applicable_active_exemption_wins():
    pol = policy(
        exemption("vendor", "2026-01-01"), exemption("vendor", "2027-01-01"), exemption("vendor", "never")
    )
    result = run(pol, NOV_1, VENDOR)
    assert result.violations == []
    assert [e.exemption.pointer for e in result.exempted] == ["/exempt/1"]
    # the expired one is reported, but covers nothing: another exemption still holds the image
    assert [(r.exemption.pointer, r.subjects) for r in result.expired_exemptions] == [("/exempt/0", ())]


def test_an_iso_timestamp_expiry_is_exact():
    pol = policy(exemption("vendor", "2026-11-01T12:00:00+08:00"))  # 04:00Z
    assert run(pol, NOV_1 + 4 * 3_600_000 - 1, VENDOR).violations == []
    assert len(run(pol, NOV_1 + 4 * 3_600_000, VENDOR).violations) == 1


@pytest.mark.parametrize(
    ("entry", "pointer", "message"),
    [
        (
            {"where": {"field": "image_name", "op": "eq", "value": "a"}, "expires": "never"},
            "/exempt/0",
            'missing required property "reason"',
        ),
        (
            {"where": {"field": "image_name", "op": "eq", "value": "a"}, "reason": "", "expires": "never"},
            "/exempt/0/reason",
            'got "", expected a string of at least 1 character(s)',
        ),
        (
            {"where": {"field": "image_name", "op": "eq", "value": "a"}, "reason": "r", "expires": "soon"},
            "/exempt/0/expires",
            "got \"soon\", expected a date 'YYYY-MM-DD' (valid through the end of that day, UTC),"
            ' an ISO timestamp with a timezone, or "never"',
        ),
    ],
)
def test_exemption_errors(entry, pointer, message):
    with pytest.raises(PolicyLoadError) as caught:
        policy(entry)
    assert [(e.pointer, e.message) for e in caught.value.errors] == [(pointer, message)]


def test_exemption_to_dict_for_reports():
    pol = policy(exemption("vendor", "2026-12-31", owner="team-a"))
    assert pol.exemptions[0].to_dict() == {
        "policy_id": "vulns",
        "pointer": "/exempt/0",
        "reason": "vendor is known",
        "owner": "team-a",
        "expires": "2026-12-31",
    }
