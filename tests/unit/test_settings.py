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


# -- issue 12: hostile URLs in settings ------------------------------------------------------------------

LAMBDA = {"AWS_LAMBDA_FUNCTION_NAME": "imagewatch-checker"}  # what makes a run not local (Lambda sets it)
INTERNAL_WEBHOOKS = [
    "https://169.254.169.254/latest/meta-data/",  # the instance metadata service (link-local)
    "https://[fe80::1]/hook",
    "https://10.0.0.5/hook",  # private
    "https://192.168.1.1/hook",
    "https://172.16.0.1/hook",
    "https://100.64.0.1/hook",  # shared address space
    "https://0.0.0.0/hook",  # unspecified
    "https://[::]/hook",
    "https://224.0.0.1/hook",  # multicast
    "https://240.0.0.1/hook",  # reserved
    "https://0x7f000001/hook",  # numeric spellings of 127.0.0.1
    "https://2130706433/hook",
    "https://0177.0.0.1/hook",
    "https://127.1/hook",
    "https://0xa9.0xfe.0xa9.0xfe/hook",
    "https://[::ffff:127.0.0.1]/hook",  # IPv4 wrapped in IPv6
    "https://[::ffff:a9fe:a9fe]/hook",
    "https://[64:ff9b::a9fe:a9fe]/hook",  # NAT64 of the metadata service
    "https://[2002:a9fe:a9fe::1]/hook",  # 6to4 of the metadata service
    "https://[0:0:0:0:0:0:0:1]/hook",  # loopback, spelled out
    "https://localhost./hook",  # trailing dot
    "https://hooks.slack.com./services/T/B/X",
    "https://metadata/computeMetadata/v1/",  # single-label names resolve through search domains
    "https://metadata.google.internal/computeMetadata/v1/",
    "https://printer.local/hook",
]
LOOPBACK_WEBHOOKS = [
    "http://127.0.0.1:8080/hook",
    "https://127.0.0.1/hook",
    "https://localhost:8443/hook",
    "http://[::1]:9/hook",
    "https://chat.localhost/hook",
]


@pytest.mark.parametrize("url", INTERNAL_WEBHOOKS)
@pytest.mark.parametrize("mode", ["local", "lambda"])
def test_webhooks_to_internal_or_disguised_hosts_are_refused(url: str, mode: str) -> None:
    """Issue 12 row 7: check_url accepted https://169.254.169.254/, https://10.0.0.5/, https://0x7f000001/
    and other hosts a webhook must never reach (the metadata service, the VPC, disguised loopback)."""
    from imagewatch.alerts.routing import ChannelsFileError, parse_channels

    env = {**BASE, **(LAMBDA if mode == "lambda" else {})}
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({**env, "WEBHOOK_URL": url})
    assert str(caught.value).startswith("WEBHOOK_URL: got (set, hidden), expected a")
    with pytest.raises(ChannelsFileError) as listed:
        parse_channels(
            '{"channels": [{"name": "c", "url": "${C_URL}"}]}', "CHANNELS_JSON", {**env, "C_URL": url}
        )
    [problem] = listed.value.problems
    assert problem.startswith("/channels/0/url: expected a") and url not in problem


@pytest.mark.parametrize("url", LOOPBACK_WEBHOOKS)
def test_loopback_webhooks_are_allowed_locally_and_refused_in_lambda(url: str) -> None:
    """Issue 12 row 7: https://localhost:8443/ was accepted in Lambda too. Local mode (no
    AWS_LAMBDA_FUNCTION_NAME, as in the tests and the demo) keeps its loopback stand-ins."""
    assert Settings.from_env({**BASE, "WEBHOOK_URL": url}).webhook_url == url
    with pytest.raises(SettingsError, match=r"loopback is allowed only when running locally"):
        Settings.from_env({**BASE, **LAMBDA, "WEBHOOK_URL": url})


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.slack.com/services/T0/B0/x",
        "https://open.feishu.cn/open-apis/bot/v2/hook/x",
        "https://chat.example.com:8443/hook",
        "https://8.8.8.8/hook",
        "https://[2606:4700:4700::1111]/hook",
    ],
)
def test_public_webhooks_stay_accepted_in_lambda(url: str) -> None:
    """Issue 12 row 7, the other side: the SSRF rules refuse nothing a chat platform uses."""
    assert Settings.from_env({**BASE, **LAMBDA, "WEBHOOK_URL": url}).webhook_url == url


def test_the_operator_may_allow_an_internal_webhook_host() -> None:
    """Issue 12 row 7: internal hosts only when WEBHOOK_HOST_ALLOWLIST lists them (with the port, if
    given); a malformed list names the variable."""
    env = {**BASE, **LAMBDA, "WEBHOOK_HOST_ALLOWLIST": " 10.0.0.5 , chat.internal:8443,LOCALHOST"}
    for url in ("https://10.0.0.5/hook", "https://10.0.0.5:9443/hook", "https://chat.internal:8443/x",
                "http://localhost:8080/hook"):  # fmt: skip
        assert Settings.from_env({**env, "WEBHOOK_URL": url}).webhook_url == url
    for url in ("https://chat.internal/x", "https://10.0.0.6/hook", "http://10.0.0.5/hook"):
        with pytest.raises(SettingsError, match=r"^WEBHOOK_URL: got"):
            Settings.from_env({**env, "WEBHOOK_URL": url})
    for bad in ("https://10.0.0.5/", "user@10.0.0.5", "10.0.0.5:http", "a b"):
        with pytest.raises(
            SettingsError, match=r"^WEBHOOK_HOST_ALLOWLIST: got .* expected comma-separated hosts"
        ):
            Settings.from_env({**BASE, "WEBHOOK_HOST_ALLOWLIST": bad})
    with pytest.raises(SettingsError, match=r"^HSS_ENDPOINT_ALLOWLIST: got"):
        Settings.from_env({**BASE, "HSS_ENDPOINT_ALLOWLIST": "http://x.example"})


CREDENTIAL_URLS = [
    "http://admin:PW-0000@127.0.0.1:8080",
    "https://admin:PW-0000@hss.cn-north-4.myhuaweicloud.com",
    "https://:PW-0000@hss.example.com",
    "https://PW-0000@hss.example.com",
    "https://a:b@c:PW-0000@hss.example.com",
    "https://user:PW-0000@hss.example.com\\@hss.example.com",
]


@pytest.mark.parametrize("url", CREDENTIAL_URLS)
@pytest.mark.parametrize("variable", ["HSS_ENDPOINT", "HSS_IAM_ENDPOINT", "WEBHOOK_URL"])
def test_credentials_in_urls_are_refused_without_showing_them(variable: str, url: str) -> None:
    """Issue 12 row 12: HSS_ENDPOINT=http://admin:PW@… was accepted and the password reached chat, the
    ledger and the report path. Refused in every configured URL; the message never shows it."""
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({**BASE, variable: url})
    assert str(caught.value).startswith(f"{variable}: got ") and caught.value.variable == variable
    assert "PW-0000" not in str(caught.value)


def test_the_ledger_partition_names_an_endpoint_that_is_not_the_regions_own() -> None:
    """Issue 12 row 2: with HSS_REGION set, every endpoint shared the region's partition, so an answer
    from another endpoint resolved the region's violations. The region's own endpoint keeps today's
    key (existing ledgers are not re-alerted); any other is named; a region-less key never carries
    userinfo and stays as it was."""
    assert Settings.from_env(BASE).target == "cn-north-4/p1/0"
    for default in (
        "https://hss.cn-north-4.myhuaweicloud.com/",
        "https://HSS.cn-north-4.myhuaweicloud.com:443",
    ):
        assert Settings.from_env({**BASE, "HSS_ENDPOINT": default}).target == "cn-north-4/p1/0"
    eu = {**BASE, "HSS_REGION": "eu-west-101", "HSS_ENTERPRISE_PROJECT_ID": "all_granted_eps"}
    assert Settings.from_env(eu).target == "eu-west-101/p1/all_granted_eps"
    other = {**BASE, "HSS_ENDPOINT": "http://127.0.0.1:18041"}
    assert Settings.from_env(other).target == "cn-north-4@127.0.0.1:18041/p1/0"
    proxy = {**BASE, "HSS_ENDPOINT": "https://hss-proxy.corp.example/"}
    assert Settings.from_env(proxy).target == "cn-north-4@hss-proxy.corp.example/p1/0"
    neighbour = {**BASE, "HSS_ENDPOINT": "https://hss.cn-north-1.myhuaweicloud.com"}
    assert Settings.from_env(neighbour).target == "cn-north-4@hss.cn-north-1.myhuaweicloud.com/p1/0"
    regionless = {key: value for key, value in BASE.items() if key != "HSS_REGION"}
    assert Settings.from_env({**regionless, "HSS_ENDPOINT": "http://127.0.0.1:38117"}).target == (
        "127.0.0.1:38117/p1/0"
    )
    assert Settings.from_env({**regionless, "HSS_ENDPOINT": "http://[::1]:8443"}).target == "[::1]:8443/p1/0"


def test_iam_is_never_guessed_to_be_the_hss_host_of_a_known_region() -> None:
    """Issue 12 row 2: without HSS_REGION the IAM password went to the HSS endpoint. For a Huawei Cloud
    HSS endpoint its region's IAM is used; only an operator's own endpoint (the emulator) serves both."""
    iam = {"HSS_PROJECT_ID": "p", "HSS_IAM_USER": "u", "HSS_IAM_PASSWORD": "pw", "HSS_IAM_DOMAIN": "d"}
    huawei = Settings.from_env({**iam, "HSS_ENDPOINT": "https://hss.ap-southeast-1.myhuaweicloud.com"})
    assert huawei.hss_iam_endpoint == "https://iam.ap-southeast-1.myhuaweicloud.com"
    eu = Settings.from_env({**iam, "HSS_ENDPOINT": "https://hss.eu-west-101.myhuaweicloud.eu"})
    assert eu.hss_iam_endpoint == "https://iam.eu-west-101.myhuaweicloud.eu"
    emulator = Settings.from_env({**iam, "HSS_ENDPOINT": "http://127.0.0.1:18041"})
    assert emulator.hss_iam_endpoint == "http://127.0.0.1:18041"


@pytest.mark.parametrize("region", ["cn-north-4/evil", "cn-north-4.evil.example", "cn-" + "x" * 60])
def test_a_region_is_a_region_id_and_nothing_more(region: str) -> None:
    """Issue 12 row 2: the region becomes part of the endpoint's host name; `$` let a trailing newline
    through, and nothing bounded its length."""
    with pytest.raises(SettingsError, match=r"^HSS_REGION: got"):
        Settings.from_env({**BASE, "HSS_REGION": region})
