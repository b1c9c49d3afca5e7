"""Hostile webhook answers in a real run: one channel's broken answer never stops the next channel.

Review row 3: 60 KB of ``[`` as a webhook answer raised ``RecursionError`` out of delivery; the run
died with no summary or report and the channels after the broken one were never sent — every run.
"""

from __future__ import annotations

import pytest

from imagewatch.standins.webhook_sink import WebhookSink
from support.fault_harness import HOUR, FakeTime, Harness

from .conftest import PLANTED
from .test_chat_faults import NEW_EXPECTED, alerts, outcome, use_channels

HOSTILE_ANSWERS = {
    "brackets": b"[" * 60_000,  # RecursionError in json.loads
    "deep": b'{"code":' * 40 + b"0" + b"}" * 40,  # decodes, nested past any sane answer
    "not utf-8": b'{"code": 0, "msg": "\xff\xfe\xfd"',
}


@pytest.mark.parametrize("answer", sorted(HOSTILE_ANSWERS))
@pytest.mark.parametrize("platform", ["feishu", "dingtalk", "wecom", "discord", "googlechat", "teams"])
def test_a_hostile_answer_fails_its_channel_and_the_next_channel_still_gets_its_digest(
    harness: Harness,
    sink: WebhookSink,
    fake_time: FakeTime,
    monkeypatch: pytest.MonkeyPatch,
    platform: str,
    answer: str,
) -> None:
    """Row 3: the broken channel fails (and is owed everything next run); the run finishes with its
    summary and report, and the channel after it is told once."""
    status = 200 if platform in ("feishu", "dingtalk", "wecom", "googlechat") else 400
    with WebhookSink(platform, clock=fake_time.wall) as broken:
        broken.fail_next(1, status, HOSTILE_ANSWERS[answer], {"Content-Type": "application/json"})
        use_channels(
            monkeypatch,
            [
                {"name": "broken", "url": "${BROKEN_URL}", "platform": platform},
                {"name": "ops", "url": "${OPS_URL}", "secret": "${OPS_SECRET}"},
            ],
            BROKEN_URL=broken.url,
            OPS_URL=sink.url,
            OPS_SECRET=PLANTED["WEBHOOK_SECRET"],
        )
        first = harness.invoke()
        assert first.error is None and first.summary is not None, first.error
        failed = outcome(first, "broken")
        assert (failed["ok"], failed["attempts"]) == (False, 1), failed
        assert broken.url not in failed["detail"]
        assert outcome(first, "ops")["ok"] and len(sink.received) == 1
        assert first.summary["report"]["json"]
        harness.clock.advance(HOUR)
        second = harness.invoke()
        assert [c["channel"] for c in second.summary["notifications"]["channels"]] == ["broken"]
        assert outcome(second, "broken")["ok"] and len(broken.received) == 1
    assert len(sink.received) == 1 and alerts(sink) == NEW_EXPECTED
