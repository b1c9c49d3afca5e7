"""Silent misconfiguration (issue 14, point 6): what a run warns about although it "works".

No channel (``WEBHOOK_URL`` misspelt), a URL shaped like a platform's on a host that is not the
platform's (sent as generic JSON), the default enterprise project read alone, a variable set under a
name imagewatch does not read. Pure functions of the settings and channels: no server, no clock.
"""

from __future__ import annotations

import pytest

from imagewatch.alerts.routing import channels_for
from imagewatch.misconfiguration import (
    PLATFORM_PATHS,
    channel_warnings,
    enterprise_project_warnings,
    platform_lookalike,
    warnings_for,
)
from imagewatch.settings import CONTRACT, Settings, near_misses
from imagewatch.standins.chat import BEHAVIOURS

BASE = {"HSS_ENDPOINT": "http://127.0.0.1:9", "HSS_PROJECT_ID": "p", "HSS_AUTH_TOKEN": "t0ken-value"}
# Each platform's real webhook host, where its own module recognises it.
REAL_HOSTS = {
    "slack": "hooks.slack.com",
    "teams": "prod-00.westeurope.logic.azure.com",
    "feishu": "open.feishu.cn",
    "dingtalk": "oapi.dingtalk.com",
    "wecom": "qyapi.weixin.qq.com",
    "discord": "discord.com",
    "googlechat": "chat.googleapis.com",
}
# What a laptop, CI and Lambda set besides imagewatch's own variables: none is a misspelling.
FOREIGN = [
    "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_LAMBDA_RUNTIME_API", "AWS_EXECUTION_ENV",
    "AWS_XRAY_CONTEXT_MISSING", "AWS_LAMBDA_LOG_FORMAT", "AWS_LAMBDA_LOG_LEVEL", "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR", "_HANDLER", "_X_AMZN_TRACE_ID", "TZ", "LANG", "PATH", "LD_LIBRARY_PATH",
    "PYTHONPATH", "MALLOC_ARENA_MAX", "POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE",
    "POWERTOOLS_LOG_LEVEL", "POWERTOOLS_METRICS_DISABLED", "HOME", "USER", "SHELL", "TERM", "PWD", "OLDPWD",
    "LOGNAME", "HOSTNAME", "VIRTUAL_ENV", "EDITOR", "SSH_AUTH_SOCK", "XDG_RUNTIME_DIR", "DISPLAY",
    "LS_COLORS", "HTTPS_PROXY", "NO_PROXY", "CI", "GITHUB_ACTIONS", "GITHUB_WORKSPACE", "RUNNER_TEMP",
    "SECRET_MAX_AGE_S", "IMAGEWATCH_DEMO_DIR", "PYTEST_CURRENT_TEST", "COLUMNS", "NO_COLOR",
    "ONCALL_WEBHOOK_URL", "TEAM_SECRET", "SHELLOPTS",
]  # fmt: skip


def settings(**env: str) -> Settings:
    return Settings.from_env({**BASE, **env})


def channels(env: dict[str, str]) -> list:
    s = Settings.from_env({**BASE, **env})
    return channels_for(s.channels_file, s.webhook_url, s.webhook_secret, s.webhook_platform, {**BASE, **env})


# -- names set but not read --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "meant"),
    [
        ("WEBHOOK_ULR", "WEBHOOK_URL"),
        ("WEBHOOKURL", "WEBHOOK_URL"),
        ("webhook_url", "WEBHOOK_URL"),
        ("Webhook_Url", "WEBHOOK_URL"),
        ("CHANNEL_FILE", "CHANNELS_FILE"),
        ("HSS_ENTERPRISE_PROJECT", "HSS_ENTERPRISE_PROJECT_ID"),
        ("HSS_ENTREPRISE_PROJECT_ID", "HSS_ENTERPRISE_PROJECT_ID"),
        ("POLICIES_PATH", "POLICY_PATH"),
        ("STATE_TABLE_NAME", "STATE_TABLE"),
    ],
)
def test_a_misspelt_variable_is_taken_for_the_unset_one_it_resembles(name, meant):
    assert near_misses([name, *FOREIGN], CONTRACT, CONTRACT) == ((name, meant),)


def test_nothing_a_laptop_ci_or_lambda_sets_is_taken_for_a_misspelling():
    """Every optional variable unset, the widest net: still no stranger is taken (AWS_REGION is 0.7
    like HSS_REGION, under the 0.8 bar)."""
    assert near_misses(FOREIGN, CONTRACT, CONTRACT) == ()


def test_a_variable_that_is_set_is_not_looked_for():
    assert near_misses(["WEBHOOK_ULR", "WEBHOOK_URL"], CONTRACT, ["CHANNELS_FILE"]) == ()


def test_settings_keep_the_names_only_and_never_show_them_as_a_setting():
    s = settings(WEBHOOK_ULR="https://hooks.slack.com/services/T1/B1/s3cr3t-path")
    assert s.unread == (("WEBHOOK_ULR", "WEBHOOK_URL"),)
    assert "unread" not in s.redacted()
    assert "s3cr3t-path" not in repr(s) + str(s.redacted()) + str(s.unread)


# -- no channel ----------------------------------------------------------------------------------------


def test_no_channel_is_a_warning_and_a_misspelt_webhook_url_is_named():
    s = settings(WEBHOOK_ULR="https://hooks.slack.com/services/T1/B1/s3cr3t-path")
    [warning] = channel_warnings(s, [])
    assert warning == (
        "no channel configured: WEBHOOK_URL, CHANNELS_FILE and CHANNELS_JSON are unset, so this run"
        " notifies no one (violations are still recorded and reported); WEBHOOK_ULR is set but not read"
        " (did you mean 'WEBHOOK_URL'?)"
    )
    assert "s3cr3t" not in warning


def test_no_channel_without_a_near_miss_says_only_that():
    [warning] = channel_warnings(settings(), [])
    assert warning.startswith("no channel configured: ") and "did you mean" not in warning


def test_a_configured_channel_is_no_warning():
    env = {"WEBHOOK_URL": "https://hooks.slack.com/services/T1/B1/xyz"}
    assert channel_warnings(settings(**env), channels(env)) == []


# -- a platform's path on another host --------------------------------------------------------------------


@pytest.mark.parametrize("platform", sorted(REAL_HOSTS))
def test_a_platform_path_on_its_own_host_is_that_platform_and_elsewhere_a_warning(platform):
    """The stand-in serves each platform's path: on the platform's host the platform's module takes it
    (no warning); on loopback it is generic JSON, and the warning names the platform and the fix."""
    path = BEHAVIOURS[platform]().path("t0ken")
    real = {"WEBHOOK_URL": f"https://{REAL_HOSTS[platform]}{path}"}
    [channel] = channels(real)
    assert channel.platform_name == platform
    assert platform_lookalike(real["WEBHOOK_URL"])[0] == platform  # the table knows what the module knows
    assert channel_warnings(settings(**real), [channel]) == []

    loopback = {"WEBHOOK_URL": f"http://127.0.0.1:8099{path}"}
    [channel] = channels(loopback)
    assert channel.platform_name == "generic"
    [warning] = channel_warnings(settings(**loopback), [channel])
    assert f"set WEBHOOK_PLATFORM={platform} " in warning
    assert "t0ken" not in warning and "127.0.0.1" not in warning  # the URL is a secret, its host too


def test_the_warning_says_what_happened_and_how_to_say_what_was_meant():
    env = {"WEBHOOK_URL": "http://127.0.0.1:8099/services/T000/B000/t0ken"}
    assert channel_warnings(settings(**env), channels(env)) == [
        "channel 'default': its URL has Slack's webhook path but not Slack's host, so it is sent as"
        " generic JSON; if it leads to Slack (a proxy, a stand-in), set WEBHOOK_PLATFORM=slack"
        " (or WEBHOOK_PLATFORM=generic if generic JSON is meant)"
    ]


def test_a_platform_said_out_loud_or_a_plain_generic_webhook_is_no_warning():
    said = {"WEBHOOK_URL": "http://127.0.0.1:8099/services/T000/B000/t0ken", "WEBHOOK_PLATFORM": "generic"}
    assert channel_warnings(settings(**said), channels(said)) == []
    plain = {"WEBHOOK_URL": "https://alerts.example.com/hooks/imagewatch"}
    assert channel_warnings(settings(**plain), channels(plain)) == []


def test_a_channels_file_channel_is_told_to_name_its_platform(tmp_path):
    (tmp_path / "channels.json").write_text(
        '{"channels": [{"name": "oncall", "url": "${ONCALL_WEBHOOK_URL}"},'
        ' {"name": "chat", "url": "${CHAT_WEBHOOK_URL}", "platform": "feishu"}]}'
    )
    env = {
        "CHANNELS_FILE": str(tmp_path / "channels.json"),
        "ONCALL_WEBHOOK_URL": "http://127.0.0.1:8099/robot/send?access_token=t0ken",
        "CHAT_WEBHOOK_URL": "http://127.0.0.1:8099/open-apis/bot/v2/hook/t0ken",
    }
    [warning] = channel_warnings(settings(**env), channels(env))
    assert warning.startswith("channel 'oncall': its URL has DingTalk's webhook path")
    assert warning.endswith('give the channel "platform": "dingtalk"')


def test_every_platform_but_generic_has_a_path_shape():
    assert {platform for platform, _, _ in PLATFORM_PATHS} == set(REAL_HOSTS)


# -- enterprise projects, and everything together -------------------------------------------------------


def test_the_default_enterprise_project_alone_is_said_once_with_the_way_to_read_all():
    [warning] = enterprise_project_warnings(settings())
    assert "HSS_ENTERPRISE_PROJECT_ID=all_granted_eps" in warning
    assert enterprise_project_warnings(settings(HSS_ENTERPRISE_PROJECT_ID="all_granted_eps")) == []
    assert enterprise_project_warnings(settings(HSS_ENTERPRISE_PROJECT_ID="0")) == []  # chosen


def test_an_unread_variable_beside_a_working_setup_is_a_warning_of_its_own():
    env = {
        "WEBHOOK_URL": "https://hooks.slack.com/services/T1/B1/xyz",
        "HSS_ENTERPRISE_PROJECT": "all_granted_eps",
        "ONCALL_WEBHOOK_URL": "https://hooks.slack.com/services/T1/B2/abc",  # a channels-file reference
    }
    assert warnings_for(settings(**env), channels(env)) == [
        "HSS_ENTERPRISE_PROJECT is set but imagewatch reads no such variable"
        " (did you mean 'HSS_ENTERPRISE_PROJECT_ID'?)",
        *enterprise_project_warnings(settings()),
    ]


def test_a_well_configured_run_has_no_warning():
    env = {"WEBHOOK_URL": "https://hooks.slack.com/services/T1/B1/xyz", "HSS_ENTERPRISE_PROJECT_ID": "0"}
    assert warnings_for(settings(**env), channels(env)) == []
