"""The platform registry, the interface every module keeps, and the shared fitting helper."""

from __future__ import annotations

import pytest

from imagewatch.alerts.channels import PLATFORMS, feishu, generic, platform_for, slack
from imagewatch.alerts.channels.common import fit_payload, size
from imagewatch.alerts.digest import Fitted
from support.digests import big_digest

INTERVALS = {
    "slack": 1.0,
    "teams": 1.0,
    "feishu": 0.6,
    "lark": 0.6,
    "dingtalk": 3.0,
    "wecom": 3.0,
    "discord": 2.0,
    "googlechat": 1.0,
    "generic": 0.0,
}


def test_registry_names_and_paces() -> None:
    assert set(PLATFORMS) == set(INTERVALS)
    assert {name: module.MIN_INTERVAL_S for name, module in PLATFORMS.items()} == INTERVALS
    for name, module in PLATFORMS.items():
        assert ("feishu" if name == "lark" else name) == module.NAME
        for function in ("matches", "render", "prepare", "judge", "to_text"):
            assert callable(getattr(module, function)), f"{name}.{function}"


@pytest.mark.parametrize("name", sorted(INTERVALS))
def test_explicit_names_win_and_are_case_insensitive(name: str) -> None:
    assert platform_for("https://hooks.slack.com/services/T/B/X", name.upper()) is PLATFORMS[name]


def test_unknown_name_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError) as raised:
        platform_for("https://x.example", "telegram")
    assert str(raised.value) == (
        "platform: got 'telegram', expected one of "
        "dingtalk, discord, feishu, generic, googlechat, lark, slack, teams, wecom"
    )


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://hooks.slack.com/services/T000/B000/XXXX", slack),
        ("https://hooks.slack.com/workflows/T000/A000/123/abc", generic),  # a different payload shape
        ("https://example.test/hook", generic),
        ("not a url", generic),
    ],
)
def test_slack_and_generic_recognition(url: str, expected: object) -> None:
    assert platform_for(url) is expected
    assert generic.matches(url) is False


@pytest.mark.parametrize("name", sorted(INTERVALS))
def test_every_platform_previews_as_text_with_the_header(name: str) -> None:
    text = PLATFORMS[name].to_text(PLATFORMS[name].render(big_digest(30)))
    assert "imagewatch compliance: " in text and "\u2060" not in text


def test_fit_payload_corrects_an_underestimate_by_bisection() -> None:
    items = big_digest(200).items

    def build(fitted: Fitted) -> dict:
        return {"items": [item.message for item in fitted.shown], "more": fitted.more_line()}

    payload = fit_payload(items, build, size, 5_000, cost=lambda item: 1, max_items=200)
    shown = len(payload["items"])
    assert size(payload) <= 5_000 < size(build(Fitted(items[: shown + 1], items[shown + 1 :])))


def test_feishu_fixed_parts_leave_room_for_the_signature() -> None:
    payload = feishu.render(big_digest())
    assert size(payload) <= feishu.MAX_BODY_BYTES - feishu.SIGN_RESERVE_BYTES
