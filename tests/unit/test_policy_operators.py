"""Every operator, true and false, including absent (None) and empty fields."""

import pytest

from imagewatch.hss.model import Image
from imagewatch.policy.compile import compile_condition
from imagewatch.policy.conditions import ConditionReader
from imagewatch.policy.operators import OPERATORS

NOW = 1_793_491_200_000  # 2026-11-01T00:00:00Z
DAY = 86_400_000


def holds(condition: dict, now: int = NOW, **fields) -> bool:
    problems: list = []
    node = ConditionReader(problems).read(condition, "/where")
    assert problems == []
    assert node is not None
    return compile_condition(node).bind(now)(Image(**fields))


def leaf(field: str, op: str, value=None) -> dict:
    return {"field": field, "op": op, **({} if value is None else {"value": value})}


CASES = [
    # eq / ne
    (leaf("image_name", "eq", "nginx"), {"image_name": "nginx"}, True),
    (leaf("image_name", "eq", "nginx"), {"image_name": "nginx-alpine"}, False),
    (leaf("image_name", "eq", "nginx"), {}, False),
    (leaf("vul_num", "eq", 0), {"vul_num": 0}, True),
    (leaf("vul_num", "eq", 0), {}, False),
    (leaf("latest_scan_time", "eq", 0), {"latest_scan_time": 0}, True),
    (leaf("latest_scan_time", "eq", "2026-11-01T00:00:00Z"), {"latest_scan_time": NOW}, True),
    (leaf("latest_scan_time", "eq", "2026-11-01"), {"latest_scan_time": NOW + 1}, False),
    (leaf("image_name", "ne", "nginx"), {"image_name": "redis"}, True),
    (leaf("image_name", "ne", "nginx"), {"image_name": "nginx"}, False),
    (leaf("image_name", "ne", "nginx"), {}, True),  # ne is exactly `not eq`
    # ordering
    (leaf("vul_num", "lt", 5), {"vul_num": 4}, True),
    (leaf("vul_num", "lt", 5), {"vul_num": 5}, False),
    (leaf("vul_num", "lt", 5), {}, False),
    (leaf("vul_num", "lte", 5), {"vul_num": 5}, True),
    (leaf("vul_num", "lte", 5), {"vul_num": 6}, False),
    (leaf("vul_num", "lte", 5), {}, False),
    (leaf("vul_num", "gt", 5), {"vul_num": 6}, True),
    (leaf("vul_num", "gt", 5), {"vul_num": 5}, False),
    (leaf("vul_num", "gt", 0), {}, False),
    (leaf("vul_num", "gte", 5), {"vul_num": 5}, True),
    (leaf("vul_num", "gte", 5), {"vul_num": 4}, False),
    (leaf("vul_num", "gte", 0), {}, False),
    (leaf("latest_update_time", "lt", "2026-01-01"), {"latest_update_time": 1_700_000_000_000}, True),
    (leaf("latest_update_time", "lt", "2026-01-01"), {"latest_update_time": NOW}, False),
    # membership
    (leaf("scan_status", "in", ["failed", "unscan"]), {"scan_status": "unscan"}, True),
    (leaf("scan_status", "in", ["failed", "unscan"]), {"scan_status": "success"}, False),
    (leaf("scan_status", "in", ["failed", "unscan"]), {}, False),
    (leaf("vul_num", "in", [1, 2]), {"vul_num": 2}, True),
    (leaf("scan_status", "not_in", ["success"]), {"scan_status": "failed"}, True),
    (leaf("scan_status", "not_in", ["success"]), {"scan_status": "success"}, False),
    (leaf("scan_status", "not_in", ["success"]), {}, True),  # not_in is exactly `not in`
    # strings
    (leaf("image_name", "contains", "ngin"), {"image_name": "library/nginx"}, True),
    (leaf("image_name", "contains", "NGIN"), {"image_name": "library/nginx"}, False),
    (leaf("image_name", "contains", "ngin"), {}, False),
    (leaf("image_name", "glob", "library/*"), {"image_name": "library/nginx"}, True),
    (leaf("image_name", "glob", "nginx"), {"image_name": "library/nginx"}, False),  # whole value
    (leaf("image_name", "glob", "Library/*"), {"image_name": "library/nginx"}, False),  # case-sensitive
    (leaf("image_version", "glob", "1.2?.[0-9]"), {"image_version": "1.25.3"}, True),
    (leaf("image_name", "glob", "*"), {}, False),
    (leaf("image_name", "regex", "ngi"), {"image_name": "library/nginx"}, True),  # search, not match
    (leaf("image_name", "regex", "^ngi"), {"image_name": "library/nginx"}, False),
    (leaf("image_name", "regex", "(?i)NGINX$"), {"image_name": "library/nginx"}, True),
    (leaf("image_name", "regex", ".*"), {}, False),
    # presence
    (leaf("scan_failed_desc", "exists"), {"scan_failed_desc": "huge_image"}, True),
    (leaf("scan_failed_desc", "exists"), {"scan_failed_desc": ""}, False),
    (leaf("scan_failed_desc", "exists"), {}, False),
    (leaf("vul_num", "exists"), {"vul_num": 0}, True),  # zero is a value
    (leaf("scan_failed_desc", "missing"), {}, True),
    (leaf("scan_failed_desc", "missing"), {"scan_failed_desc": ""}, True),
    (leaf("scan_failed_desc", "missing"), {"scan_failed_desc": "docker_offline"}, False),
    (leaf("vul_num", "missing"), {"vul_num": 0}, False),
    (leaf("severity_level", "missing"), {"scan_status": "success", "severity_level": ""}, True),  # raw value
    # time
    (leaf("latest_scan_time", "older_than", "7d"), {"latest_scan_time": NOW - 8 * DAY}, True),
    (leaf("latest_scan_time", "older_than", "7d"), {"latest_scan_time": NOW - 6 * DAY}, False),
    (leaf("latest_scan_time", "older_than", "7d"), {"latest_scan_time": NOW - 7 * DAY}, False),  # strictly
    (leaf("latest_scan_time", "older_than", "7d"), {"latest_scan_time": 0}, True),  # never
    (leaf("latest_scan_time", "older_than", "7d"), {}, True),
    (leaf("latest_scan_time", "older_than", "1s"), {"latest_scan_time": NOW + DAY}, False),  # future
    (leaf("latest_scan_time", "older_than", "90m"), {"latest_scan_time": NOW - 91 * 60_000}, True),
    (leaf("latest_scan_time", "older_than", "36h"), {"latest_scan_time": NOW - 35 * 3_600_000}, False),
    (leaf("latest_scan_time", "within", "7d"), {"latest_scan_time": NOW - 6 * DAY}, True),
    (leaf("latest_scan_time", "within", "7d"), {"latest_scan_time": NOW - 7 * DAY}, True),
    (leaf("latest_scan_time", "within", "7d"), {"latest_scan_time": NOW - 8 * DAY}, False),
    (leaf("latest_scan_time", "within", "7d"), {"latest_scan_time": 0}, False),
    (leaf("latest_scan_time", "within", "7d"), {}, False),
    (leaf("latest_scan_time", "within", "2w"), {"latest_scan_time": NOW - 13 * DAY}, True),
    (leaf("latest_scan_time", "within", "1s"), {"latest_scan_time": NOW + DAY}, True),  # clock skew
]


@pytest.mark.parametrize(("condition", "fields", "expected"), CASES)
def test_operator(condition, fields, expected):
    assert holds(condition, **fields) is expected


def test_every_operator_is_covered():
    assert {case[0]["op"] for case in CASES} == set(OPERATORS)


@pytest.mark.parametrize(
    ("condition", "fields", "expected"),
    [
        ({"all": [leaf("vul_num", "gt", 0), leaf("scan_status", "eq", "success")]}, {"vul_num": 1}, False),
        (
            {"all": [leaf("vul_num", "gt", 0), leaf("scan_status", "eq", "success")]},
            {"vul_num": 1, "scan_status": "success"},
            True,
        ),
        (
            {"any": [leaf("vul_num", "gt", 0), leaf("scan_status", "eq", "failed")]},
            {"scan_status": "failed"},
            True,
        ),
        ({"any": [leaf("vul_num", "gt", 0), leaf("scan_status", "eq", "failed")]}, {}, False),
        ({"not": leaf("vul_num", "gt", 0)}, {}, True),
        ({"not": {"not": leaf("vul_num", "gt", 0)}}, {"vul_num": 3}, True),
    ],
)
def test_groups(condition, fields, expected):
    assert holds(condition, **fields) is expected


@pytest.mark.parametrize("value", [None, "", "nginx", "redis"])
def test_ne_and_not_in_are_exact_negations(value):
    image = {} if value is None else {"image_name": value}
    assert holds(leaf("image_name", "ne", "nginx"), **image) is not holds(
        leaf("image_name", "eq", "nginx"), **image
    )
    assert holds(leaf("image_name", "not_in", ["nginx"]), **image) is not holds(
        leaf("image_name", "in", ["nginx"]), **image
    )
    assert holds(leaf("image_name", "missing"), **image) is not holds(leaf("image_name", "exists"), **image)


def test_compiled_once_binds_the_clock_per_run():
    problems: list = []
    node = ConditionReader(problems).read(leaf("latest_scan_time", "within", "1d"), "/where")
    compiled = compile_condition(node)
    image = Image(latest_scan_time=NOW)
    assert compiled.bind(NOW)(image) is True
    assert compiled.bind(NOW + 2 * DAY)(image) is False
    assert "_t0 = now - _k0" in compiled.source  # the cutoff is computed once per bind, not per image
