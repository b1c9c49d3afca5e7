"""CHANNELS_FILE: schema, ${VAR} references, routing rules, and errors that say where."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imagewatch.alerts.channels import generic, slack
from imagewatch.alerts.routing import ChannelsFileError, channels_for, load_channels
from imagewatch.settings import SettingsError

ENV = {"ONCALL_URL": "https://hooks.slack.com/services/T1/B1/SECRET1", "AUDIT_URL": "https://audit.example/hook",
       "AUDIT_SECRET": "k3y"}  # fmt: skip


def write(tmp_path: Path, document: object) -> Path:
    path = tmp_path / "channels.json"
    path.write_text(json.dumps(document))
    return path


def test_a_full_file_resolves_references_and_rules(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {
            "channels": [
                {"name": "oncall", "url": "${ONCALL_URL}", "min_severity": "high", "mentions": ["!here"],
                 "repeat_interval": "4h", "policies": ["high-*", "malicious-files"]},
                {"name": "audit", "url": "${AUDIT_URL}", "secret": "${AUDIT_SECRET}", "send_resolved": False,
                 "repeat_interval": None, "labels": {"team": "pay*"}},
            ]
        },
    )  # fmt: skip
    oncall, audit = load_channels(path, ENV)
    assert (oncall.name, oncall.platform, oncall.url, oncall.mentions) == (
        "oncall",
        slack,
        ENV["ONCALL_URL"],
        ("!here",),
    )
    assert oncall.rule.min_severity == "high" and oncall.rule.repeat_interval_ms == 4 * 3_600_000
    assert oncall.rule.policies == ("high-*", "malicious-files")
    assert (audit.platform, audit.secret, audit.rule.send_resolved) == (generic, "k3y", False)
    assert audit.rule.repeat_interval_ms is None and audit.rule.labels == (("team", "pay*"),)
    assert "SECRET1" not in repr(oncall) and "k3y" not in repr(audit)


def test_every_problem_is_reported_with_its_pointer_and_no_secret(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {
            "channels": [
                {"name": "a", "url": "${MISSING_URL}"},
                {"name": "a", "url": "http://insecure.example/${AUDIT_SECRET}"},
                {"name": "b", "url": "${AUDIT_URL}", "repeat_interval": "soon"},
            ]
        },
    )
    with pytest.raises(ChannelsFileError) as caught:
        load_channels(path, ENV)
    problems = caught.value.problems
    assert (
        "/channels/0/url: ${MISSING_URL} is not set (expected a setting or secret key named MISSING_URL)"
        in problems
    )
    assert "/channels/1/name: 'a' is used by another channel; names must be unique" in problems
    assert "/channels/1/url: expected an https:// URL (http:// only for 127.0.0.1/localhost)" in problems
    assert any(p.startswith('/channels/2/repeat_interval: got "soon", expected a duration') for p in problems)
    assert "k3y" not in str(caught.value) and str(path) in str(caught.value)


@pytest.mark.parametrize(
    ("document", "fragment"),
    [
        ({}, '/: missing required property "channels"'),
        ({"channels": []}, "/channels: got [], expected a list of at least 1 item(s)"),
        ({"channels": [{"name": "x"}]}, '/channels/0: missing required property "url"'),
        (
            {"channels": [{"name": "x", "url": "u", "platform": "slak"}]},
            '/channels/0/platform: got "slak", expected one of slack, teams, feishu, lark, dingtalk, wecom,'
            " discord, googlechat, generic (did you mean 'slack'?)",
        ),
        ({"channels": [{"name": "x", "url": "u", "min_severity": "urgent"}]}, "/channels/0/min_severity"),
        (
            {"channels": [{"name": "x", "url": "u", "colour": "red"}]},
            '/channels/0/colour: unexpected property "colour"; expected one of labels, mentions,',
        ),
    ],
)
def test_schema_errors(tmp_path: Path, document: object, fragment: str) -> None:
    with pytest.raises(ChannelsFileError, match=r"channels\.json") as caught:
        load_channels(write(tmp_path, document), ENV)
    assert fragment in str(caught.value)


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ChannelsFileError, match="cannot read it"):
        load_channels(tmp_path / "absent.json", ENV)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ChannelsFileError, match="not JSON"):
        load_channels(bad, ENV)


def test_webhook_url_alone_is_one_default_channel_with_default_rules() -> None:
    [channel] = channels_for(None, "https://hooks.slack.com/services/T/B/X", None, None, {})
    assert channel.name == "default" and channel.platform is slack
    assert channel.rule.send_resolved and channel.rule.repeat_interval_ms == 24 * 3_600_000
    assert channels_for(None, None, None, None, {}) == []
    with pytest.raises(SettingsError, match="WEBHOOK_PLATFORM"):
        channels_for(None, "https://example.test/hook", None, "icq", {})


def test_channels_json_setting_wins_and_is_checked_the_same_way() -> None:
    document = json.dumps({"channels": [{"name": "ops", "url": "${AUDIT_URL}"}]})
    [channel] = channels_for(
        None, "https://hooks.slack.com/services/T/B/X", None, None, {**ENV, "CHANNELS_JSON": document}
    )
    assert channel.name == "ops" and channel.platform is generic
    with pytest.raises(
        ChannelsFileError, match=r'^CHANNELS_JSON: /channels/0: missing required property "url"'
    ):
        channels_for(None, None, None, None, {"CHANNELS_JSON": json.dumps({"channels": [{"name": "x"}]})})


# -- issue 12 row 7: what a channels document may reference -------------------------------------------

RUNTIME = {
    "AWS_SESSION_TOKEN": "planted-session-token",
    "AWS_SECRET_ACCESS_KEY": "planted-aws-secret",
    "AWS_ACCESS_KEY_ID": "ASIAPLANTED",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://169.254.170.2/planted",
    "HSS_SK": "planted-hss-sk",
    "HSS_IAM_PASSWORD": "planted-iam-password",
    "HSS_AUTH_TOKEN": "planted-token",
    "_X_AMZN_TRACE_ID": "planted-trace",
    "LAMBDA_TASK_ROOT": "/var/task",
    "SETTINGS_SECRET": "arn:planted",
    "DATABASE_PASSWORD": "planted-db-password",
    "WEBHOOK_HOST_ALLOWLIST": "planted.example",
}


@pytest.mark.parametrize("name", sorted(RUNTIME))
@pytest.mark.parametrize("where", ["url", "secret", "mentions"])
def test_references_to_anything_but_channel_settings_are_refused(name: str, where: str) -> None:
    """Issue 12 row 7: CHANNELS_JSON with ${AWS_SESSION_TOKEN} in a URL and ${AWS_SECRET_ACCESS_KEY} in
    mentions sent both to the webhook. Only channel settings may be referenced; the error names the
    pointer and the variable, never the value."""
    channel: dict = {"name": "c", "url": "https://hooks.slack.com/services/T/B/X"}
    if where == "url":
        channel["url"] = "https://hooks.slack.com/services/T/B/${" + name + "}"
    elif where == "secret":
        channel["secret"] = "${" + name + "}"
    else:
        channel["mentions"] = ["!here", "${" + name + "}"]
    document = json.dumps({"channels": [channel]})
    with pytest.raises(ChannelsFileError) as caught:
        channels_for(None, None, None, None, {**ENV, **RUNTIME, "CHANNELS_JSON": document})
    [problem] = caught.value.problems
    assert problem.startswith(f"/channels/0/{where}: ${{{name}}} ")
    assert "expected a channel setting: WEBHOOK_*, CHANNEL_*, IMAGEWATCH_* or *_URL" in problem
    assert not [value for value in RUNTIME.values() if value in str(caught.value)]


def test_reserved_names_are_refused_even_when_unset_and_channel_settings_still_resolve() -> None:
    """Issue 12 row 7: a reference to AWS_* is refused whether or not it is set here (it is in Lambda);
    an unset name that is no channel setting says both; channel settings resolve as before."""
    document = {
        "channels": [{"name": "a", "url": "${AWS_SESSION_TOKEN}"}, {"name": "b", "url": "${OPS_HOOK}"}]
    }
    with pytest.raises(ChannelsFileError) as caught:
        channels_for(None, None, None, None, {"CHANNELS_JSON": json.dumps(document)})
    assert caught.value.problems[0].startswith("/channels/0/url: ${AWS_SESSION_TOKEN} may not be referenced")
    assert caught.value.problems[1].startswith(
        "/channels/1/url: ${OPS_HOOK} is not set (expected a setting or secret key named OPS_HOOK); "
        "OPS_HOOK is not a channel setting either"
    )
    env = {
        "WEBHOOK_URL": "https://hooks.slack.com/services/T/B/1",
        "CHANNEL_ONCALL": "https://hooks.slack.com/services/T/B/2",
        "IMAGEWATCH_TEAMS": "https://example.webhook.office.com/webhookb2/x",
        "PAYMENTS_WEBHOOK": "https://open.feishu.cn/open-apis/bot/v2/hook/x",
        "PAYMENTS_SECRET": "s3cret",
        "CHANNEL_ONCALL_MENTION": "U0123",
    }
    document = {
        "channels": [
            {"name": "a", "url": "${WEBHOOK_URL}"},
            {"name": "b", "url": "${CHANNEL_ONCALL}", "mentions": ["${CHANNEL_ONCALL_MENTION}"]},
            {"name": "c", "url": "${IMAGEWATCH_TEAMS}"},
            {"name": "d", "url": "${PAYMENTS_WEBHOOK}", "secret": "${PAYMENTS_SECRET}"},
        ]
    }
    channels = channels_for(None, None, None, None, {**env, "CHANNELS_JSON": json.dumps(document)})
    assert [c.url for c in channels] == [env[k] for k in ("WEBHOOK_URL", "CHANNEL_ONCALL", "IMAGEWATCH_TEAMS",
                                                          "PAYMENTS_WEBHOOK")]  # fmt: skip
    assert channels[1].mentions == ("U0123",) and channels[3].secret == "s3cret"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://user:PW-0000@hooks.slack.com/services/T/B/X", "no user:password@ in it"),
        ("https://169.254.169.254/latest", "a public host (private, link-local"),
        ("https://0x7f000001/hook", "numeric spellings such as 0x7f000001 are refused"),
        ("https://[::ffff:127.0.0.1]/hook", "an IPv6 address wrapping an IPv4 one is refused"),
        ("https://localhost./hook", "a host name without a trailing dot"),
        ("http://127.0.0.1:8080/hook", "loopback is allowed only when running locally"),
    ],
)
def test_channel_urls_say_why_they_are_refused_without_showing_them(url: str, expected: str) -> None:
    """Issue 12 rows 7 and 12: channel URLs get the same SSRF and credential checks as WEBHOOK_URL (in
    Lambda here), each problem saying what was expected and never quoting the URL."""
    document = json.dumps({"channels": [{"name": "c", "url": "${C_URL}"}]})
    env = {"C_URL": url, "AWS_LAMBDA_FUNCTION_NAME": "imagewatch-checker", "CHANNELS_JSON": document}
    with pytest.raises(ChannelsFileError) as caught:
        channels_for(None, None, None, None, env)
    [problem] = caught.value.problems
    assert problem.startswith("/channels/0/url: expected ") and expected in problem
    assert url not in str(caught.value) and "PW-0000" not in str(caught.value)
