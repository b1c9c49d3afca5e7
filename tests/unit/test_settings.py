"""Settings: the configuration contract, its errors, and that secrets never show."""

from __future__ import annotations

import pytest

from imagewatch.settings import Settings, SettingsError

BASE = {"HSS_PROJECT_ID": "p1", "HSS_REGION": "cn-north-4", "HSS_AK": "AKID", "HSS_SK": "SKSECRET"}


def test_region_derives_endpoints() -> None:
    settings = Settings.from_env(BASE)
    assert settings.hss_endpoint == "https://hss.cn-north-4.myhuaweicloud.com"
    assert settings.hss_iam_endpoint == "https://iam.cn-north-4.myhuaweicloud.com"
    assert settings.target == "cn-north-4/p1/0"
    eu = Settings.from_env({**BASE, "HSS_REGION": "eu-west-101"})
    assert eu.hss_endpoint == "https://hss.eu-west-101.myhuaweicloud.eu"


def test_endpoint_override_and_loopback_http_only() -> None:
    assert Settings.from_env({**BASE, "HSS_ENDPOINT": "http://127.0.0.1:8080"}).hss_endpoint.startswith(
        "http://"
    )
    with pytest.raises(SettingsError, match=r"HSS_ENDPOINT: got 'http://hss\.example\.com'"):
        Settings.from_env({**BASE, "HSS_ENDPOINT": "http://hss.example.com"})


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"HSS_REGION": "cn-north-4", "HSS_AK": "a", "HSS_SK": "b"}, "HSS_PROJECT_ID"),
        ({"HSS_PROJECT_ID": "p", "HSS_AK": "a", "HSS_SK": "b"}, "HSS_ENDPOINT"),
        ({**BASE, "HSS_REGION": "Not A Region"}, "HSS_REGION"),
        ({"HSS_PROJECT_ID": "p", "HSS_REGION": "cn-north-4", "HSS_AK": "a"}, "HSS_SK"),
        ({"HSS_PROJECT_ID": "p", "HSS_REGION": "cn-north-4"}, "HSS_AK"),
        ({"HSS_PROJECT_ID": "p", "HSS_REGION": "cn-north-4", "HSS_IAM_USER": "u"}, "HSS_IAM_PASSWORD"),
        ({**BASE, "WEBHOOK_URL": "http://chat.example.com/hook"}, "WEBHOOK_URL"),
    ],
)
def test_errors_name_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env)
    assert caught.value.variable == variable and str(caught.value).startswith(f"{variable}: ")


def test_secrets_stay_out_of_repr_errors_and_redacted() -> None:
    webhook = "https://hooks.slack.com/services/T1/B1/SECRETPART"
    settings = Settings.from_env({**BASE, "WEBHOOK_URL": webhook, "WEBHOOK_SECRET": "signkey"})
    shown = repr(settings) + str(settings.redacted())
    for secret in ("AKID", "SKSECRET", "SECRETPART", "signkey"):
        assert secret not in shown
    assert settings.redacted()["hss_sk"] == "(set)" and settings.redacted()["auth_mode"] == "aksk"
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({**BASE, "WEBHOOK_URL": "http://insecure.example/SECRETPART"})
    assert "SECRETPART" not in str(caught.value)


def test_auth_modes() -> None:
    token = Settings.from_env({"HSS_PROJECT_ID": "p", "HSS_REGION": "cn-north-4", "HSS_AUTH_TOKEN": "t"})
    assert token.auth_mode == "token"
    iam = {"HSS_IAM_USER": "u", "HSS_IAM_PASSWORD": "pw", "HSS_IAM_DOMAIN": "d"}
    assert (
        Settings.from_env({"HSS_PROJECT_ID": "p", "HSS_REGION": "cn-north-4", **iam}).auth_mode
        == "iam-password"
    )
    assert Settings.from_env({**BASE, "HSS_SECURITY_TOKEN": "x"}).auth_mode == "aksk-temporary"


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("LEDGER_TTL_DAYS", "0", "a whole number in 1..3650"),
        ("LEDGER_TTL_DAYS", "thirty", "a whole number in 1..3650"),
        ("REPORT_LINK_TTL_SECONDS", "604801", "a whole number in 0..604800"),
        ("HSS_MAX_IN_FLIGHT", "64", "a whole number in 1..32"),
        ("HSS_MAX_RPS", "fast", "a number in 0.1..1000"),
    ],
)
def test_numeric_settings_are_checked(variable: str, value: str, expected: str) -> None:
    with pytest.raises(SettingsError, match=f"{variable}: got '{value}', expected {expected}"):
        Settings.from_env({**BASE, variable: value})


def test_numeric_settings_defaults_and_values() -> None:
    default = Settings.from_env(BASE)
    assert (default.ledger_ttl_days, default.report_link_ttl_s, default.hss_max_in_flight) == (
        30,
        86_400,
        None,
    )
    tuned = Settings.from_env(
        {**BASE, "HSS_MAX_IN_FLIGHT": "16", "HSS_MAX_RPS": "2.5", "LEDGER_TTL_DAYS": "7"}
    )
    assert (tuned.hss_max_in_flight, tuned.hss_max_rps, tuned.ledger_ttl_days) == (16, 2.5, 7)
