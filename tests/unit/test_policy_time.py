"""Durations, instants and exemption expiries."""

import pytest

from imagewatch.policy.durations import parse_duration
from imagewatch.policy.errors import BadValue
from imagewatch.policy.instants import format_ms, parse_expiry, parse_instant

DAY = 86_400_000
NOV_1 = 1_793_491_200_000  # 2026-11-01T00:00:00Z


@pytest.mark.parametrize(
    ("text", "ms"),
    [("30s", 30_000), ("90m", 5_400_000), ("36h", 129_600_000), ("7d", 7 * DAY), ("2w", 14 * DAY)],
)
def test_durations(text, ms):
    assert parse_duration(text) == ms


@pytest.mark.parametrize(
    "text", ["7", "7 d", "7days", "0d", "-1d", "1.5h", "d", "", 7, None, "99999999d", "7D"]
)
def test_bad_durations(text):
    with pytest.raises(BadValue) as caught:
        parse_duration(text)
    assert "expected a duration" in caught.value.message


@pytest.mark.parametrize(
    ("value", "ms"),
    [
        (NOV_1, NOV_1),
        ("2026-11-01", NOV_1),
        ("2026-11-01T00:00:00Z", NOV_1),
        ("2026-11-01T08:00:00+08:00", NOV_1),
        ("2026-11-01T00:00:00.250Z", NOV_1 + 250),
    ],
)
def test_instants(value, ms):
    assert parse_instant(value) == ms


def test_an_instant_needs_a_timezone():
    with pytest.raises(BadValue) as caught:
        parse_instant("2026-11-01T00:00:00")
    assert caught.value.message.endswith("(this one has no timezone)")


@pytest.mark.parametrize("value", ["2026-13-01", "yesterday", True, 1.5, -1, None])
def test_bad_instants(value):
    with pytest.raises(BadValue):
        parse_instant(value)


def test_a_date_expiry_lasts_through_the_end_of_that_day_utc():
    assert parse_expiry("2026-10-31") == NOV_1
    assert parse_expiry("2026-10-31T12:00:00Z") == NOV_1 - 12 * 3_600_000
    assert parse_expiry("never") is None


@pytest.mark.parametrize("value", ["Never", "2026-02-30", "2026-10-31T12:00:00", None, 1_793_491_200_000])
def test_bad_expiries(value):
    with pytest.raises(BadValue) as caught:
        parse_expiry(value)
    assert "expected a date 'YYYY-MM-DD'" in caught.value.message


def test_format_ms():
    assert format_ms(NOV_1 + 1_500) == "2026-11-01T00:00:01Z"
    assert format_ms(0) == "never"
    assert format_ms(None) == "?"
