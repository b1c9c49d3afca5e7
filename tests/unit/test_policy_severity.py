"""severity_level: compared by rank, fail closed after a successful scan, unrated otherwise."""

import pytest

from imagewatch.hss.model import Image
from imagewatch.policy.compile import compile_condition
from imagewatch.policy.conditions import ConditionReader

NOW = 1_793_491_200_000


def holds(op: str, value, **fields) -> bool:
    problems: list = []
    node = ConditionReader(problems).read({"field": "severity_level", "op": op, "value": value}, "/where")
    assert problems == []
    return compile_condition(node).bind(NOW)(Image(**fields))


def scanned(level):
    return {"scan_status": "success", "severity_level": level}


@pytest.mark.parametrize(
    ("level", "at_least_high", "at_least_medium", "at_most_low", "is_security"),
    [
        ("Security", False, False, True, True),
        ("Low", False, False, True, False),
        ("Medium", False, True, False, False),
        ("High", True, True, False, False),
    ],
)
def test_rank_order(level, at_least_high, at_least_medium, at_most_low, is_security):
    assert holds("gte", "High", **scanned(level)) is at_least_high
    assert holds("gte", "Medium", **scanned(level)) is at_least_medium
    assert holds("lte", "Low", **scanned(level)) is at_most_low
    assert holds("eq", "Security", **scanned(level)) is is_security


def test_lt_gt_and_membership_by_rank():
    assert holds("lt", "Medium", **scanned("Low")) is True
    assert holds("lt", "Medium", **scanned("Medium")) is False
    assert holds("gt", "Security", **scanned("Low")) is True
    assert holds("gt", "High", **scanned("High")) is False
    assert holds("in", ["Medium", "High"], **scanned("High")) is True
    assert holds("in", ["Medium", "High"], **scanned("Low")) is False
    assert holds("not_in", ["Security"], **scanned("Low")) is True


@pytest.mark.parametrize("level", [None, "", "Critical", "high"])
def test_scan_succeeded_without_a_known_level_fails_closed_as_high(level):
    fields = {"scan_status": "success"} | ({} if level is None else {"severity_level": level})
    assert holds("gte", "High", **fields) is True
    assert holds("eq", "High", **fields) is True
    assert holds("lte", "Low", **fields) is False
    assert holds("eq", "Security", **fields) is False
    assert holds("ne", "Security", **fields) is True


@pytest.mark.parametrize("status", [None, "unscan", "scanning", "waiting", "failed"])
@pytest.mark.parametrize("level", [None, "Security", "High"])
def test_images_without_a_successful_scan_are_unrated(status, level):
    fields = ({} if status is None else {"scan_status": status}) | (
        {} if level is None else {"severity_level": level}
    )
    # never "safe" ...
    assert holds("eq", "Security", **fields) is False
    assert holds("lte", "Low", **fields) is False
    assert holds("lt", "Medium", **fields) is False
    assert holds("in", ["Security", "Low"], **fields) is False
    # ... and never rated either: a stale level does not count
    assert holds("gte", "High", **fields) is False
    assert holds("gt", "Security", **fields) is False
    # negations are exactly `not` of the above
    assert holds("ne", "Security", **fields) is True
    assert holds("not_in", ["Security", "Low"], **fields) is True


def test_a_level_that_is_not_one_of_the_four_is_a_load_error():
    problems: list = []
    node = ConditionReader(problems).read(
        {"field": "severity_level", "op": "gte", "value": "Critical"}, "/where"
    )
    assert node is None
    assert problems == [
        ("/where/value", 'got "Critical", expected one of Security, Low, Medium, High (ranked in that order)')
    ]
