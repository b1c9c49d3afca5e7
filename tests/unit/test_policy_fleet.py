"""Fleet rules: count and ratio, among, zero images, example labels capped, streaming counters."""

import pytest

from imagewatch.hss.model import Image
from imagewatch.policy import Evaluator, PolicyLoadError, policy_from_mapping

NOW = 1_793_491_200_000
UNSCANNED = {"field": "scan_status", "op": "ne", "value": "success"}
HIGH = {"field": "severity_level", "op": "gte", "value": "High"}
OTHER = {"field": "local_image_type", "op": "eq", "value": "other_image"}


def fleet_policy(fleet, message="{count} of {total} ({percent}, ratio {ratio}); allowed {threshold}"):
    return policy_from_mapping(
        {"id": "fleet-rule", "title": "Fleet rule", "severity": "high", "fleet": fleet, "message": message}
    )


def images(n, **fields):
    return [Image(image_name=f"img{i}", image_version="1", host_name=f"h{i}", **fields) for i in range(n)]


def run(policy, fleet_images, **kwargs):
    evaluator = Evaluator([policy], NOW, **kwargs)
    for image in fleet_images:
        evaluator.add(image)
    return evaluator.finish()


def test_ratio_violation_has_subject_fleet_the_figure_and_examples():
    policy = fleet_policy({"ratio": {"where": UNSCANNED}, "op": "lte", "value": 0.05})
    result = run(policy, images(18, scan_status="success") + images(2, scan_status="unscan"))
    [violation] = result.violations
    assert violation.subject == "fleet"
    assert violation.label == "Fleet rule"
    assert violation.message == "2 of 20 (10.0%, ratio 0.1000); allowed 5%"  # not 0.05 (issue 14)
    assert violation.fields == {
        "measure": "ratio",
        "count": 2,
        "total": 20,
        "figure": 0.1,
        "op": "lte",
        "threshold": 0.05,
    }
    assert violation.examples == ("img0:1 on h0", "img1:1 on h1")
    [figure] = result.fleet
    assert (figure.count, figure.total, figure.figure, figure.passed) == (2, 20, 0.1, False)


def test_ratio_at_the_threshold_passes():
    policy = fleet_policy({"ratio": {"where": UNSCANNED}, "op": "lte", "value": 0.05})
    result = run(policy, images(19, scan_status="success") + images(1, scan_status="failed"))
    assert result.violations == []
    assert result.fleet[0].figure == 0.05
    assert result.fleet[0].passed is True


def test_count_rule():
    policy = fleet_policy({"count": {"where": HIGH}, "op": "lte", "value": 3}, "{count} High images")
    high = images(4, scan_status="success", severity_level="High")
    assert run(policy, high[:3]).violations == []
    [violation] = run(policy, high).violations
    assert violation.message == "4 High images"
    assert violation.fields["figure"] == 4


def test_ratio_among_a_subpopulation():
    policy = fleet_policy({"ratio": {"where": UNSCANNED, "among": OTHER}, "op": "lte", "value": 0.25})
    fleet = (
        images(3, local_image_type="other_image", scan_status="success")
        + images(1, local_image_type="other_image", scan_status="unscan")
        + images(10, local_image_type="swr_image", scan_status="unscan")  # outside the population
    )
    result = run(policy, fleet)
    assert (result.fleet[0].count, result.fleet[0].total) == (1, 4)
    assert result.violations == []  # 1 of 4 other images: exactly 25%


def test_count_among_counts_only_within_the_population():
    policy = fleet_policy({"count": {"where": UNSCANNED, "among": OTHER}, "op": "eq", "value": 0}, "{count}")
    fleet = images(5, local_image_type="swr_image", scan_status="unscan")
    assert run(policy, fleet).violations == []
    assert run(policy, fleet + images(1, local_image_type="other_image")).violations[0].message == "1"


def test_a_ratio_over_zero_images_is_not_judged():
    policy = fleet_policy({"ratio": {"where": UNSCANNED}, "op": "gte", "value": 0.5})
    result = run(policy, [])
    assert result.violations == []
    [figure] = result.fleet
    assert (figure.count, figure.total, figure.figure, figure.passed) == (0, 0, None, True)


def test_a_count_over_zero_images_is_judged():
    policy = fleet_policy({"count": {"where": UNSCANNED}, "op": "gte", "value": 1}, "{count}")
    assert [v.message for v in run(policy, []).violations] == ["0"]


def test_examples_are_capped():
    policy = fleet_policy({"count": {"where": UNSCANNED}, "op": "eq", "value": 0})
    result = run(policy, images(100, scan_status="unscan"))
    assert result.violations[0].examples == tuple(f"img{i}:1 on h{i}" for i in range(5))
    result = run(policy, images(100, scan_status="unscan"), fleet_examples=2)
    assert len(result.violations[0].examples) == 2


@pytest.mark.parametrize(
    ("fleet", "errors"),
    [
        (
            {"ratio": {"where": UNSCANNED}, "op": "lte", "value": 1.5},
            [("/fleet/value", "got 1.5, expected a ratio between 0 and 1 (0.05 is 5%)")],
        ),
        (
            {"count": {"where": UNSCANNED}, "op": "lte", "value": 2.5},
            [("/fleet/value", "got 2.5, expected a whole number of images ≥ 0 for a count")],
        ),
        (
            {"count": {"where": UNSCANNED}, "ratio": {"where": UNSCANNED}, "op": "lte", "value": 1},
            [("/fleet", 'got "count" and "ratio", expected exactly one of "count" or "ratio"')],
        ),
        (
            {"ratio": {"where": UNSCANNED}, "op": "contains", "value": 0.1},
            [("/fleet/op", 'got "contains", expected one of eq, ne, lt, lte, gt, gte')],
        ),
    ],
)
def test_fleet_errors(fleet, errors):
    with pytest.raises(PolicyLoadError) as caught:
        fleet_policy(fleet, "{count}")
    assert [(e.pointer, e.message) for e in caught.value.errors] == errors


def test_fleet_placeholders_are_checked():
    with pytest.raises(PolicyLoadError) as caught:
        fleet_policy({"count": {"where": UNSCANNED}, "op": "eq", "value": 0}, "{image_name}")
    [error] = caught.value.errors
    assert error.pointer == "/message"
    assert error.message.startswith("unknown placeholder {image_name}; expected one of count, percent, ratio")


def test_a_fleet_rule_has_no_top_level_where():
    with pytest.raises(PolicyLoadError) as caught:
        policy_from_mapping(
            {
                "id": "x",
                "title": "x",
                "severity": "low",
                "where": HIGH,
                "message": "{count}",
                "fleet": {"count": {"where": HIGH}, "op": "eq", "value": 0},
            }
        )
    assert [(e.pointer, e.message) for e in caught.value.errors] == [
        ("/where", "a fleet rule has no top-level where; its condition goes in /fleet/…/where")
    ]


@pytest.mark.parametrize(
    ("measure", "threshold", "shown"),
    [
        ("ratio", 0.01, "1%"),
        ("ratio", 0.05, "5%"),
        ("ratio", 0.075, "7.5%"),
        ("ratio", 0.07, "7%"),  # 0.07 * 100 is 7.000000000000001 in floating point
        ("ratio", 0.001, "0.1%"),
        ("ratio", 0, "0%"),
        ("ratio", 1, "100%"),
        ("count", 3, "3"),
        ("count", 0, "0"),
    ],
)
def test_a_threshold_reads_as_people_write_it(measure, threshold, shown):
    from imagewatch.policy.fleet import threshold_text

    assert threshold_text(measure, threshold) == shown


def test_threshold_placeholder_of_a_ratio_is_a_percentage():
    """Issue 14: ``{threshold}`` rendered ``0.01``; a ratio's threshold reads as a percentage everywhere."""
    policy = fleet_policy(
        {"ratio": {"where": UNSCANNED}, "op": "lte", "value": 0.01}, "{percent} over {threshold}"
    )
    [violation] = run(policy, images(98, scan_status="success") + images(2, scan_status="unscan")).violations
    assert violation.message == "2.0% over 1%"
    assert violation.fields["threshold"] == 0.01  # the data keeps the policy's number


def test_every_fleet_figure_says_itself_in_one_line_passing_or_not():
    ratio = fleet_policy({"ratio": {"where": UNSCANNED}, "op": "lte", "value": 0.05})
    failing = run(ratio, images(37, scan_status="success") + images(3, scan_status="unscan")).fleet[0]
    assert failing.text == "7.5% (3 of 40); must be at most 5%: failed"
    passing = run(ratio, images(39, scan_status="success") + images(1, scan_status="unscan")).fleet[0]
    assert passing.text == "2.5% (1 of 40); must be at most 5%: passed"
    assert passing.requirement == "ratio lte 5%"
    count = fleet_policy({"count": {"where": HIGH}, "op": "lt", "value": 3}, "{count}")
    figure = run(count, images(4, scan_status="success", severity_level="High")).fleet[0]
    assert figure.text == "4 (4 of 4); must be under 3: failed"
    empty = run(ratio, []).fleet[0]
    assert (empty.text, empty.passed) == ("not judged: no images to take a ratio of (0 of 0)", True)
