"""No secret value — AK, SK, security token, IAM password, IAM tokens, webhook URLs and their tokens,
signing secrets — in logs, metrics, reports, summaries, exception text or chat messages, whatever
faults a run meets. Every value below is planted: unique, so a match is a leak."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from imagewatch.emulator import Emulator, Fleet
from imagewatch.standins.webhook_sink import WebhookSink
from support.fault_harness import FakeTime, Harness, captured_output, leaks, route_to_sinks, strings

from .conftest import PLANTED, WEBHOOK_TOKEN

TOKENS = {  # the secret part of each channel's webhook URL
    "feishu": "feishu-hook-planted-0c9f2b7e-1d4a",
    "dingtalk": "dingtalkaccesstokenplanted7d3e9a1b",
    "slack": "slackhookplantedXk29Lm4N",
    "googlechat": "gchat-token-planted-Wq81",
}


@pytest.fixture
def channels(
    harness: Harness, sink: WebhookSink, fake_time: FakeTime, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, WebhookSink]]:
    """Five channels, each URL carrying a planted token, three of them signed with the planted secret."""
    sinks = {"generic": sink}
    for platform, token in TOKENS.items():
        signed = platform in ("feishu", "dingtalk")
        secret = PLANTED["WEBHOOK_SECRET"] if signed else None
        sinks[platform] = WebhookSink(platform, secret=secret, token=token, clock=fake_time.wall).start()
    route_to_sinks(monkeypatch, harness, sinks)
    yield sinks
    for name, running in sinks.items():
        if name != "generic":
            running.stop()


def everything_said(harness: Harness, output: dict[str, Any], reports: Path) -> str:
    """Every byte a run left anywhere a person or a log pipeline can read."""
    parts = [stream.getvalue() for stream in output.values()]
    for record in harness.records:
        parts.append(json.dumps(record.summary, default=str))
        if record.error is not None:
            parts += [str(record.error), repr(record.error), repr(record.error.__context__)]
    parts += [path.read_text(errors="replace") for path in reports.rglob("*") if path.is_file()]
    for running in harness.sinks.values():
        parts += [request.body.decode(errors="replace") for request in running.received]
        parts += [r.request.body.decode(errors="replace") for r in running.rejections]
    return "\n".join(parts)


def test_no_secret_appears_anywhere_whatever_the_faults(
    harness: Harness,
    channels: dict[str, WebhookSink],
    hss: Emulator,
    fleet: Fleet,
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    issued: list[str] = []
    real_issue = hss.auth.issue

    def issue(lifetime_s: float | None = None) -> tuple[str, float]:
        token, expires = real_issue(lifetime_s)
        issued.append(token)
        return token, expires

    monkeypatch.setattr(hss.auth, "issue", issue)
    events = {
        name: json.loads((Path(__file__).parents[2] / "events" / f"{name}.json").read_text())
        for name in ("scheduled", "dry-run", "test-notification", "resend-open")
    }
    with captured_output() as output:
        harness.invoke(events["scheduled"])  # AK/SK with a security token: everything new
        channels["feishu"].fail_next(
            3,
            200,
            json.dumps(
                {"code": 19001, "msg": f"bad token {TOKENS['feishu']} for {channels['feishu'].url}"}
            ).encode(),
        )
        channels["slack"].fail_next(3, 503, f"upstream {channels['slack'].url} down".encode())
        channels["dingtalk"].remove()
        fleet.delete(["b@h1"])
        harness.invoke(events["scheduled"])  # resolved; three channels refuse, two echoing their URL
        hss.faults.error(500, times=2)
        harness.invoke(events["scheduled"])  # RunFailedError
        harness.store_faults.arm("save_after_send")
        harness.invoke(events["scheduled"])  # the crash between sent and recorded
        for name in ("HSS_AK", "HSS_SK", "HSS_SECURITY_TOKEN"):
            monkeypatch.delenv(name)
        monkeypatch.setenv("HSS_IAM_USER", "faults-user")
        monkeypatch.setenv("HSS_IAM_DOMAIN", "faults-domain")
        monkeypatch.setenv("HSS_IAM_PASSWORD", "wrong-password-planted-Zx4c")
        harness.invoke(events["scheduled"])  # IAM refuses the password: the run fails
        monkeypatch.setenv("HSS_IAM_PASSWORD", PLANTED["HSS_IAM_PASSWORD"])
        hss.faults.expire_token_after(1)
        harness.invoke(events["scheduled"])  # IAM token, expired mid-run, refreshed
        for name in ("dry-run", "test-notification", "resend-open"):
            harness.invoke(events[name])
    said = everything_said(harness, output, Path(env["REPORT_DIR"]))
    # the haystack really holds what it should: metrics, logs, reports, refusals, failures, messages
    assert '"_aws"' in said and "run finished" in said and "run failed" in said
    assert "feishu code 19001 bad token <webhook> for <webhook>" in said
    assert "HSS answered HTTP 500" in said and "The username or password is wrong." in said
    assert len(issued) >= 2 and sum(len(s.received) for s in channels.values()) >= 10
    secrets = [*PLANTED.values(), "wrong-password-planted-Zx4c", WEBHOOK_TOKEN, *TOKENS.values(), *issued]
    secrets += [running.url for running in channels.values()]
    assert leaks(said, secrets) == []


ECHOES = {  # refusals that quote the request back, in each platform's own shape
    "slack": (404, lambda url, token: f"no_service {url}".encode()),
    "teams": (
        404,
        lambda url, token: json.dumps({"error": {"code": f"NotFound{token}", "message": url}}).encode(),
    ),
    "feishu": (200, lambda url, token: json.dumps({"code": 19001, "msg": f"token {token} invalid"}).encode()),
    "dingtalk": (
        200,
        lambda url, token: json.dumps({"errcode": 300001, "errmsg": f"token {token} is not exist"}).encode(),
    ),
    "wecom": (
        200,
        lambda url, token: json.dumps({"errcode": 93000, "errmsg": f"invalid webhook url {url}"}).encode(),
    ),
    "discord": (
        404,
        lambda url, token: json.dumps({"message": f"Unknown Webhook {url}", "code": 10015}).encode(),
    ),
    "googlechat": (404, lambda url, token: json.dumps({"error": {"status": f"NOT_FOUND {token}"}}).encode()),
    "generic": (400, lambda url, token: f"bad request to {url.replace('/', chr(92) + '/')}".encode()),
}


@pytest.mark.parametrize("platform", sorted(ECHOES))
def test_a_refusal_that_echoes_the_webhook_url_or_token_never_carries_it_on(
    harness: Harness, fake_time: FakeTime, monkeypatch: pytest.MonkeyPatch, platform: str
) -> None:
    token = f"echoed-{platform}-token-planted-7Hq2"
    with WebhookSink(platform, token=token, clock=fake_time.wall) as echoing, captured_output() as output:
        status, body = ECHOES[platform]
        echoing.fail_next(1, status, body(echoing.url, token), {"Content-Type": "application/json"})
        monkeypatch.setenv("WEBHOOK_URL", echoing.url)
        monkeypatch.setenv("WEBHOOK_PLATFORM", platform)
        monkeypatch.delenv("WEBHOOK_SECRET")
        record = harness.invoke()
    [outcome] = record.summary["notifications"]["channels"]
    assert not outcome["ok"]
    if platform not in ("discord", "generic"):  # these two name the code, never the answer's text
        assert "<webhook>" in outcome["detail"], outcome["detail"]
    said = "\n".join([stream.getvalue() for stream in output.values()] + [json.dumps(record.summary)])
    assert leaks(said, [token, echoing.url]) == []
    assert not any(token[:6] in text for text in strings(record.summary))  # not even a clipped prefix
