"""Every platform module against its loopback stand-in, through the real ``Deliverer``.

The stand-ins keep their own copy of each platform's limits, keyword filter and signature scheme, so
"accepted" here means the rendered digest fits what the platform documents — and the oversize tests
show the stand-in would have refused it had the renderer's own limit been wrong. Nothing sleeps: the
Deliverer gets a recording ``sleep``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from imagewatch.alerts.channels import PLATFORMS, generic, platform_for
from imagewatch.alerts.delivery import MAX_IN_RUN_WAIT_S, Channel, Deliverer, Outcome
from imagewatch.alerts.digest import HEADER
from imagewatch.alerts.ledger import ChannelRule
from imagewatch.retry import RetryPolicy
from imagewatch.standins.webhook_sink import WebhookSink
from support.digests import big_digest, wordy_digest

ALL = sorted(PLATFORMS)  # slack teams feishu lark dingtalk wecom discord googlechat generic
SIGNED = {"feishu", "lark", "dingtalk", "generic"}
SECRET = "SEC-stand-in-secret"
# The delay each platform advises when told "too fast" with retry_after=2.5: a Retry-After header
# (whole seconds, so 3), Discord's JSON float, or the module's own pause for codes that name none.
ADVISED = {
    "slack": 3.0,
    "teams": 3.0,
    "generic": 3.0,
    "discord": 2.5,
    "feishu": 1.0,
    "lark": 1.0,
    "dingtalk": 60.0,
    "wecom": 60.0,
    "googlechat": 1.0,
}
THROTTLE_CODE = {"feishu": "11232", "lark": "11232", "dingtalk": "130101", "wecom": "45009"}
DELETED = {
    "slack": "HTTP 404 no_service",
    "teams": "teams HTTP 404 WorkflowNotFound",
    "feishu": "feishu code 19001",
    "lark": "feishu code 19001",
    "dingtalk": "dingtalk errcode 300001",
    "wecom": "wecom errcode 93000",
    "discord": "discord HTTP 404 code 10015",
    "googlechat": "googlechat HTTP 404 NOT_FOUND",
    "generic": "HTTP 410",
}
BAD_SIGNATURE = {
    "feishu": "feishu code 19021",
    "lark": "feishu code 19021",
    "dingtalk": "dingtalk errcode 310000 sign not match",
    "generic": "HTTP 401",
}
KEYWORD_MISSING = {
    "feishu": "feishu code 19024 Key Words Not Found",
    "dingtalk": "dingtalk errcode 310000 keywords",
}
# Loosen the renderer's own limit; the stand-in must then refuse, the platform's way.
OVERSIZE = {
    "slack": ({"MAX_BLOCKS": 120}, "HTTP 400 invalid_blocks"),
    "teams": ({"MAX_BODY_BYTES": 10**6, "MAX_ITEMS": 500}, "teams HTTP 413 RequestEntityTooLarge"),
    "feishu": ({"MAX_BODY_BYTES": 10**6, "MAX_ELEMENTS": 500}, "feishu code 9499"),
    "dingtalk": ({"MAX_BODY_BYTES": 10**6}, "dingtalk errcode 460101"),
    "wecom": ({"MAX_CONTENT_BYTES": 10**6}, "wecom errcode 40058"),
    "discord": ({"TOTAL_EMBED_CHARS": 10**6}, "discord HTTP 400 code 50035"),
    "googlechat": ({"MAX_BODY_BYTES": 10**6, "MAX_WIDGETS": 500}, "googlechat HTTP 400 INVALID_ARGUMENT"),
}
REAL_HOSTS = {
    "slack": "https://hooks.slack.com",
    "teams": "https://prod-1.westeurope.logic.azure.com",
    "feishu": "https://open.feishu.cn",
    "lark": "https://open.larksuite.com",
    "dingtalk": "https://oapi.dingtalk.com",
    "wecom": "https://qyapi.weixin.qq.com",
    "discord": "https://discord.com",
    "googlechat": "https://chat.googleapis.com",
}


class Recorder:
    """A Deliverer whose ``sleep`` records the delay and moves a fake clock instead of waiting."""

    def __init__(self) -> None:
        self.slept: list[float] = []
        self.now = time.time()
        self.deliverer = Deliverer(
            retry=RetryPolicy(max_attempts=3, base_s=1.0, cap_s=10.0, throttle_floor_s=1.0),
            sleep=self.sleep,
            clock=lambda: self.now,
        )

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def send(
        self, name: str, sink: WebhookSink, secret: str | None = None, payload: dict | None = None
    ) -> Outcome:
        module = platform_for(sink.url, name)
        channel = Channel("chat", module, sink.url, ChannelRule("chat"), secret)
        return self.deliverer.send(channel, payload if payload is not None else module.render(big_digest()))


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    made = Recorder()
    yield made
    made.deliverer.close()


def sink_for(name: str, **options: object) -> WebhookSink:
    keywords = (HEADER,) if name in ("feishu", "lark", "dingtalk") else ()
    secret = SECRET if name in SIGNED else None
    return WebhookSink(name, **{"secret": secret, "keywords": keywords, **options})  # type: ignore[arg-type]


def assert_no_secret(outcome: Outcome, sink: WebhookSink) -> None:
    assert (
        sink.url not in outcome.detail and sink.token not in outcome.detail and SECRET not in outcome.detail
    )


DIGESTS = {"mixed": big_digest, "long names": wordy_digest, "multibyte": lambda: wordy_digest(multibyte=True)}


@pytest.mark.parametrize("kind", sorted(DIGESTS))
@pytest.mark.parametrize("name", ALL)
def test_a_500_violation_digest_is_accepted_first_time(name: str, kind: str, recorder: Recorder) -> None:
    payload = PLATFORMS[name].render(DIGESTS[kind]())
    with sink_for(name) as sink:
        outcome = recorder.send(name, sink, SECRET if name in SIGNED else None, payload)
    assert (outcome.ok, outcome.attempts, outcome.detail) == (True, 1, "delivered")
    assert len(sink.received) == 1 and sink.rejections == [] and recorder.slept == []
    assert HEADER in sink.received[0].body.decode()


IN_RUN = [name for name in ALL if ADVISED[name] <= MAX_IN_RUN_WAIT_S]
DEFERRED = [name for name in ALL if ADVISED[name] > MAX_IN_RUN_WAIT_S]


@pytest.mark.parametrize("name", IN_RUN)
def test_too_fast_is_retried_after_the_advised_delay(name: str, recorder: Recorder) -> None:
    with sink_for(name) as sink:
        sink.throttle_next(1, retry_after=2.5)
        outcome = recorder.send(name, sink, SECRET if name in SIGNED else None)
    assert (outcome.ok, outcome.attempts) == (True, 2)
    assert recorder.slept == [ADVISED[name]]
    assert sink.attempts == 2 and len(sink.received) == 1


@pytest.mark.parametrize("name", DEFERRED)
def test_a_long_advised_wait_is_left_for_the_next_run(name: str, recorder: Recorder) -> None:
    with sink_for(name) as sink:
        sink.throttle_next(1)
        outcome = recorder.send(name, sink, SECRET if name in SIGNED else None)
    assert (outcome.ok, outcome.attempts) == (False, 1) and recorder.slept == []
    assert THROTTLE_CODE[name] in outcome.detail and "left for the next run" in outcome.detail
    assert_no_secret(outcome, sink)


@pytest.mark.parametrize("name", sorted(THROTTLE_CODE))
def test_too_fast_every_time_gives_up_naming_the_code(name: str, recorder: Recorder) -> None:
    with sink_for(name) as sink:
        sink.throttle_next(5)
        outcome = recorder.send(name, sink, SECRET)
    attempts = 3 if name in IN_RUN else 1
    assert (outcome.ok, outcome.attempts) == (False, attempts)
    assert THROTTLE_CODE[name] in outcome.detail and len(recorder.slept) == attempts - 1
    assert_no_secret(outcome, sink)


@pytest.mark.parametrize("name", ALL)
def test_posts_to_one_webhook_are_paced_to_the_platform_rate(name: str, recorder: Recorder) -> None:
    interval = platform_for("https://x.invalid/", name).MIN_INTERVAL_S
    with sink_for(name) as sink:
        assert recorder.send(name, sink, SECRET if name in SIGNED else None).ok
        assert recorder.send(name, sink, SECRET if name in SIGNED else None).ok
    assert recorder.slept == pytest.approx([interval] if interval else [])


@pytest.mark.parametrize("name", ALL)
def test_a_deleted_webhook_is_not_retried(name: str, recorder: Recorder) -> None:
    with sink_for(name) as sink:
        sink.remove()
        outcome = recorder.send(name, sink, SECRET if name in SIGNED else None)
    assert (outcome.ok, outcome.attempts) == (False, 1) and recorder.slept == []
    assert outcome.detail.startswith(DELETED[name]), outcome.detail
    assert_no_secret(outcome, sink)
    assert [r.reason for r in sink.rejections] == ["removed"]


@pytest.mark.parametrize("name", sorted(BAD_SIGNATURE))
@pytest.mark.parametrize("secret", ["wrong-secret", None])
def test_the_stand_in_checks_signatures(name: str, secret: str | None, recorder: Recorder) -> None:
    with sink_for(name) as sink:
        good = recorder.send(name, sink, SECRET)
        bad = recorder.send(name, sink, secret)
    assert good.ok and len(sink.received) == 1
    assert (bad.ok, bad.attempts) == (False, 1) and bad.detail.startswith(BAD_SIGNATURE[name])
    interval = platform_for("https://x.invalid/", name).MIN_INTERVAL_S
    assert sink.rejected_signatures == 1 and recorder.slept == pytest.approx([interval] if interval else [])
    assert_no_secret(bad, sink)


@pytest.mark.parametrize("name", sorted(KEYWORD_MISSING))
def test_a_keyword_filter_without_our_header_refuses_for_good(name: str, recorder: Recorder) -> None:
    with sink_for(name, keywords=("deploy finished",)) as sink:
        outcome = recorder.send(name, sink, SECRET)
    assert (outcome.ok, outcome.attempts) == (False, 1)
    assert outcome.detail.startswith(KEYWORD_MISSING[name]), outcome.detail
    assert [r.reason for r in sink.rejections] == ["payload"]


@pytest.mark.parametrize("name", sorted(OVERSIZE))
def test_the_stand_in_refuses_what_exceeds_the_platform_limit(
    name: str, recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    loosened, expected = OVERSIZE[name]
    module = PLATFORMS[name]
    for constant, value in loosened.items():
        monkeypatch.setattr(module, constant, value)
    with sink_for(name) as sink:
        outcome = recorder.send(name, sink, SECRET if name in SIGNED else None)
    assert (outcome.ok, outcome.attempts) == (False, 1), "the stand-in accepted an oversized payload"
    assert outcome.detail.startswith(expected), outcome.detail
    assert sink.received == []


@pytest.mark.parametrize("name", sorted(REAL_HOSTS))
def test_stand_in_urls_have_the_platform_shape(name: str) -> None:
    with WebhookSink(name) as sink:
        parts = urlsplit(sink.url)
        assert parts.hostname == "127.0.0.1"
        assert platform_for(sink.url) is generic  # a loopback host needs the explicit name
        assert platform_for(sink.url, name) is PLATFORMS[name]
        as_real = REAL_HOSTS[name] + sink.url.split(f":{parts.port}", 1)[1]
        assert platform_for(as_real) is PLATFORMS[name], as_real


def test_unknown_platform_names_are_refused_with_the_valid_ones() -> None:
    with pytest.raises(
        ValueError, match="expected one of dingtalk, discord, feishu, generic, googlechat, lark"
    ):
        platform_for("https://example.test/hook", "msteams")
    with pytest.raises(ValueError, match="no platform 'msteams'"):
        WebhookSink("msteams")


def test_discord_wait_true_answers_200_with_the_message(recorder: Recorder) -> None:
    with WebhookSink("discord") as sink:
        module = platform_for(sink.url, "discord")
        channel = Channel("chat", module, sink.url + "?wait=true", ChannelRule("chat"))
        outcome = recorder.deliverer.send(channel, module.render(big_digest(3)))
    assert outcome.ok and sink.received[0].query == {"wait": "true"}


def test_google_chat_thread_key_reaches_the_stand_in(recorder: Recorder) -> None:
    with WebhookSink("googlechat") as sink:
        module = platform_for(sink.url, "googlechat")
        channel = Channel("chat", module, sink.url + "&threadKey=imagewatch-prod", ChannelRule("chat"))
        outcome = recorder.deliverer.send(channel, module.render(big_digest(3)))
    assert outcome.ok
    assert sink.received[0].json()["thread"] == {"threadKey": "imagewatch-prod"}
    assert sink.received[0].query["messageReplyOption"] == "REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD"
