"""Chat faults at the edge of a real run: each platform's "too fast", 5xx, timeouts, permanent refusals,
and a channel down for several runs — counted on what the stand-ins accepted.

Invariant: every alert a channel is due reaches it exactly once, as soon as the channel accepts; a
healthy channel is never told twice because another one failed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from imagewatch.emulator import Emulator, Fleet
from imagewatch.standins.webhook_sink import WebhookSink
from support.fault_harness import HOUR, FakeTime, Harness, fingerprint, strings
from support.known_fleet import EXPECTED
from support.loopback_servers import BlackHole, refused_url

from .conftest import PLANTED

NEW_EXPECTED = {("new", policy, fingerprint(policy, subject)) for policy, subject in EXPECTED}
CRITICAL = {pair for pair in EXPECTED if pair[0] == "malicious-files"}
SIGNING = {"generic", "feishu", "lark", "dingtalk"}


def alerts(sink: WebhookSink, index: int = -1) -> set[tuple[str, str, str]]:
    return {(a["kind"], a["policy_id"], a["fingerprint"]) for a in sink.received[index].json()["alerts"]}


def outcome(record, channel: str = "default") -> dict:
    [found] = [c for c in record.summary["notifications"]["channels"] if c["channel"] == channel]
    return found


def saying(sink: WebhookSink, text: str) -> int:
    """How many accepted messages have ``text`` in one of their strings, whatever the platform's shape."""
    return sum(any(text in s for s in strings(r.json())) for r in sink.received)


@pytest.fixture
def platform_sink(request: pytest.FixtureRequest, fake_time: FakeTime) -> Iterator[WebhookSink]:
    platform = request.param
    secret = PLANTED["WEBHOOK_SECRET"] if platform in SIGNING else None
    with WebhookSink(platform, secret=secret, clock=fake_time.wall) as running:
        yield running


@pytest.fixture
def one_platform(
    harness: Harness, platform_sink: WebhookSink, monkeypatch: pytest.MonkeyPatch
) -> tuple[Harness, WebhookSink]:
    monkeypatch.setenv("WEBHOOK_URL", platform_sink.url)
    monkeypatch.setenv("WEBHOOK_PLATFORM", platform_sink.platform)
    harness.sinks = {"default": platform_sink}
    return harness, platform_sink


def use_channels(monkeypatch: pytest.MonkeyPatch, channels: list[dict], **urls: str) -> None:
    """CHANNELS_JSON with ${NAME} references; the URLs live in their own settings."""
    monkeypatch.delenv("WEBHOOK_URL")
    monkeypatch.delenv("WEBHOOK_SECRET")
    monkeypatch.setenv("CHANNELS_JSON", json.dumps({"channels": channels}))
    for name, url in urls.items():
        monkeypatch.setenv(name, url)


# -- throttled: retried within the run, or left for the next ----------------------------------------


def test_a_429_is_retried_after_its_retry_after(harness: Harness, sink: WebhookSink) -> None:
    sink.throttle_next(2, retry_after=4)
    first = harness.invoke()
    assert outcome(first) == {
        "channel": "default",
        "platform": "generic",
        "ok": True,
        "attempts": 3,
        "detail": "delivered",
        "alerts": {"new": len(EXPECTED)},
    }
    assert harness.fake.sleeps == [4.0, 4.0]
    assert sink.attempts == 3 and len(sink.received) == 1 and alerts(sink) == NEW_EXPECTED
    assert harness.invoke().summary["notifications"]["sent"] == 0 and len(sink.received) == 1


@pytest.mark.parametrize(
    ("platform_sink", "waited"),
    [
        ("slack", 2.0),
        ("teams", 2.0),
        ("discord", 2.0),
        ("googlechat", 1.0),
        ("feishu", 1.0),
        ("generic", 2.0),
    ],
    indirect=["platform_sink"],
)
def test_too_fast_answers_are_retried_within_the_run(
    one_platform: tuple[Harness, WebhookSink], waited: float
) -> None:
    harness, sink = one_platform
    sink.throttle_next(1, retry_after=2.0)
    first = harness.invoke()
    assert (outcome(first)["ok"], outcome(first)["attempts"]) == (True, 2)
    assert waited in harness.fake.sleeps  # the advice, else the module's pause (Feishu 11232, Google 429)
    assert len(sink.received) == 1 and saying(sink, f"imagewatch compliance: {len(EXPECTED)} new") == 1
    assert harness.invoke().summary["notifications"]["sent"] == 0 and sink.attempts == 2


@pytest.mark.parametrize(
    ("platform_sink", "code"), [("dingtalk", "130101"), ("wecom", "45009")], indirect=["platform_sink"]
)
def test_minute_long_throttles_are_left_for_the_next_run(
    one_platform: tuple[Harness, WebhookSink], code: str
) -> None:
    harness, sink = one_platform
    sink.throttle_next(1)
    first = harness.invoke()
    result = outcome(first)
    assert (result["ok"], result["attempts"]) == (False, 1)
    assert code in result["detail"] and result["detail"].endswith("asked to wait 60 s: left for the next run")
    assert sink.received == [] and 60.0 not in harness.fake.sleeps  # nobody sat out the minute
    harness.clock.advance(HOUR)
    second = harness.invoke()
    assert (outcome(second)["ok"], outcome(second)["alerts"]) == (True, {"new": len(EXPECTED)})
    assert harness.invoke().summary["notifications"]["sent"] == 0
    assert len(sink.received) == 1 and saying(sink, f"imagewatch compliance: {len(EXPECTED)} new") == 1


# -- server errors, timeouts -----------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_retried_within_the_run(harness: Harness, sink: WebhookSink, status: int) -> None:
    sink.fail_next(2, status, b"upstream trouble")
    result = outcome(harness.invoke())
    assert (result["ok"], result["attempts"]) == (True, 3) and len(harness.fake.sleeps) == 2
    assert alerts(sink) == NEW_EXPECTED and len(sink.received) == 1
    assert harness.invoke().summary["notifications"]["sent"] == 0 and sink.attempts == 3


def test_a_channel_failing_every_attempt_of_a_run_gets_everything_next_run(
    harness: Harness, sink: WebhookSink
) -> None:
    sink.fail_next(3, 503)
    failed = outcome(harness.invoke())
    assert (failed["ok"], failed["attempts"], failed["detail"]) == (False, 3, "HTTP 503")
    assert sink.received == [] and len(harness.fake.sleeps) == 2
    retried = harness.invoke()
    assert outcome(retried)["ok"] and alerts(sink) == NEW_EXPECTED
    assert harness.invoke().summary["notifications"]["sent"] == 0 and len(sink.received) == 1


def test_a_webhook_that_times_out_is_retried_then_left_for_the_next_run(
    harness: Harness, sink: WebhookSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness.delivery_timeout = httpx.Timeout(connect=2.0, read=0.2, write=2.0, pool=2.0)
    with BlackHole() as hole:
        use_channels(
            monkeypatch,
            [
                {"name": "ops", "url": "${OPS_URL}", "secret": "${OPS_SECRET}"},
                {"name": "slow", "url": "${SLOW_URL}"},
            ],
            OPS_URL=sink.url,
            OPS_SECRET=PLANTED["WEBHOOK_SECRET"],
            SLOW_URL=hole.url(),
        )
        first = harness.invoke()
        assert hole.connections == 3
    slow = outcome(first, "slow")
    assert (slow["ok"], slow["attempts"], slow["detail"]) == (False, 3, "timeout (ReadTimeout)")
    assert outcome(first, "ops")["ok"] and len(sink.received) == 1  # the healthy channel is not held up
    with WebhookSink("generic", clock=harness.fake.wall) as back:
        monkeypatch.setenv("SLOW_URL", back.url)
        second = harness.invoke()
        assert [c["channel"] for c in second.summary["notifications"]["channels"]] == ["slow"]
        assert alerts(back) == NEW_EXPECTED and len(back.received) == 1
    assert len(sink.received) == 1  # ops was told once


# -- permanent refusals: not retried within the run, still due next run -----------------------------

REMOVED = {  # the platform's own refusal of a deleted webhook, as the outcome names it
    "generic": "HTTP 410",
    "slack": "HTTP 404 no_service",
    "teams": "teams HTTP 404 WorkflowNotFound",
    "feishu": "feishu code 19001 param invalid: incoming webhook access token invalid",
    "dingtalk": "dingtalk errcode 300001 token is not exist",
    "wecom": "wecom errcode 93000 invalid webhook url",
    "discord": "discord HTTP 404 code 10015 unknown webhook (deleted)",
    "googlechat": "googlechat HTTP 404 NOT_FOUND",
}


@pytest.mark.parametrize("platform_sink", sorted(REMOVED), indirect=True)
def test_a_deleted_webhook_is_not_retried_in_the_run_and_gets_everything_once_it_is_replaced(
    one_platform: tuple[Harness, WebhookSink], monkeypatch: pytest.MonkeyPatch
) -> None:
    harness, sink = one_platform
    sink.remove()
    for _ in range(2):  # refused every run, once a run, and still due
        result = outcome(harness.invoke())
        assert (result["ok"], result["attempts"]) == (False, 1)
        assert result["detail"] == REMOVED[sink.platform]
        assert sink.url not in result["detail"]
        harness.clock.advance(HOUR)
    secret = PLANTED["WEBHOOK_SECRET"] if sink.platform in SIGNING else None
    with WebhookSink(sink.platform, secret=secret, clock=harness.fake.wall) as replaced:
        monkeypatch.setenv("WEBHOOK_URL", replaced.url)
        harness.sinks["default"] = replaced
        assert outcome(harness.invoke())["ok"]
        assert harness.invoke().summary["notifications"]["sent"] == 0
        assert len(replaced.received) == 1
        assert saying(replaced, f"imagewatch compliance: {len(EXPECTED)} new") == 1
    assert sink.attempts == 2 and sink.received == []


@pytest.mark.parametrize("platform", ["generic", "feishu", "dingtalk"])
def test_a_wrong_signing_secret_is_a_permanent_refusal(
    harness: Harness, fake_time: FakeTime, monkeypatch: pytest.MonkeyPatch, platform: str
) -> None:
    with WebhookSink(platform, secret="the-secret-the-platform-has", clock=fake_time.wall) as strict:
        monkeypatch.setenv("WEBHOOK_URL", strict.url)
        monkeypatch.setenv("WEBHOOK_PLATFORM", platform)
        result = outcome(harness.invoke())
        assert (result["ok"], result["attempts"]) == (False, 1)
        assert strict.rejected_signatures == 1 and strict.received == []
        assert PLANTED["WEBHOOK_SECRET"] not in json.dumps(harness.records[-1].summary)


# -- a channel down for several runs, then back ------------------------------------------------------


def test_a_channel_down_for_several_runs_gets_exactly_what_it_missed_once_it_is_back(
    harness: Harness, sink: WebhookSink, fleet: Fleet, hss: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    with WebhookSink("generic", clock=harness.fake.wall) as oncall:
        channels = [
            {"name": "ops", "url": "${OPS_URL}", "secret": "${OPS_SECRET}"},
            {"name": "oncall", "url": "${ONCALL_URL}", "min_severity": "critical"},
        ]
        use_channels(
            monkeypatch,
            channels,
            OPS_URL=sink.url,
            OPS_SECRET=PLANTED["WEBHOOK_SECRET"],
            ONCALL_URL=oncall.url,
        )
        harness.invoke()
        assert alerts(sink) == NEW_EXPECTED
        new_critical = {("new", p, fingerprint(p, s)) for p, s in CRITICAL}
        assert alerts(oncall) == new_critical

        monkeypatch.setenv("ONCALL_URL", refused_url())  # oncall's webhook is unreachable for 3 runs
        fleet.delete(["b@h1"])  # ... while one critical violation clears
        for run in range(3):
            harness.clock.advance(HOUR)
            record = harness.invoke()
            down = outcome(record, "oncall")
            assert (down["ok"], down["attempts"]) == (False, 3) and down["detail"].startswith("ConnectError")
            assert record.summary["resolved"] == (1 if run == 0 else 0)
        gone = fingerprint("malicious-files", "b")
        assert alerts(sink) == {("resolved", "malicious-files", gone)} and len(sink.received) == 2

        monkeypatch.setenv("ONCALL_URL", oncall.url)
        harness.clock.advance(HOUR)
        back = harness.invoke()
        assert [c["channel"] for c in back.summary["notifications"]["channels"]] == ["oncall"]
        assert alerts(oncall) == {("resolved", "malicious-files", gone)}
        harness.clock.advance(HOUR)
        assert harness.invoke().summary["notifications"]["sent"] == 0
        assert len(oncall.received) == 2 and len(sink.received) == 2  # new, resolved — each once


def flapping(harness: Harness, sink: WebhookSink, fleet: Fleet, monkeypatch: pytest.MonkeyPatch,
             oncall: WebhookSink, flips: int) -> str:  # fmt: skip
    """Both channels told b@h1 (critical) is new; then oncall is down while b@h1 is fixed and broken
    again ``flips`` times, one run each; returns the fingerprint."""
    channels = [
        {"name": "ops", "url": "${OPS_URL}", "secret": "${OPS_SECRET}"},
        {"name": "oncall", "url": "${ONCALL_URL}", "min_severity": "critical"},
    ]
    use_channels(
        monkeypatch, channels, OPS_URL=sink.url, OPS_SECRET=PLANTED["WEBHOOK_SECRET"], ONCALL_URL=oncall.url
    )
    harness.invoke()
    record = fleet.find("b@h1").record
    monkeypatch.setenv("ONCALL_URL", refused_url())
    for flip in range(flips):
        if flip % 2 == 0:
            fleet.delete(["b@h1"])
        else:
            fleet.insert([record])
        harness.clock.advance(HOUR)
        assert not outcome(harness.invoke(), "oncall")["ok"]
    monkeypatch.setenv("ONCALL_URL", oncall.url)
    harness.clock.advance(HOUR)
    harness.invoke()
    return fingerprint("malicious-files", "b")


def kinds_of(sink: WebhookSink, fp: str) -> list[str]:
    return [a["kind"] for r in sink.received for a in r.json()["alerts"] if a["fingerprint"] == fp]


def test_a_channel_down_while_a_violation_clears_returns_and_clears_again_is_told_it_resolved(
    harness: Harness, sink: WebhookSink, fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    with WebhookSink("generic", clock=harness.fake.wall) as oncall:
        fp = flapping(harness, sink, fleet, monkeypatch, oncall, flips=3)  # gone, back, gone
        assert kinds_of(sink, fp) == ["new", "resolved", "new", "resolved"]
        assert kinds_of(oncall, fp) == ["new", "resolved"]  # its view ends where the truth is
        harness.clock.advance(HOUR)
        assert harness.invoke().summary["notifications"]["sent"] == 0


def test_a_channel_down_while_a_violation_clears_and_returns_hears_it_new_again(
    harness: Harness, sink: WebhookSink, fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The documented collapse (docs/faults.md): it missed "resolved", it gets the new episode's "new"
    — never a "resolved" for something open — and one "resolved" when the new episode ends."""
    with WebhookSink("generic", clock=harness.fake.wall) as oncall:
        fp = flapping(harness, sink, fleet, monkeypatch, oncall, flips=2)  # gone, back
        assert kinds_of(sink, fp) == ["new", "resolved", "new"]
        assert kinds_of(oncall, fp) == ["new", "new"]
        fleet.delete(["b@h1"])
        harness.clock.advance(HOUR)
        harness.invoke()
        assert kinds_of(oncall, fp) == ["new", "new", "resolved"] and kinds_of(sink, fp)[-1] == "resolved"
